"""Clock gating: a glitch-free clock gate and the register groups it clocks.

A register group that loads only when its enable is high can either keep the ``sync`` clock and
hold its value through a multiplexer (``with m.If(enable)``), or be clocked by a gated copy of
the clock that pulses only in the cycles the enable is high: no hold multiplexer, and no clock
energy in the idle cycles.  :func:`gated_domain` gives a component the one or the other:

* in a hierarchical Verilog build (``hw.hierarchy.HierarchicalBuild``) of a component built with
  ``clock_gating=True``: a :class:`ClockGate` instance and a local clock domain it drives;
* otherwise (``amaranth.sim``, which has no delta-cycle-safe derived clocks, or
  ``clock_gating=False``): the ``sync`` domain and the enable as the load condition.

Either way the caller writes ``with m.If(load): m.d[domain] += ...`` and gets the same
cycle-for-cycle behaviour.
"""

from amaranth import ClockDomain, ClockSignal, Const, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .hierarchy import HierarchicalBuild, place_shared

__all__ = ["ClockGate", "gated_domain"]


class ClockGate(wiring.Component):
    """``gclk = clk & en``, with ``en`` sampled at the falling edge of ``clk`` (glitch-free).

    The enable is captured while the clock is low and held through the high phase, so the gated
    clock pulses in exactly the cycles whose rising edge sees ``en`` high, like a standard
    latch-based integrated clock gate.  It is a negative-edge flip-flop instead of a latch
    because Yosys 0.23 (``dfflibmap``) does not map latches onto library cells and the sky130
    area library has none; the cost is that ``en`` must settle within half a cycle.  A flow with
    an ICG cell of its library replaces this module (``dnateq_clock_gate``) by that cell.

    Attributes
    ----------
    clk : In(1)
        The clock (a hierarchical build connects the parent's ``sync`` clock).
    en : In(1)
        Pulse ``gclk`` at the next rising edge of the clock.
    gclk : Out(1)
        The gated clock.
    """

    role = "clock_gate"
    module_name = "dnateq_clock_gate"
    parameters = {}

    def __init__(self):
        super().__init__({"clk": In(1), "en": In(1), "gclk": Out(1)})

    @property
    def latency(self):
        """The gated clock follows the clock in the same cycle: 0."""
        return 0

    def elaborate(self, platform):
        m = Module()
        m.domains.falling = ClockDomain("falling", clk_edge="neg", reset_less=True, local=True)
        enabled = Signal()
        m.d.comb += ClockSignal("falling").eq(self.clk)
        m.d.falling += enabled.eq(self.en)
        m.d.comb += self.gclk.eq(self.clk & enabled)
        return m


def gated_domain(m, platform, name, enable, *, clock_gating):
    """``(domain, load)`` for registers that load only when ``enable`` is high (see the module docstring).

    With gating the local domain ``name`` is clocked by a :class:`ClockGate` whose enable also
    includes the reset (synchronous resets need a clock edge) and ``load`` is constant 1;
    otherwise the domain is ``sync`` and ``load`` is ``enable``.
    """
    if not (clock_gating and isinstance(platform, HierarchicalBuild)):
        return "sync", enable
    m.submodules[f"{name}_gate"] = gate = place_shared(platform, ClockGate.module_name, ClockGate)
    m.domains += ClockDomain(name, local=True)
    m.d.comb += [gate.en.eq(enable | ResetSignal()), ClockSignal(name).eq(gate.gclk),
                 ResetSignal(name).eq(ResetSignal())]
    return name, Const(1)
