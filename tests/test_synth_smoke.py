"""Fast checks of the synthesis flow (synth/): Liberty reading, mapping, fanout repair, the gate-level
harness, the toggle-energy arithmetic against OpenSTA, the energy model's anchors, command-line errors.

Needs Debian's yosys and opensta (run.sh installs them); the OSU018 test fetches its Liberty with
apt-get and is skipped, saying why, where that is impossible.
"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from quant.toolchain import REPO_ROOT
from synth import energy_model
from synth.errors import SynthError
from synth.gatesim import SimulationRun, Stimulus, StreamPorts, build_simulator, simulate, write_gate_verilog
from synth.liberty import evaluate, parse_function, read_liberty
from synth.libraries import SKY130_AREA_LIB, osu018_liberty
from synth.netlist import Netlist
from synth.toggle_energy import toggle_energy
from synth.yosys import map_to_cells, write_netlists

needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="Debian yosys not installed (run.sh installs it)")
needs_sta = pytest.mark.skipif(shutil.which("sta") is None, reason="Debian opensta not installed (run.sh installs it)")

# A stream accumulator: every 4 input bytes, out comes their 16-bit sum.  Its enable and reset
# nets fan out to every accumulator bit, so fanout repair has work to do at a small limit.
TINY = """
module tiny(input clk, input rst, input i__valid, output i__ready, input [7:0] i__payload,
            output reg o__valid, input o__ready, output reg [15:0] o__payload);
  reg [15:0] acc;
  reg [1:0] n;
  assign i__ready = 1'b1;
  always @(posedge clk)
    if (rst) begin acc <= 0; n <= 0; o__valid <= 0; end
    else begin
      o__valid <= 0;
      if (i__valid) begin
        n <= n + 1;
        if (n == 3) begin o__payload <= acc + i__payload; o__valid <= 1; acc <= 0; end
        else acc <= acc + i__payload;
      end
    end
