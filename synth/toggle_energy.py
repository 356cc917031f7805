"""Energy from simulated toggles and Liberty tables (the figure beside OpenSTA's ``report_power``).

For every net of the flattened netlist, with ``r`` rising and ``f`` falling transitions counted in
the gate-level simulation:

* driver internal energy: ``r * E_rise + f * E_fall`` of the driving output pin's
  ``internal_power`` tables, at the net's load and the assumed input slew (averaged over the
  pin's ``related_pin`` arcs, since the simulation does not tell which input caused the toggle);
* load-pin internal energy: the same for every input pin with its own (passive) tables, e.g. the
  D pin of a flip-flop;
* switching energy: ``(r + f) * C_load * V**2 / 2``, ``C_load`` the sum of the pin capacitances
  it drives (plus the stated output load on top-level outputs; no wire load);
* the clock net toggles twice a cycle: its ``C V**2 / 2`` per edge and every clock pin's internal
  energy; a gated clock (a net other than the clock port that reaches a clock pin) toggles twice in
  each cycle it pulses, and its gate's output energy counts as clock energy;
* leakage: every cell's ``cell_leakage_power`` over the simulated time.

Unlike the Debian OpenSTA, this uses the activity the simulation measured on every register
output and every net.  It is zero-delay: glitches are not counted.
"""

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .errors import SynthError

__all__ = ["ToggleEnergy", "toggle_energy", "instance_modules"]


@dataclass
class ToggleEnergy:
    """Energy over the simulated window, in joules, with its breakdown."""

    cycles: int
    period_s: float
    internal_j: float
    switching_j: float
    clock_j: float
    leakage_j: float
    register_j: float                         # flip-flops: Q internal + switching, D pin internal (no clock)
    by_instance: dict = field(default_factory=dict)   # instance path -> joules (own cells only)

    @property
    def total_j(self):
        return self.internal_j + self.switching_j + self.clock_j + self.leakage_j

    @property
    def power_w(self):
        return self.total_j / (self.cycles * self.period_s)


def _arc_energy(pin, edge, load, slew):
    """Mean over a pin's internal_power arcs of the ``edge`` table at ``load`` and ``slew`` (pJ)."""
    values = [tables[edge].lookup(load, slew) for tables in pin.energy.values() if edge in tables]
    return float(np.mean(values)) if values else 0.0


def instance_modules(record, top):
    """``{instance path: module name}`` for every module instance below ``top`` ('' is the top)."""
    modules = record["modules"]
    paths = {"": top}
    stack = [("", top)]
    while stack:
        path, name = stack.pop()
        for cell_name, cell in modules[name]["cells"].items():
            if cell["type"] in modules:
                child = f"{path}.{cell_name}" if path else cell_name
                paths[child] = cell["type"]
                stack.append((child, cell["type"]))
    return paths


def _instance_of(cell_name, paths):
    """The deepest instance path that prefixes a flattened cell name."""
    parts = cell_name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in paths:
            return prefix
    return ""


