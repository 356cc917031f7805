"""Hierarchical Verilog: every distinct module is converted once and instantiated by name.

Parents add their submodules through :func:`place`.  In simulation (``platform`` is None) that is
the submodule itself.  When ``verilog.convert`` runs with a :class:`HierarchicalBuild` as its
platform, :func:`place` converts the submodule's module the first time it is met and returns a
:class:`BlackBox`: an ``Instance`` of that module with the same signature, so the parent's wiring
code is the same in both cases.  A tile of 1024 PEs is then one PE module instantiated 1024
times, not 1024 flattened copies.

A placed component names its module with ``module_name`` and describes its configuration with
``parameters`` (a dict); one build holds one configuration per module name.

Each module is elaborated to RTLIL when it is placed (its ports come from there); the Verilog
of the whole build comes from one Yosys run, when a module's text is first asked for.  (Each
Yosys run costs about 0.3 s to start; an accelerator has a dozen modules.)
"""

import math
import re
from dataclasses import dataclass
from types import SimpleNamespace

from amaranth import ClockSignal, Elaboratable, Instance, ResetSignal, Shape, ShapeCastable, Signal, Value
from amaranth.back import rtlil, verilog
from amaranth.lib import wiring

__all__ = ["MAX_PORT_BITS", "Port", "ConvertedModule", "HierarchicalBuild", "BlackBox", "module_ports",
           "port_bits", "place", "place_array", "place_shared"]

_PORT_DECLARATION = re.compile(r"^\s*(input|output|inout)\s+(?:signed\s+)?(?:\[(\d+):(\d+)\]\s+)?(\w+)\s*;",
                               re.MULTILINE)
_RTLIL_PORT = re.compile(r"^\s*wire width (\d+) (input|output|inout) \d+\s+(?:signed\s+)?\\(\S+)$", re.MULTILINE)
_VERILOG_MODULE = re.compile(r"(?:\(\*[^\n]*\*\)\n)*module (\w+)\(.*?\nendmodule\n", re.DOTALL)
_YOSYS_AUTO_NAME = re.compile(r"(\\\$auto\$[^$\s]*\$)(\d+)")
_SPECIAL_PORTS = {"clk": ClockSignal, "rst": ResetSignal}

#: Most input (and most output) port bits of one module Amaranth 0.5 converts (its netlist numbers
#: the bits of a cell output with 16 bits).
MAX_PORT_BITS = 1 << 16


@dataclass(frozen=True)
class Port:
    """A port of a converted Verilog module."""

    name: str
    direction: str
    width: int


class ConvertedModule:
    """One module of a build: its name, the component it came from, its ports and its Verilog text."""

    def __init__(self, build, name, component, rtlil_text, ports):
        self._build, self.name, self.component, self.rtlil, self.ports = build, name, component, rtlil_text, ports
        self._verilog = None

    @property
    def verilog(self):
        """The module's Verilog (the build's modules are converted together the first time)."""
        if self._verilog is None:
            self._build.emit_verilog()
        return self._verilog


def module_ports(text, name):
    """Ports declared in module ``name`` of ``text`` (Amaranth declares one per line)."""
    start = text.index(f"module {name}(")
    body = text[start:text.index("endmodule", start)]
    return tuple(Port(port, direction, int(msb) - int(lsb) + 1 if msb else 1)
                 for direction, msb, lsb, port in _PORT_DECLARATION.findall(body))


def _rtlil_ports(text, name):
    """Ports of module ``name`` in RTLIL ``text``, in the order Yosys declares them in Verilog (by name)."""
    body = text[text.index(f"module \\{name}\n"):]
    body = body[:body.index("\nend\n")]
    return tuple(sorted((Port(port, direction, int(width)) for width, direction, port in _RTLIL_PORT.findall(body)),
                        key=lambda port: port.name))


def _renumber(text):
    """Number Yosys's automatic names from 1 within one module, as a Yosys run of that module alone
    would: a module's text must not depend on the other modules of the build."""
    numbers = {}

    def number(match):
        return match.group(1) + numbers.setdefault(match.group(0), str(len(numbers) + 1))

    return _YOSYS_AUTO_NAME.sub(number, text)


