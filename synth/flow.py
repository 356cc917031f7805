"""One design through the flow: area per module, timing, power from simulated layer data.

:func:`run_design` takes a generated design (its manifest) and the libraries to map to and
returns a JSON-ready record.  One Yosys synthesis, mapped onto each library; per library: fanout buffering, area of every module
role (in um^2 and kGE), and OpenSTA's worst path when the library has timing.  With a power
library: a Verilator simulation that streams a layer through the top and checks every output
against :mod:`quant.golden`, then OpenSTA ``report_power`` with the simulated input activity and,
for a gate-level simulation, the toggle x Liberty energy of every net.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import SynthError
from .gatesim import build_simulator, simulate, write_gate_verilog, write_rtl_probe
from .netlist import Netlist
from .sta import run_sta
from .toggle_energy import instance_modules, toggle_energy
from .yosys import map_to_cells, write_netlists

__all__ = ["Settings", "run_design"]

#: Roles whose area is also split by register group (:meth:`synth.netlist.Netlist.register_groups`).
BREAKDOWN_ROLES = ("counter_bank", "postproc", "pe")


@dataclass(frozen=True)
class Settings:
    """The flow's stated assumptions (all written into every report)."""

    clock_ns: float = 10.0          # STA constraint and power clock: 100 MHz for every design
    max_fanout: int = 16            # fanout repair: buffer trees above this many cell inputs
    slew_ns: float = 0.1            # input slew for the toggle-energy table lookups
    output_load_nand2: int = 4      # load on top-level outputs, in NAND2 input capacitances
    seed: int = 1                   # synthetic layer data
    make_jobs: int = 2              # parallel C++ compiles of one Verilator build

    def to_dict(self):
        return asdict(self)


def _output_load(library, nand2_inputs):
    """``nand2_inputs`` input capacitances of the library's NAND2 (pF)."""
    return nand2_inputs * float(np.mean([p.capacitance for p in library.nand2.inputs]))


def measure_netlist(design, library, mapped, memory_bits, settings):
    """Fanout repair and areas of ``design`` mapped onto ``library`` (the Yosys JSON ``mapped``).

    Returns ``(record, netlist)``: the library's part of the design record, the repaired netlist."""
    netlist = Netlist(mapped, library)
    buffers = netlist.buffer_fanout(settings.max_fanout)
    netlist.rename_cells()
    areas = netlist.module_areas()
    nand2 = library.nand2.area
    modules = {}
    for role, name in design.roles.items():
        if name not in areas:
            raise SynthError(f"manifest role {role} names module {name}, which the netlist of {design.top} lacks")
        area = areas[name]
        modules[role] = {"module": name, "area_um2": area.area, "kge": area.area / nand2 / 1000,
                         "sequential_area_um2": area.sequential_area, "flops": area.flops, "cells": area.cells,
                         "memory_bits": memory_bits.get(name, 0)}
        if role in BREAKDOWN_ROLES:
            modules[role]["breakdown"] = netlist.register_groups(name)
    top = areas[design.top]
    record = {"library": library.name, "liberty": str(library.path), "corner": library.corner,
              "nand2_cell": library.nand2.name, "nand2_um2": nand2, "area_um2": top.area,
              "kge": top.area / nand2 / 1000, "sequential_area_um2": top.sequential_area, "flops": top.flops,
              "cells": top.cells, "fanout_buffers": buffers, "modules": modules, "timing": None}
    return record, netlist


def _timing_record(timing, workdir):
    (Path(workdir) / "critical_path.txt").write_text(timing.path_report + "\n")
    return {"period_ns": timing.period_ns, "slack_ns": timing.slack_ns, "fmax_mhz": timing.fmax_mhz,
            "min_period_ns": timing.min_period_ns, "path_fraction_of_period": timing.fraction,
            "startpoint": timing.startpoint, "endpoint": timing.endpoint,
            "critical_path": timing.path_report.splitlines()}