endmodule
"""
TINY_PORTS = [{"name": "clk", "direction": "input", "width": 1}, {"name": "rst", "direction": "input", "width": 1},
              {"name": "i__valid", "direction": "input", "width": 1}, {"name": "i__ready", "direction": "output", "width": 1},
              {"name": "i__payload", "direction": "input", "width": 8}, {"name": "o__valid", "direction": "output", "width": 1},
              {"name": "o__ready", "direction": "input", "width": 1}, {"name": "o__payload", "direction": "output", "width": 16}]


@pytest.fixture(scope="module")
def sky130():
    return read_liberty(SKY130_AREA_LIB)


def test_liberty_functions_follow_liberty_precedence():
    # ^ binds tighter than AND (juxtaposition), AND tighter than OR; ' and ! invert.
    tree = parse_function("A B+C^D'")
    for a in (0, 1):
        for b in (0, 1):
            for c in (0, 1):
                for d in (0, 1):
                    expected = (a & b) | (c ^ (1 - d))
                    assert evaluate(tree, {"A": a, "B": b, "C": c, "D": d}) & 1 == expected
    with pytest.raises(SynthError):
        parse_function("(A B")


def test_the_committed_sky130_area_library_reads_back(sky130):
    assert sky130.nand2.name == "sky130_fd_sc_hd__nand2_1" and sky130.nand2.area == pytest.approx(3.7536)
    assert sky130.buffer.name == "sky130_fd_sc_hd__buf_1"
    assert not sky130.has_timing and not sky130.has_power
    assert sky130.cells["sky130_fd_sc_hd__dfxtp_1"].is_sequential


def test_a_missing_liberty_is_a_one_line_error(tmp_path):
    with pytest.raises(SynthError, match="Liberty file not found"):
        read_liberty(tmp_path / "none.lib")


def _map_tiny(tmp_path, library, max_fanout):
    (tmp_path / "tiny.v").write_text(TINY)
    (record,), _ = map_to_cells([tmp_path / "tiny.v"], "tiny", [library.path], tmp_path)
    netlist = Netlist(record, library)
    before = netlist.module_areas()["tiny"]
    added = netlist.buffer_fanout(max_fanout)
    netlist.rename_cells()
    return netlist, before, added


@needs_yosys
def test_fanout_repair_bounds_every_net_and_adds_only_buffer_area(tmp_path, sky130):
    netlist, before, added = _map_tiny(tmp_path, sky130, max_fanout=4)
    after = netlist.module_areas()["tiny"]
    assert added > 0 and before.flops == after.flops == 16 + 2 + 1 + 16
    assert after.area == pytest.approx(before.area + added * sky130.buffer.area)
    loads = {}
    for cell in netlist.modules["tiny"]["cells"].values():
        for pin, bits in cell["connections"].items():
            if netlist.pin_direction(cell, pin) == "input" and pin != "CLK":
                for bit in bits:
                    loads[bit] = loads.get(bit, 0) + 1
    assert max(loads.values()) <= 4


def _simulate_gates(flat, library, top, tmp_path, seed):
    """Gate-level simulation of ``top`` on 64 random bytes streamed into ``i`` (16 outputs on ``o``).

    Returns ``(data, probed nets, run)``.
    """
    probed = write_gate_verilog(flat, library, top, tmp_path / "gates.v")
    data = np.random.default_rng(seed).integers(0, 256, size=64)
    stimulus = Stimulus(sources=[(StreamPorts.named("i"), data.astype(np.uint32)[:, None])],
                        sink=StreamPorts.named("o"), outputs=16)
    exe = build_simulator([tmp_path / "gates.v"], top, TINY_PORTS, stimulus, len(probed), tmp_path / "sim")
    return data, probed, simulate(exe, TINY_PORTS, stimulus, len(probed), tmp_path / "sim")


@needs_yosys
def test_gate_level_harness_computes_the_design_and_counts_input_toggles(tmp_path, sky130):
    netlist, _, _ = _map_tiny(tmp_path, sky130, max_fanout=16)
    _, flat = write_netlists(netlist.record, "tiny", sky130.path, tmp_path)
    data, probed, run = _simulate_gates(flat, sky130, "tiny", tmp_path, seed=7)
    assert run.outputs == [int(s) for s in data.reshape(16, 4).sum(axis=1)]
    position = {bit: i for i, bit in enumerate(probed)}
    payload_bits = flat["modules"]["tiny"]["ports"]["i__payload"]["bits"]
    for k, bit in enumerate(payload_bits):
        expected = int(np.count_nonzero(np.diff((data >> k) & 1)))
        assert run.rises[position[bit]] + run.falls[position[bit]] == expected


@needs_sta
def test_toggle_energy_matches_opensta_switching_and_shows_its_doubled_internal_power(tmp_path):
    """An inverter chain, where OpenSTA's propagated activity is exact: same switching power;
    Debian OpenSTA (2019) charges rise plus fall energy per transition, twice the Liberty meaning."""
    try:
        osu = read_liberty(osu018_liberty())
    except SynthError as err:
        pytest.skip(str(err))
    (tmp_path / "chain.v").write_text("module chain(input clk, input a, output y); wire n1, n2, n3;\n"
                                      "INVX1 i1(.A(a), .Y(n1)); INVX1 i2(.A(n1), .Y(n2));\n"
                                      "INVX1 i3(.A(n2), .Y(n3)); BUFX2 i4(.A(n3), .Y(y)); endmodule\n")
    subprocess.run(["yosys", "-q", "-p", f"read_liberty -lib {osu.path}; read_verilog chain.v; "
                    "hierarchy -top chain; write_json chain.json"], cwd=tmp_path, check=True)
    from synth.sta import run_sta
    _, power = run_sta(tmp_path / "chain.v", osu.path, "chain", "clk", 10.0, 0.01, tmp_path, timing=False,
                       input_activity={"a": (0.5, 0.5)})
    flat = json.loads((tmp_path / "chain.json").read_text())
    ports = flat["modules"]["chain"]["ports"]
    bits = sorted({b for c in flat["modules"]["chain"]["cells"].values() for v in c["connections"].values()
                   for b in v} - set(ports["clk"]["bits"]))
    cycles = 100_000
    run = SimulationRun(cycles=cycles, beats=0, outputs=[], rises=np.full(len(bits), cycles // 4),
                        falls=np.full(len(bits), cycles // 4), high_cycles=np.full(len(bits), cycles // 2))
    energy = toggle_energy(flat, osu, "chain", bits, run, 10e-9, 0.0, 0.01, {"": "chain"})
    seconds = cycles * 10e-9
    assert energy.switching_j / seconds == pytest.approx(power.switching_w, rel=1e-3)
    assert 1.6 < power.internal_w / (energy.internal_j / seconds) < 2.4


def test_energy_model_is_anchored_on_the_published_figures():
    assert energy_model.add_pj(8) == pytest.approx(0.03) and energy_model.add_pj(32) == pytest.approx(0.1)
    assert energy_model.multiply_pj(8, 8) == pytest.approx(0.2, rel=0.05)   # 3.1 * 64/1024 = 0.194
    assert energy_model.multiply_pj(32, 32) == pytest.approx(3.1)
    total, parts = energy_model.int8_element_pj(lanes=1, acc_width=28)
    assert total == pytest.approx(sum(parts.values())) and parts["multiply 8x8"] == 0.2


def _synth_cli(*args):
    return subprocess.run([sys.executable, "-m", "synth", *args], cwd=REPO_ROOT, capture_output=True, text=True)


def test_bad_inputs_give_one_line_errors(tmp_path):
    missing = _synth_cli("design", str(tmp_path / "manifest.json"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "manifest not found" in missing.stderr
    (tmp_path / "manifest.json").write_text(json.dumps({"top": "x"}))
    partial = _synth_cli("design", str(tmp_path / "manifest.json"))
    assert partial.returncode == 2 and "lacks the manifest key(s)" in partial.stderr
    bad_lib = _synth_cli("report", "--liberty", str(tmp_path / "nope.lib"), "--out", str(tmp_path / "out"))
    assert bad_lib.returncode == 2 and bad_lib.stderr.strip() == f"synth: error: LIBERTY file not found: {tmp_path / 'nope.lib'}"


@needs_yosys
def test_a_generated_pe_maps_to_a_users_library(tmp_path):
    """``python -m synth design`` on a real rtl_gen output with --liberty: area per role, no timing."""
    rtl = tmp_path / "rtl"
    gen = subprocess.run([sys.executable, "-m", "rtl_gen", "--pe-kind", "int8", "--top", "pe", "--pe-count", "1",
                          "--lanes", "1", "-o", str(rtl)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert gen.returncode == 0, gen.stderr
    done = _synth_cli("design", str(rtl / "manifest.json"), "--liberty", str(SKY130_AREA_LIB),
                      "--simulation", "none", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    user = record["libraries"]["user"]
    assert user["area_um2"] > 0 and user["modules"]["pe"]["area_um2"] == pytest.approx(user["area_um2"])
    assert user["timing"] is None and record["power"] is None


# A clock-gated register in the style of hw/clock_gate.py: the enable is sampled at the falling
# edge and ANDed with the clock.  acc loads only on beats with an odd payload and on every fourth
# beat (where it restarts); an ungated beat counter n and output register stay on clk.
GATED = """
module gated(input clk, input rst, input i__valid, output i__ready, input [7:0] i__payload,
             output reg o__valid, input o__ready, output reg [15:0] o__payload);
  reg en_q;
  wire gclk = clk & en_q;
  reg [15:0] acc;
  reg [1:0] n;
  wire odd = i__payload[0];
  assign i__ready = 1'b1;
  always @(negedge clk) en_q <= rst | (i__valid & (odd | n == 3));
  always @(posedge gclk)
    if (rst) acc <= 0;
    else acc <= (n == 3) ? 16'd0 : acc + i__payload;
  always @(posedge clk)
    if (rst) begin n <= 0; o__valid <= 0; end
    else begin
      o__valid <= 0;
      if (i__valid) begin
        n <= n + 1;
        if (n == 3) begin o__payload <= acc + (odd ? i__payload : 8'd0); o__valid <= 1; end
      end
    end
endmodule
"""


def _osu_or_skip():
    try:
        return read_liberty(osu018_liberty())
    except SynthError as err:
        pytest.skip(str(err))


@needs_yosys
def test_gated_clock_pulses_are_simulated_and_charged_per_pulse(tmp_path):
    """Gate-level simulation of a gated clock (rtl_gen --clock-gating style): correct results, and the
    once-a-cycle sample of the gated clock net reads 1 exactly in the cycles it pulses."""
    osu = _osu_or_skip()
    (tmp_path / "gated.v").write_text(GATED)
    (record,), _ = map_to_cells([tmp_path / "gated.v"], "gated", [osu.path], tmp_path)
    netlist = Netlist(record, osu)
    netlist.buffer_fanout(16)
    netlist.rename_cells()
    _, flat = write_netlists(netlist.record, "gated", osu.path, tmp_path)
    data, probed, run = _simulate_gates(flat, osu, "gated", tmp_path, seed=3)
    groups = data.reshape(16, 4)
    assert run.outputs == [int(np.sum(g[:3][g[:3] % 2 == 1]) + (g[3] if g[3] % 2 else 0)) for g in groups]
    gclk = flat["modules"]["gated"]["netnames"]["gclk"]["bits"][0]
    pulses = int(np.count_nonzero((data % 2 == 1) | (np.arange(64) % 4 == 3)))
    # The streaming window may also hold the cycles after the last beat (enable low): pulses only on beats.
    assert run.high_cycles[probed.index(gclk)] == pulses
    energy = toggle_energy(flat, osu, "gated", probed, run, 10e-9, 0.1, 0.01, {"": "gated"})
    assert energy.clock_j > 0


@needs_sta
def test_opensta_gives_gated_clock_pins_the_full_clock_activity_and_half_cycle_paths(tmp_path):
    """What Debian OpenSTA does with a gated clock (the report states it): the same sequential power
    whether the gate's enable is held at 0 or 1, and a half-cycle path into the enable flip-flop."""
    osu = _osu_or_skip()
    flops = "\n".join(f"  DFFPOSX1 f{i}(.CLK(gclk), .D(d[{i}]), .Q(q[{i}]));" for i in range(8))
    (tmp_path / "g.v").write_text("module g(clk, d, en, q);\n  input clk; input [7:0] d; input en; output [7:0] q;\n"
                                  "  wire e, gclk;\n  DFFNEGX1 ef(.CLK(clk), .D(en), .Q(e));\n"
                                  f"  AND2X2 ga(.A(clk), .B(e), .Y(gclk));\n{flops}\nendmodule\n")
    from synth.sta import run_sta
    results = []
    for duty in (0.0, 1.0):
        activity = {f"d[{i}]": (0.2, 0.5) for i in range(8)}
        activity["en"] = (0.0, duty)
        results.append(run_sta(tmp_path / "g.v", osu.path, "g", "clk", 10.0, 0.01, tmp_path, True, activity))
    (timing, off), (_, on) = results
    assert off.sequential_w == pytest.approx(on.sequential_w, rel=1e-6)
    assert off.combinational_w < on.combinational_w
    assert timing.endpoint == "ef" and timing.fraction == 0.5 and timing.fmax_mhz > 1000