def toggle_energy(flat, library, top, probed_bits, run, period_s, slew_ns, output_load_pf, paths, clock_port="clk"):
    """Energy of one gate-level simulation (see the module docstring).

    ``probed_bits`` maps the simulation's counters to JSON net bits; ``run`` is a
    :class:`synth.gatesim.SimulationRun`; ``paths`` comes from :func:`instance_modules`.
    """
    module = flat["modules"][top]
    volts = library.voltage
    if not library.has_power:
        raise SynthError(f"{library.path} has no power tables; the toggle-energy estimate needs them")
    index = {bit: i for i, bit in enumerate(probed_bits)}
    rises = defaultdict(float)
    falls = defaultdict(float)
    for bit, i in index.items():
        rises[bit], falls[bit] = float(run.rises[i]), float(run.falls[i])
    clock_bits = set(module["ports"][clock_port]["bits"]) if clock_port in module["ports"] else set()
    for bit in clock_bits:
        rises[bit] = falls[bit] = float(run.cycles)
    # Gated clocks (rtl_gen --clock-gating): nets other than the clock port that reach a clock pin.
    # The harness samples every net once a cycle while the clock is high, so a gated clock reads 1
    # exactly in the cycles it pulses: one rise and one fall per such cycle.
    gated_bits = set()
    for cell in module["cells"].values():
        for pin in library.cell(cell["type"]).pins.values():
            if pin.is_clock:
                gated_bits.update(b for b in cell["connections"].get(pin.name, []) if isinstance(b, int))
    gated_bits -= clock_bits
    # ... and back through the buffers of their clock trees (single-input, non-inverting cells).
    driver = {}
    for cell in module["cells"].values():
        lib_cell = library.cell(cell["type"])
        for pin in lib_cell.outputs:
            for b in cell["connections"].get(pin.name, []):
                if isinstance(b, int):
                    driver[b] = (lib_cell, cell)
    frontier = list(gated_bits)
    while frontier:
        lib_cell, cell = driver.get(frontier.pop(), (None, None))
        if lib_cell is None or lib_cell.is_sequential or len(lib_cell.inputs) != 1:
            continue
        if lib_cell.outputs[0].function != ("var", lib_cell.inputs[0].name):
            raise SynthError(f"gated clock tree of {top} holds {lib_cell.name}, not a buffer")
        bit = cell["connections"][lib_cell.inputs[0].name][0]
        if isinstance(bit, int) and bit not in gated_bits and bit not in clock_bits:
            gated_bits.add(bit)
            frontier.append(bit)
    for bit in gated_bits:
        if bit not in index:
            raise SynthError(f"gated clock net {bit} of {top} was not probed")
        rises[bit] = falls[bit] = float(run.high_cycles[index[bit]])
    clock_tree = clock_bits | gated_bits

    load = defaultdict(float)       # pF per net
    for name, port in module["ports"].items():
        if port["direction"] == "output":
            for bit in port["bits"]:
                if isinstance(bit, int):
                    load[bit] += output_load_pf
    cells = []
    for name, cell in module["cells"].items():
        lib_cell = library.cell(cell["type"])
        cells.append((name, lib_cell, cell["connections"]))
        for pin in lib_cell.inputs:
            bit = cell["connections"].get(pin.name, [None])[0]
            if isinstance(bit, int):
                load[bit] += pin.capacitance

    internal = switching = clock = register = leakage_w = 0.0
    by_instance = defaultdict(float)
    pj = 1e-12
    for name, lib_cell, conn in cells:
        own = 0.0
        for pin in lib_cell.pins.values():
            bit = conn.get(pin.name, [None])[0]
            if not isinstance(bit, int):
                continue
            r, f = rises[bit], falls[bit]
            if pin.direction == "output":
                e_int = (r * _arc_energy(pin, "rise", load[bit], slew_ns) +
                         f * _arc_energy(pin, "fall", load[bit], slew_ns)) * pj
                e_sw = (r + f) * load[bit] * pj * volts ** 2 / 2
                own += e_int + e_sw
                if bit in gated_bits:          # a clock gate's output: clock energy
                    clock += e_int + e_sw
                    continue
                internal += e_int
                switching += e_sw
                if lib_cell.is_sequential:
                    register += e_int + e_sw
            elif pin.energy:
                e_pin = (r * _arc_energy(pin, "rise", 0.0, slew_ns) + f * _arc_energy(pin, "fall", 0.0, slew_ns)) * pj
                if bit in clock_tree:
                    clock += e_pin
                else:
                    internal += e_pin
                    if lib_cell.is_sequential:
                        register += e_pin
                own += e_pin
        leakage_w += lib_cell.leakage * library.leakage_unit_w
        by_instance[_instance_of(name, paths)] += own
    # The clock net itself: C V^2 / 2 per edge, shared out over the instances of the input pins it
    # drives (clock pins, and the clock inputs of clock gates).
    clock_pins = [(name, lib_cell.pins[p].capacitance) for name, lib_cell, conn in cells
                  for p in lib_cell.pins if lib_cell.pins[p].direction == "input"
                  and conn.get(p, [None])[0] in clock_bits]
    for name, cap in clock_pins:
        e = 2 * run.cycles * cap * pj * volts ** 2 / 2
        clock += e
        by_instance[_instance_of(name, paths)] += e
    seconds = run.cycles * period_s
    leakage = leakage_w * seconds
    for name, lib_cell, _ in cells:
        by_instance[_instance_of(name, paths)] += lib_cell.leakage * library.leakage_unit_w * seconds
    return ToggleEnergy(cycles=run.cycles, period_s=period_s, internal_j=internal, switching_j=switching,
                        clock_j=clock, leakage_j=leakage, register_j=register, by_instance=dict(by_instance))
