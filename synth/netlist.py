"""The mapped netlist (Yosys JSON) as the flow sees it: areas per module, fanout buffering, nets.

Yosys writes one JSON record per module: ports and cells connect integer *bits* (nets local to the
module) or the constants "0"/"1"/"x"/"z".  A cell is a library cell or an instance of another
module of the design.
"""

import re
from collections import defaultdict
from dataclasses import dataclass

from .errors import SynthError

__all__ = ["Netlist", "ModuleArea"]


@dataclass
class ModuleArea:
    """Area of one module including everything it instantiates (um^2 of the mapping library)."""

    area: float
    sequential_area: float
    flops: int
    cells: int


class Netlist:
    """A Yosys JSON netlist mapped to the cells of ``library``."""

    def __init__(self, record, library):
        self.library = library
        self.modules = {name: m for name, m in record["modules"].items()
                        if name not in library.cells and not m.get("attributes", {}).get("blackbox")}
        self.record = {"creator": record.get("creator", ""), "modules": self.modules}

    # ---- pin directions ------------------------------------------------------------------------
    def pin_direction(self, cell, pin):
        kind = cell["type"]
        if kind in self.modules:
            return self.modules[kind]["ports"][pin]["direction"]
        lib_cell = self.library.cells.get(kind)
        if lib_cell is None:
            raise SynthError(f"cell type {kind} is neither a design module nor in {self.library.path}")
        return lib_cell.pins[pin].direction

    # ---- area ---------------------------------------------------------------------------------
    def module_areas(self):
        """``{module: ModuleArea}``, each module with all its sub-instances counted in."""
        memo = {}

        def visit(name, stack=()):
            if name in memo:
                return memo[name]
            if name in stack:
                raise SynthError(f"recursive instantiation of module {name}")
            total = ModuleArea(0.0, 0.0, 0, 0)
            for cell in self.modules[name]["cells"].values():
                kind = cell["type"]
                if kind in self.modules:
                    sub = visit(kind, stack + (name,))
                    total = ModuleArea(total.area + sub.area, total.sequential_area + sub.sequential_area,
                                       total.flops + sub.flops, total.cells + sub.cells)
                else:
                    lib_cell = self.library.cell(kind)
                    seq = lib_cell.is_sequential
                    total = ModuleArea(total.area + lib_cell.area, total.sequential_area + lib_cell.area * seq,
                                       total.flops + seq, total.cells + 1)
            memo[name] = total
            return total

        for name in self.modules:
            visit(name)
        return memo

    # ---- where a module's area goes -----------------------------------------------------------
    def register_groups(self, name):
        """Area of module ``name`` split by what its cells serve, read from the netlist alone.

        Flip-flops are grouped by the register they implement (the net name on their output, with
        bit index and trailing digits dropped: ``bin7[3]`` -> ``bin``).  A combinational cell
        belongs to the group whose flip-flop inputs it feeds (walking back from each flip-flop's
        inputs and from each output port, through combinational cells, up to flip-flop outputs,
        module inputs and sub-module outputs); a cell feeding several groups is ``shared a + b``; the
        cone of an output port ``p`` is ``output p``.  Sub-module instances are ``instance
        <module>`` with their whole area.  Returns ``{group: {area_um2, flops, sequential_area_um2}}``.
        """
        module = self.modules[name]
        areas = self.module_areas()
        names = {}
        for net, entry in sorted(module["netnames"].items(), key=lambda kv: kv[1].get("hide_name", 0)):
            for bit in entry["bits"]:
                if isinstance(bit, int):
                    names.setdefault(bit, (net, entry.get("hide_name", 0)))
        driver, groups = {}, {}
        for cell_name, cell in module["cells"].items():
            for pin, bits in cell["connections"].items():
                if self.pin_direction(cell, pin) == "output":
                    for bit in bits:
                        if isinstance(bit, int):
                            driver[bit] = cell_name

        def register(cell):
            lib_cell = self.library.cell(cell["type"])
            for pin in lib_cell.outputs:
                for bit in cell["connections"].get(pin.name, []):
                    net = names.get(bit)
                    if net and not net[1]:
                        return "registers " + (re.sub(r"\d+$", "", net[0].lstrip("\\").split("[")[0]) or net[0])
            return "registers (unnamed)"

        seeds = []      # (group, bits the group's logic computes)
        for cell_name, cell in module["cells"].items():
            if cell["type"] in self.modules:
                groups[cell_name] = {f"instance {cell['type']}"}
                continue
            lib_cell = self.library.cell(cell["type"])
            if lib_cell.is_sequential:
                group = register(cell)
                groups[cell_name] = {group}
                seeds.append((group, [b for p in lib_cell.inputs if not p.is_clock
                                      for b in cell["connections"].get(p.name, []) if isinstance(b, int)]))
        for port_name, port in module["ports"].items():
            if port["direction"] == "output":
                seeds.append((f"output {port_name}", [b for b in port["bits"] if isinstance(b, int)]))
        logic = {}
        for group, bits in seeds:
            stack, seen = list(bits), set()
            while stack:
                bit = stack.pop()
                cell_name = driver.get(bit)
                if cell_name is None or cell_name in seen or cell_name in groups:
                    continue
                seen.add(cell_name)
                logic.setdefault(cell_name, set()).add(group)
                cell = module["cells"][cell_name]
                stack += [b for pin, bs in cell["connections"].items() if self.pin_direction(cell, pin) == "input"
                          for b in bs if isinstance(b, int)]
        result = {}

        def add(group, area, flops=0, sequential=0.0):
            entry = result.setdefault(group, {"area_um2": 0.0, "flops": 0, "sequential_area_um2": 0.0})
            entry["area_um2"] += area
            entry["flops"] += flops
            entry["sequential_area_um2"] += sequential

        for cell_name, cell in module["cells"].items():
            if cell["type"] in self.modules:
                sub = areas[cell["type"]]
                add(f"instance {cell['type']}", sub.area, sub.flops, sub.sequential_area)
                continue
            lib_cell = self.library.cell(cell["type"])
            if lib_cell.is_sequential:
                add(next(iter(groups[cell_name])), lib_cell.area, 1, lib_cell.area)
            else:
                owners = logic.get(cell_name, set())
                if len(owners) > 1:
                    group = "shared " + " + ".join(sorted(o.split(" ", 1)[1] for o in owners))
                else:
                    group = next(iter(owners)) if owners else "other"
                add(group, lib_cell.area)
        return result

    # ---- fanout buffering ---------------------------------------------------------------------
    def _clock_ports(self):
        """Per module, the input ports that reach a clock pin of a library cell (inside or below)."""
        result = {}

        def visit(name):
            if name in result:
                return result[name]
            module = self.modules[name]
            clock_bits = set()
            for cell in module["cells"].values():
                kind = cell["type"]
                clocks = visit(kind) if kind in self.modules else \
                    {p.name for p in self.library.cell(kind).pins.values() if p.is_clock}
                for pin in clocks:
                    clock_bits.update(b for b in cell["connections"].get(pin, []) if isinstance(b, int))
            result[name] = {p for p, port in module["ports"].items()
                            if port["direction"] == "input" and clock_bits.intersection(port["bits"])}
            return result[name]

        for name in self.modules:
            visit(name)
        return result

    def buffer_fanout(self, max_fanout):
        """Insert buffer trees so that no net drives more than ``max_fanout`` cell inputs.

        Yosys maps without fanout repair, and one enable or select net can feed hundreds of
        inputs (every counter of a bank); a placement tool would buffer it.  A clock net that
        enters a module through a port (the top's ``clk``) is left alone: that clock is ideal in
        timing and power.  A clock made inside a module (a clock gate's output) gets a buffer tree
        like any other net, as clock-tree synthesis would give it; unbuffered, one gate driving a
        whole register bank has a slew far outside the Liberty tables, and OpenSTA's power for the
        flip-flops behind it grows twentyfold.  Returns the number of buffers added.
        """
        buf = self.library.buffer
        buf_in, buf_out = buf.inputs[0].name, buf.outputs[0].name
        clock_ports = self._clock_ports()
        added = 0
        for name, module in self.modules.items():
            loads = defaultdict(list)
            clock_bits = set()
            for cell_name, cell in module["cells"].items():
                kind = cell["type"]
                clocks = clock_ports[kind] if kind in self.modules else \
                    {p.name for p in self.library.cell(kind).pins.values() if p.is_clock}
                for pin, bits in cell["connections"].items():
                    if self.pin_direction(cell, pin) != "input":
                        continue
                    for index, bit in enumerate(bits):
                        if isinstance(bit, int):
                            loads[bit].append((cell_name, pin, index))
                            if pin in clocks:
                                clock_bits.add(bit)
            next_bit = 1 + max([b for m in (module["ports"], module["netnames"]) for v in m.values()
                                for b in v["bits"] if isinstance(b, int)] + [1])
            port_bits = {b for port in module["ports"].values() if port["direction"] == "input"
                         for b in port["bits"] if isinstance(b, int)}
            for bit, sinks in loads.items():
                if (bit in clock_bits and bit in port_bits) or len(sinks) <= max_fanout:
                    continue
                level = sinks
                while len(level) > max_fanout:
                    groups = [level[i:i + max_fanout] for i in range(0, len(level), max_fanout)]
                    level = []
                    for group in groups:
                        new_bit, next_bit = next_bit, next_bit + 1
                        for cell_name, pin, index in group:
                            module["cells"][cell_name]["connections"][pin][index] = new_bit
                        buf_name = f"$fanout_buf${added}"
                        module["cells"][buf_name] = {"hide_name": 1, "type": buf.name, "parameters": {},
                                                     "attributes": {}, "connections": {buf_in: [None], buf_out: [new_bit]}}
                        module["netnames"][f"$fanout${added}"] = {"hide_name": 1, "bits": [new_bit], "attributes": {}}
                        level.append((buf_name, buf_in, 0))
                        added += 1
                for cell_name, pin, index in level:
                    module["cells"][cell_name]["connections"][pin][index] = bit
        return added

    def rename_cells(self):
        """Name every library cell ``g<n>`` (per module), keeping module instance names.

        Flattening prefixes cell names with their instance path; Yosys' own cell names contain
        dots (``$abc$...blifparse.cc...``), which would make that path ambiguous.
        """
        for module in self.modules.values():
            renamed = {}
            for number, (name, cell) in enumerate(module["cells"].items()):
                renamed[name if cell["type"] in self.modules else f"g{number}"] = cell
            module["cells"] = renamed
