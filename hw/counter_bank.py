"""The DNA-TEQ counter bank: one signed counter per bin, in one or two copies (double buffering)."""

from amaranth import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .interfaces import product_layout
from .params import Configured, check_arith, check_int
from .reduce import tree_sum

__all__ = ["CounterBank"]


def _bin_groups(arith):
    """``(first bin, bins, lane field)`` of every counter group; a ``None`` field means the one bin ``C_0``."""
    groups = [(0, arith.bins_wa, "exp_sum")]
    if arith.offsets:
        groups += [(arith.base_w, arith.n_exp_w, "w_exp"), (arith.base_a, arith.n_exp_a, "a_exp"),
                   (arith.base_0, 1, None)]
    return groups


class CounterBank(Configured, wiring.Component):
    """Per-bin signed counters of the exponent-counting dot product (``docs/architecture.md`` §1).

    Each cycle, every bin ``k`` computes ``delta[k]``, the number of live lanes with a positive
    product that hit it minus those with a negative product (an ``L``-input popcount pair per bin,
    decoded from the lanes' ``exp_sum`` and, with offsets, ``w_exp``/``a_exp``).  A counting bank
    adds ``delta``; a draining bank shifts one bin towards bin 0 and takes a zero in at the top,
    so after ``n_bins`` shifts it has handed out every count in bin order and is empty again.
    No counter is ever selected by a run-time index: bins are decoded per bin.

    Parameters
    ----------
    arith : quant.arith.DnaTeqArith
        Bin layout and counter width (``arith.count_width``).
    lanes : int
        Lanes counted per cycle (1..256).
    banks : int
        Copies of the counters: 2 lets one bank count while the other drains, 1 saves the flip-flops.

    Attributes
    ----------
    products : In(ArrayLayout(product_layout(arith), lanes))
        The stage-1 lanes of this cycle; only ``live`` lanes count.
    count : In(banks)
        Per bank: add this cycle's ``delta`` (the caller raises it for at most the counting bank).
    shift : In(banks)
        Per bank: shift one bin towards bin 0.  Takes precedence over ``count`` (never both).
    heads : Out(ArrayLayout(signed(count_width), banks))
        Bin 0 of every bank: the count a drain hands out this cycle.
    """

    role = "counter_bank"
    module_name = "dnateq_counter_bank"
    _PARAMETERS = ("arith", "lanes", "banks")

    def __init__(self, *, arith, lanes, banks=2):
        self._arith = check_arith(arith)
        self._lanes = check_int("lanes", lanes, 1, 256)
        self._banks = check_int("banks", banks, 1, 2)
        super().__init__({
            "products": In(data.ArrayLayout(product_layout(arith), self._lanes)),
            "count": In(self._banks),
            "shift": In(self._banks),
            "heads": Out(data.ArrayLayout(signed(arith.count_width), self._banks)),
        })

    @property
    def latency(self):
        """Cycles from ``products``/``count`` to the updated counters (1: they are registers)."""
        return 1

    def _deltas(self):
        """``delta[k]`` of every bin, in flat bin order."""
        deltas = []
        for first, bins, field in _bin_groups(self._arith):
            for offset in range(bins):
                hits = [lane.live if field is None else lane.live & (lane[field] == offset)
                        for lane in self.products]
                ups = tree_sum(hit & ~lane.neg for hit, lane in zip(hits, self.products))
                downs = tree_sum(hit & lane.neg for hit, lane in zip(hits, self.products))
                deltas.append(ups - downs)
        return deltas

    def elaborate(self, platform):
        m = Module()
        deltas = self._deltas()
        width = self._arith.count_width
        for bank in range(self._banks):
            counters = [Signal(signed(width), name=f"bank{bank}_bin{k}") for k in range(len(deltas))]
            for k, (counter, delta) in enumerate(zip(counters, deltas)):
                above = counters[k + 1] if k + 1 < len(counters) else 0
                with m.If(self.shift[bank]):
                    m.d.sync += counter.eq(above)
                with m.Elif(self.count[bank]):
                    m.d.sync += counter.eq(counter + delta)
            m.d.comb += self.heads[bank].eq(counters[0])
        return m