class HierarchicalBuild:
    """The ``platform`` of a hierarchical conversion; it collects every module it converts.

    Use :meth:`convert` on the top component; :attr:`modules` then lists every module of the
    design, each submodule before the modules that instantiate it.
    """

    def __init__(self):
        self._modules = {}

    @property
    def modules(self):
        """Every converted module, dependencies first."""
        return tuple(self._modules.values())

    def convert(self, component):
        """Convert ``component``'s module (once per module name) and return its :class:`ConvertedModule`."""
        name = component.module_name
        known = self._modules.get(name)
        if known is not None:
            if known.component.parameters != component.parameters:
                raise ValueError(f"module {name} is used with two configurations in one build")
            return known
        text = rtlil.convert(component, name=name, platform=self, emit_src=False)
        module = ConvertedModule(self, name, component, text, _rtlil_ports(text, name))
        self._modules[name] = module
        return module

    def converted(self, name):
        """The :class:`ConvertedModule` named ``name``, or None if the build has none yet."""
        return self._modules.get(name)

    def emit_verilog(self):
        """Give every module its Verilog, from one Yosys run over the RTLIL of all of them."""
        pending = [module for module in self._modules.values() if module._verilog is None]
        if not pending:
            return
        # verilog.convert runs this on one module's RTLIL; given several, Yosys writes them all.
        text = verilog._convert_rtlil_text("\n".join(module.rtlil for module in pending))
        banner = text.splitlines()[0]
        texts = {match.group(1): f"{banner}\n\n{_renumber(match.group(0))}" for match in _VERILOG_MODULE.finditer(text)}
        for module in pending:
            module._verilog = texts[module.name]

    def place(self, component):
        """A :class:`BlackBox` standing for ``component`` (its module is converted if new)."""
        return BlackBox(self.convert(component))


def _plain_members(target, signature, path):
    """Set ``signature``'s members on ``target`` as plain signals (views over them for layouts).

    Plain signals give the parent no per-field debug wires, and are much cheaper to create than
    layout-shaped ones: it matters when a tile holds 1024 black boxes.
    """
    target.signature = signature
    for name, member in signature.members.items():
        setattr(target, name, _plain_array(member, path + (name,), member.dimensions))
    return target


def _plain_array(member, path, dimensions):
    if dimensions:
        return [_plain_array(member, path + (index,), dimensions[1:]) for index in range(dimensions[0])]
    if member.is_signature:
        return _plain_members(SimpleNamespace(), member.signature, path)
    value = Signal(Shape.cast(member.shape), name="__".join(map(str, path)))
    return member.shape(value) if isinstance(member.shape, ShapeCastable) else value


class BlackBox(Elaboratable):
    """An ``Instance`` of a converted module, with the signature of the component it came from.

    Parameters
    ----------
    module : ConvertedModule
    """

    def __init__(self, module):
        self._module = module
        _plain_members(self, module.component.signature, ())

    def elaborate(self, platform):
        members = {"__".join(map(str, path)): Value.cast(value)
                   for path, _, value in self.signature.flatten(self)}
        connections = {}
        for port in self._module.ports:
            if port.name in _SPECIAL_PORTS:       # the parent's clock and reset, also for a `clk` member
                value = _SPECIAL_PORTS[port.name]()
                members.pop(port.name, None)
            elif port.name in members:
                value = members.pop(port.name)
            else:
                raise ValueError(f"module {self._module.name} has a port {port.name} its signature lacks")
            connections[f"{'i' if port.direction == 'input' else 'o'}_{port.name}"] = value
        missing = [name for name, value in members.items() if len(value)]
        if missing:
            raise ValueError(f"module {self._module.name} lacks the ports {', '.join(missing)}")
        # An Instance is a Fragment: returning it (not a Module holding it) adds no wrapper module.
        return Instance(self._module.name, **connections)


def port_bits(signature):
    """Total ``(input, output)`` port bits of a component with ``signature``, member arrays included.

    Amaranth 0.5 converts a module only if each total is at most :data:`MAX_PORT_BITS`.
    """
    totals = {wiring.In: 0, wiring.Out: 0}

    def add(members, copies):
        for member in members.values():
            count = copies * math.prod(member.dimensions)
            if member.is_port:
                totals[member.flow] += count * Shape.cast(member.shape).width
            else:
                add(member.signature.members, count)

    add(signature.members, 1)
    return totals[wiring.In], totals[wiring.Out]


def place(platform, component):
    """``component`` in simulation; its :class:`BlackBox` when ``platform`` is a :class:`HierarchicalBuild`."""
    return platform.place(component) if isinstance(platform, HierarchicalBuild) else component


def place_array(platform, first, make, count):
    """``count`` components configured like ``first``: ``first`` then ``make()`` for the others.

    In a :class:`HierarchicalBuild` only ``first`` is converted; the result is ``count`` black
    boxes of its module, and ``make`` is never called.
    """
    if isinstance(platform, HierarchicalBuild):
        module = platform.convert(first)
        return [BlackBox(module) for _ in range(count)]
    return [first] + [make() for _ in range(count - 1)]


def place_shared(platform, module_name, make):
    """A :class:`BlackBox` of the build's module ``module_name``; ``make()`` builds its component only the
    first time (a module instantiated in many places, e.g. a clock gate, is created once per build)."""
    return BlackBox(platform.converted(module_name) or platform.convert(make()))
