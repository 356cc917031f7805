"""Yosys steps of the flow: map RTL to library cells, then write the netlists STA and simulation read.

Step 1 (:func:`map_to_cells`): ``synth`` once (hierarchy kept, so every module is measured apart),
then per Liberty ``dfflibmap`` + ``abc`` against it, constants tied off, written as JSON.
Python then repairs fanout (:meth:`synth.netlist.Netlist.buffer_fanout`).
Step 2 (:func:`write_netlists`): the buffered JSON back into Yosys, out as a hierarchical Verilog
netlist (OpenSTA) and, when asked, a flattened JSON (gate-level simulation, toggle energy).
"""

import json
import re
import subprocess
from pathlib import Path

from .errors import SynthError
from .tools import find_tool, tool_version

__all__ = ["yosys_binary", "yosys_version", "map_to_cells", "write_netlists"]


def yosys_binary():
    """The Yosys executable: $YOSYS, else ``yosys`` on PATH (Debian package ``yosys``)."""
    return find_tool("yosys", "YOSYS", "apt-get install yosys")


def yosys_version():
    return tool_version(yosys_binary(), "-V")


def _run(script, workdir, name):
    """Run a Yosys script in ``workdir``; a failure raises with Yosys' own error line."""
    workdir = Path(workdir)
    (workdir / f"{name}.ys").write_text(script)
    log = workdir / f"{name}.log"
    run = subprocess.run([yosys_binary(), "-q", "-l", str(log), "-s", f"{name}.ys"], cwd=workdir,
                         capture_output=True, text=True)
    if run.returncode:
        lines = (run.stderr + run.stdout).strip().splitlines()
        errors = [line for line in lines if "ERROR" in line] or lines[-1:] or ["no output"]
        raise SynthError(f"yosys failed in {workdir / (name + '.ys')}: {errors[-1].strip()}")
    return log


def map_to_cells(verilog_files, top, liberties, workdir):
    """Synthesize ``top`` from ``verilog_files`` once, then map it onto the cells of each Liberty.

    Returns ``(records, memory_bits)``: a Yosys JSON netlist per Liberty file and, per module, the
    bits of the memories Yosys inferred there before mapping them to flip-flops (no SRAM macros).
    """
    reads = "\n".join(f"read_verilog -sv {Path(f).resolve()}" for f in verilog_files)
    mappings = "".join(f"""design -load generic
dfflibmap -liberty {Path(lib).resolve()}
abc -liberty {Path(lib).resolve()}
setundef -zero
opt_clean -purge
write_json mapped{index}.json
""" for index, lib in enumerate(liberties))
    _run(f"""{reads}
hierarchy -check -top {top}
proc
tee -q -o memories.txt stat
synth -top {top}
design -save generic
{mappings}""", workdir, "map")
    records = [json.loads((Path(workdir) / f"mapped{index}.json").read_text()) for index in range(len(liberties))]
    return records, _memory_bits(Path(workdir) / "memories.txt")


def _memory_bits(stat_file):
    """``{module: memory bits}`` from a Yosys ``stat`` report (modules with memories only)."""
    bits, module = {}, None
    for line in stat_file.read_text().splitlines():
        header = re.match(r"=== (.+) ===", line.strip())
        if header:
            module = header.group(1).lstrip("\\")
        found = re.match(r"\s*Number of memory bits:\s+(\d+)", line)
        if found and module != "design hierarchy" and int(found.group(1)):
            bits[module] = int(found.group(1))
    return bits


def write_netlists(record, top, liberty, workdir, flat=True):
    """Write ``netlist.v`` (hierarchical, for OpenSTA) from a JSON record and, with ``flat``, return
    the flattened JSON record (for gate-level simulation; None without)."""
    workdir = Path(workdir)
    (workdir / "buffered.json").write_text(json.dumps(record))
    lib = Path(liberty).resolve()
    flatten = "flatten\nopt_clean\nwrite_json flat.json\n" if flat else ""
    # splitnets: OpenSTA's Verilog reader rejects the concatenations Yosys writes for partly used buses.
    _run(f"""read_liberty -lib {lib}
read_json buffered.json
hierarchy -top {top}
splitnets
opt_clean
write_verilog -noattr -noexpr -nohex -nodec netlist.v
{flatten}""", workdir, "netlists")
    return workdir / "netlist.v", json.loads((workdir / "flat.json").read_text()) if flat else None
