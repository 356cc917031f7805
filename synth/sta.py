"""OpenSTA on the mapped netlist: worst path, Fmax and ``report_power``.

The flow targets Debian's OpenSTA (``opensta``, 2019 snapshot, "2.0.17").  What that version does
with switching activity decides how to read its power figure:

* it has no VCD/SAIF reader; activity comes from ``set_power_activity``;
* only ``-global``, ``-input`` and ``-input_ports`` activities count; activity set on internal pins
  (``sta::set_power_pin_activity``) runs but does not change the result, and
  ``set_power_activity -pins`` is broken (it calls a missing ``get_pins_error``);
* from the input ports it *propagates* toggle probabilities through the logic, and register
  outputs get a default activity instead of what the registers really do.

So the power here uses the simulated per-input-port toggle rates, but the activity of every
register and internal net is OpenSTA's estimate.  :mod:`synth.toggle_energy` gives the
simulation-based figure beside it.
"""

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import SynthError
from .tools import find_tool, tool_version

__all__ = ["sta_binary", "sta_version", "Timing", "Power", "run_sta"]


def sta_binary():
    """The OpenSTA executable: $STA, else ``sta`` on PATH (Debian package ``opensta``)."""
    return find_tool("sta", "STA", "apt-get install opensta")


def sta_version():
    return tool_version(sta_binary(), "-version")


@dataclass
class Timing:
    """The path that limits the clock frequency (not always the one with the least slack, see below)."""

    period_ns: float
    slack_ns: float                 # of the limiting path, at ``period_ns``
    startpoint: str
    endpoint: str
    path_report: str
    min_period_ns: float            # the clock period at which the limiting path has zero slack
    fraction: float = 1.0           # of a clock period the limiting path has: 1, or 0.5 (half-cycle path)

    @property
    def fmax_mhz(self):
        """Clock frequency at which the limiting path has zero slack."""
        return 1000.0 / self.min_period_ns


@dataclass
class Power:
    """``report_power`` totals in watts."""

    internal_w: float
    switching_w: float
    leakage_w: float
    total_w: float
    sequential_w: float
    combinational_w: float


#: Paths (one per endpoint, per path group) whose scaling with the clock period is checked for Fmax.
TIMING_PATHS = 50


def _tcl_port(name):
    return "{" + name + "}"


def run_sta(netlist, liberty, top, clock_port, period_ns, output_load_pf, workdir, timing=True,
            input_activity=None):
    """Run OpenSTA once: the worst path (if ``timing``) and, if ``input_activity`` is given, power.

    ``input_activity`` maps input port bits (``"name[3]"`` or ``"name"``) to
    ``(toggles per clock cycle, fraction of time high)``.  Returns ``(Timing or None, Power or None)``.
    """
    workdir = Path(workdir)
    lines = [f"read_liberty {Path(liberty).resolve()}",
             f"read_verilog {Path(netlist).resolve()}",
             f"link_design {top}",
             f"create_clock -name clk -period {period_ns} [get_ports {clock_port}]",
             f"set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports {clock_port}]]",
             "set_output_delay 0 -clock clk [all_outputs]",
             f"set_load {output_load_pf} [all_outputs]"]
    if timing:
        # The worst path of up to TIMING_PATHS endpoints per path group: a half-cycle path (into or
        # out of a clock gate's falling-edge flip-flop) scales with half the period, so the path
        # with the least slack at this period need not be the one that limits Fmax.
        lines += ["puts \"@@timing\"", f"report_checks -path_delay max -digits 3 -group_count {TIMING_PATHS} "
                  "-endpoint_count 1", "puts \"@@end\""]
    if input_activity is not None:
        lines.append("set_power_activity -input -activity 0 -duty 0")
        # This OpenSTA reports NaN power when a port held at 1 has duty exactly 1 (seen on o__ready);
        # a duty a millionth away from either end changes nothing measurable.
        lines += [f"set_power_activity -input_ports [get_ports {_tcl_port(port)}] -activity {act:.6g} "
                  f"-duty {min(max(duty, 1e-6), 1 - 1e-6):.6g}" for port, (act, duty) in sorted(input_activity.items())]
        lines += ["puts \"@@power\"", "report_power -digits 6", "puts \"@@end\""]
    script = workdir / "sta.tcl"
    script.write_text("\n".join(lines) + "\n")
    run = subprocess.run([sta_binary(), "-no_splash", "-exit", str(script)], cwd=workdir,
                         capture_output=True, text=True)
    out = run.stdout + run.stderr
    (workdir / "sta.log").write_text(out)
    errors = [line for line in out.splitlines() if line.startswith("Error")]
    if run.returncode or errors:
        raise SynthError(f"OpenSTA failed (see {workdir / 'sta.log'}): {(errors or ['exit code %d' % run.returncode])[0]}")
    worst = _parse_timing(_section(out, "timing"), period_ns) if timing else None
    power = _parse_power(_section(out, "power")) if input_activity is not None else None
    return worst, power


def _section(text, name):
    match = re.search(rf"@@{name}\n(.*?)@@end", text, flags=re.S)
    if not match:
        raise SynthError(f"OpenSTA printed no {name} report")
    return match.group(1)


_EDGE = re.compile(r"^\s*(-?[\d.]+)\s+(-?[\d.]+)\s+clock \S+ \((rise|fall) edge\)", flags=re.M)
_SLACK = re.compile(r"^\s*(-?[\d.]+)\s+slack", flags=re.M)


def _parse_timing(text, period_ns):
    """The limiting path among OpenSTA's reported paths.

    A path launched at one clock edge and captured at another has ``span`` = capture - launch
    edge time (the period, or half of it for a path between a rising and a falling edge) and needs
    ``span - slack`` ns; at period T its span is ``T * span / period``, so it allows
    ``T >= (span - slack) * period / span``.  Fmax is set by the largest such T.
    """
    best = None
    for block in re.split(r"(?=^Startpoint:)", text, flags=re.M):
        edges, slack = _EDGE.findall(block), _SLACK.search(block)
        if not block.startswith("Startpoint:") or len(edges) < 2 or slack is None:
            continue
        launch, capture = float(edges[0][0]), float(edges[1][0])
        span = capture - launch if capture > launch else capture - launch + period_ns
        fraction = span / period_ns
        need = span - float(slack.group(1))
        period = need / fraction
        if best is None or period > best[0]:
            start, end = re.search(r"Startpoint:\s*(\S+)", block), re.search(r"Endpoint:\s*(\S+)", block)
            best = (period, float(slack.group(1)), start.group(1), end.group(1), block.strip(), fraction)
    if best is None:
        raise SynthError("OpenSTA found no constrained path (is the clock port right?)")
    period, slack, start, end, report, fraction = best
    return Timing(period_ns=period_ns, slack_ns=slack, startpoint=start, endpoint=end, path_report=report,
                  min_period_ns=period, fraction=round(fraction, 6))


def _parse_power(text):
    rows = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0] in ("Sequential", "Combinational", "Macro", "Pad", "Total"):
            rows[fields[0]] = [float(v) for v in fields[1:5]]
    if "Total" not in rows:
        raise SynthError("cannot read OpenSTA's report_power")
    internal, switching, leakage, total = rows["Total"]
    return Power(internal_w=internal, switching_w=switching, leakage_w=leakage, total_w=total,
                 sequential_w=rows.get("Sequential", [0, 0, 0, 0])[3],
                 combinational_w=rows.get("Combinational", [0, 0, 0, 0])[3])