def _activity(probe_index, run, ports):
    """Per input port bit (OpenSTA name): (toggles per cycle, fraction of cycles at 1)."""
    activity = {}
    for port in ports:
        for bit in range(port["width"]):
            position = probe_index.get((port["name"], bit))
            if position is None:
                continue
            name = f"{port['name']}[{bit}]" if port["width"] > 1 else port["name"]
            toggles = float(run.rises[position]) + float(run.falls[position])
            activity[name] = (toggles / run.cycles, float(run.high_cycles[position]) / run.cycles)
    return activity


def _role_energy(by_instance, paths, roles, top_role):
    """Energy of every role, summed over its instances (an instance includes what it instantiates)."""
    role_of = {name: role for role, name in roles.items()}
    totals = {}
    for path, module in paths.items():
        role = top_role if path == "" else role_of.get(module)
        if role is not None:
            totals[role] = totals.get(role, 0.0) + sum(
                e for p, e in by_instance.items() if not path or p == path or p.startswith(path + "."))
    return totals


@dataclass
class LayerRun:
    """One simulation of a layer through a design and what was derived from it."""

    run: object                 # synth.gatesim.SimulationRun
    vectors: object             # synth.workload.Vectors
    activity: dict              # input port bit -> (toggles per cycle, duty)
    probed: list = None         # net bits of the gate-level probe (None for RTL)


def simulate_layer(design, library, artefacts, layer, settings, workdir, gate_level):
    """Stream ``layer`` through ``design`` in Verilator; every output is checked against quant.golden."""
    stimulus, vectors = design.stimulus(layer, settings.seed)
    ports = design.ports
    sim_dir = Path(workdir) / ("gatesim" if gate_level else "rtlsim")
    sim_dir.mkdir(parents=True, exist_ok=True)
    probed = None
    if gate_level:
        flat = artefacts["flat"]
        probed = write_gate_verilog(flat, library, design.top, sim_dir / "gates.v")
        position = {bit: i for i, bit in enumerate(probed)}
        probe_index = {(name, i): position[bit] for name, port in flat["modules"][design.top]["ports"].items()
                       for i, bit in enumerate(port["bits"]) if bit in position}
        sources, sim_top, width = [sim_dir / "gates.v"], design.top, len(probed)
    else:
        order = write_rtl_probe(design.top, ports, sim_dir / "probe.v")
        probe_index = {key: i for i, key in enumerate(order)}
        sources, sim_top, width = [*design.verilog, sim_dir / "probe.v"], "synth_rtl_top", len(order)
    pe_module = design.roles.get("pe")
    executable = build_simulator(sources, sim_top, ports, stimulus, width, sim_dir, settings.make_jobs,
                                 hier_blocks=(pe_module,) if not gate_level and design.pes > 1 and pe_module else ())
    run = simulate(executable, ports, stimulus, width, sim_dir)
    got = design.decode_outputs(run.outputs)
    if got.shape != vectors.expected.shape or not np.array_equal(got, vectors.expected):
        wrong = int((got != vectors.expected).sum()) if got.shape == vectors.expected.shape else "all"
        raise SynthError(f"{'gate-level' if gate_level else 'RTL'} simulation of {design.identity} disagrees with "
                         f"quant.golden on {wrong} of {vectors.expected.size} outputs (see {sim_dir})")
    activity = _activity(probe_index, run, [p for p in ports if p["direction"] == "input" and p["name"] != "clk"])
    return LayerRun(run=run, vectors=vectors, activity=activity, probed=probed)


