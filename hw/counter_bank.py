"""The DNA-TEQ counter bank: one signed counter per bin, and optionally a shadow bank that drains."""

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .clock_gate import gated_domain
from .interfaces import product_layout
from .params import Configured, check_arith, check_bool, check_int
from .reduce import tree_sum

__all__ = ["CounterBank"]


def _bin_groups(arith):
    """``(first bin, bins, lane field)`` of every counter group; a ``None`` field means the one bin ``C_0``."""
    groups = [(0, arith.bins_wa, "exp_sum")]
    if arith.offsets:
        groups += [(arith.base_w, arith.n_exp_w, "w_exp"), (arith.base_a, arith.n_exp_a, "a_exp"),
                   (arith.base_0, 1, None)]
    return groups


def _select(values, index):
    """``values[index]`` as a balanced tree of 2:1 multiplexers on the bits of ``index``."""
    level, bit = list(values), 0
    while len(level) > 1:
        pairs = [Mux(index[bit], level[i + 1], level[i]) for i in range(0, len(level) - 1, 2)]
        level, bit = pairs + level[len(level) & ~1:], bit + 1
    return level[0]


class CounterBank(Configured, wiring.Component):
    """Per-bin signed counters of the exponent-counting dot product (``docs/architecture.md`` §1).

    Every cycle each bin ``k`` adds ``delta[k]``, the number of live lanes with a positive product
    that hit it minus those with a negative one (lanes hit bin ``k`` when their ``exp_sum``, or
    with offsets their ``w_exp``/``a_exp``, equals it).  ``clear`` starts the next count from
    zero.  With a ``shadow`` bank, ``load`` copies this cycle's sums (the counts including this
    cycle's lanes) into it; the drain reads the shadow bank, so the counting bank never waits for
    one.  Without, the drain reads the counting bank itself.  A drain reads bin ``addr`` on
    ``head`` (an ``n_bins``-input multiplexer): no bin is copied, shifted or cleared while it is
    read, and with clock gating the shadow bank is clocked once per drain.

    Parameters
    ----------
    arith : quant.arith.DnaTeqArith
        Bin layout and counter width (``arith.count_width``).
    lanes : int
        Lanes counted per cycle (1..256).
    shadow : bool
        A shadow bank (flip-flops only) that holds a finished count while it drains.
    clock_gating : bool
        Clock each counter only in the cycles a lane hits its bin (or ``clear``), and the shadow
        bank only when it loads (:func:`hw.clock_gate.gated_domain`).

    Attributes
    ----------
    products : In(ArrayLayout(product_layout(arith), lanes))
        The stage-1 lanes of this cycle; only ``live`` lanes count.
    clear : In(1)
        The counting bank restarts from zero after this cycle (this cycle's lanes go to the shadow
        bank with ``load``; without a shadow bank the caller clears only when no lane is live).
    load : In(1)
        The shadow bank takes the counting bank's sums of this cycle (only with ``shadow``).
    addr : In(range(n_bins))
        The bin ``head`` shows.
    head : Out(signed(count_width))
        Bin ``addr`` of the shadow bank (of the counting bank without one).
    """

    role = "counter_bank"
    module_name = "dnateq_counter_bank"
    _PARAMETERS = ("arith", "lanes", "shadow", "clock_gating")

    def __init__(self, *, arith, lanes, shadow=True, clock_gating=False):
        self._arith = check_arith(arith)
        self._lanes = check_int("lanes", lanes, 1, 256)
        self._shadow = check_bool("shadow", shadow)
        self._clock_gating = check_bool("clock_gating", clock_gating)
        super().__init__({
            "products": In(data.ArrayLayout(product_layout(arith), self._lanes)),
            "clear": In(1),
            **({"load": In(1)} if self._shadow else {}),
            "addr": In(range(arith.n_bins)),
            "head": Out(signed(arith.count_width)),
        })

    @property
    def latency(self):
        """Cycles from ``products`` to the updated counters (1: they are registers)."""
        return 1

    def _hits(self):
        """Per bin, per lane: the lane is live and hits the bin (flat bin order)."""
        hits = []
        for first, bins, field in _bin_groups(self._arith):
            for offset in range(bins):
                hits.append([lane.live if field is None else lane.live & (lane[field] == offset)
                             for lane in self.products])
        return hits

    def _sum(self, count, hits):
        """``count`` plus this cycle's ``delta``: the lanes that hit the bin with a positive product
        minus those with a negative one (two popcounts)."""
        negs = [lane.neg for lane in self.products]
        ups = tree_sum(hit & ~neg for hit, neg in zip(hits, negs))
        downs = tree_sum(hit & neg for hit, neg in zip(hits, negs))
        return count + (ups - downs)

    def elaborate(self, platform):
        m = Module()
        arith, gating = self._arith, self._clock_gating
        counters = []
        for k, hits in enumerate(self._hits()):
            count = Signal(signed(arith.count_width), name=f"bin{k}")
            total = self._sum(count, hits)
            enable = Cat(hits).any() | self.clear if gating else Const(1)
            domain, update = gated_domain(m, platform, f"bin{k}", enable, clock_gating=gating)
            with m.If(update):
                m.d[domain] += count.eq(Mux(self.clear, 0, total))
            counters.append((count, total))
        bank = [count for count, _ in counters]
        if self._shadow:
            domain, load = gated_domain(m, platform, "shadow", self.load, clock_gating=gating)
            bank = [Signal(signed(arith.count_width), name=f"shadow{k}") for k in range(len(counters))]
            with m.If(load):
                m.d[domain] += [held.eq(total) for held, (_, total) in zip(bank, counters)]
        m.d.comb += self.head.eq(_select(bank, self.addr))
        return m