def power_record(design, library, artefacts, sim, sta_power, layer, settings):
    """The power section of a design record: both figures, per element and per role."""
    run, vectors = sim.run, sim.vectors
    period_s = settings.clock_ns * 1e-9
    elements_per_cycle = vectors.elements / run.cycles
    record = {
        "activity_source": layer.source,
        "simulation": ("gate-level: Verilator on the mapped, buffered netlist" if sim.probed is not None
                       else "RTL: Verilator on the generated Verilog (input ports only)"),
        "clock_mhz": 1000.0 / settings.clock_ns, "cycles": run.cycles, "beats": run.beats,
        "elements": vectors.elements, "elements_per_cycle": elements_per_cycle,
        "outputs_checked": int(vectors.expected.size),
        "mean_input_activity": float(np.mean([a for a, _ in sim.activity.values()])) if sim.activity else 0.0,
        "opensta": {"total_mw": sta_power.total_w * 1e3, "internal_mw": sta_power.internal_w * 1e3,
                    "switching_mw": sta_power.switching_w * 1e3, "leakage_mw": sta_power.leakage_w * 1e3,
                    "sequential_mw": sta_power.sequential_w * 1e3,
                    "combinational_mw": sta_power.combinational_w * 1e3,
                    "energy_per_element_pj": sta_power.total_w * period_s / elements_per_cycle * 1e12},
        "toggle": None,
    }
    if sim.probed is not None:
        paths = instance_modules(artefacts["record"], design.top)
        energy = toggle_energy(artefacts["flat"], library, design.top, sim.probed, run, period_s, settings.slew_ns,
                               artefacts["output_load"], paths)
        seconds = run.cycles * period_s
        record["toggle"] = {
            "total_mw": energy.power_w * 1e3, "internal_mw": energy.internal_j / seconds * 1e3,
            "switching_mw": energy.switching_j / seconds * 1e3, "clock_mw": energy.clock_j / seconds * 1e3,
            "leakage_mw": energy.leakage_j / seconds * 1e3, "register_mw": energy.register_j / seconds * 1e3,
            "energy_per_element_pj": energy.total_j / vectors.elements * 1e12,
            # A role's share of the energy per element (all its instances; the PEs' share is per PE).
            "role_energy_per_element_pj": {role: e / vectors.elements * 1e12 for role, e in _role_energy(
                energy.by_instance, paths, design.roles, design.top_role).items()},
        }
    return record


def run_design(design, libraries, settings, workdir, layer=None, simulation="gate"):
    """The whole flow for one design; ``simulation`` is "gate", "rtl" or "none"."""
    workdir = Path(workdir)
    record = {"design": design.identity, "manifest": str(design.folder / "manifest.json"), "pe_kind": design.kind,
              "top": design.top_role, "pe_count": int(design.manifest["pe_count"]), "pes": design.pes,
              "lanes": design.lanes, "arith": design.manifest["arith"],
              "clock_gating": bool(design.manifest.get("parameters", {}).get("clock_gating", False)),
              "libraries": {}, "power": None,
              "settings": settings.to_dict()}
    workdir.mkdir(parents=True, exist_ok=True)
    mapped, memory_bits = map_to_cells(design.verilog, design.top, [lib.path for _, lib in libraries], workdir)
    for (key, library), mapped_netlist in zip(libraries, mapped):
        simulate_here = simulation != "none" and library.has_power and record["power"] is None
        if simulate_here and layer is None:
            raise SynthError("a power measurement needs layer data")
        lib_record, netlist = measure_netlist(design, library, mapped_netlist, memory_bits, settings)
        record["libraries"][key] = lib_record
        if not (library.has_timing or simulate_here):
            continue          # an area-only library: nothing reads its netlist
        lib_dir = workdir / key
        lib_dir.mkdir(parents=True, exist_ok=True)
        verilog_netlist, flat = write_netlists(netlist.record, design.top, library.path, lib_dir,
                                               flat=simulate_here and simulation == "gate")
        artefacts = {"netlist": verilog_netlist, "flat": flat, "record": netlist.record,
                     "output_load": _output_load(library, settings.output_load_nand2)}
        sim = simulate_layer(design, library, artefacts, layer, settings, lib_dir, simulation == "gate") \
            if simulate_here else None
        timing, sta_power = run_sta(verilog_netlist, library.path, design.top, "clk", settings.clock_ns,
                                    artefacts["output_load"], lib_dir, library.has_timing,
                                    sim.activity if sim else None)
        if timing:
            lib_record["timing"] = _timing_record(timing, lib_dir)
        if sim:
            record["power"] = {"library": key, **power_record(design, library, artefacts, sim, sta_power,
                                                              layer, settings)}
    (workdir / "result.json").write_text(json.dumps(record, indent=1))
    return record
