"""The INT8 multiply-accumulate processing element: the baseline DNA-TEQ is compared against."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from quant.golden import int8_acc_width

from .interfaces import INT8_LANE, beat_layout
from .params import Configured, check_int
from .reduce import tree_sum

__all__ = ["Int8Pe"]


class Int8Pe(Configured, wiring.Component):
    """``Y = sum_i w_i * a_i`` over int8 operands, ``lanes`` products per cycle.

    Pipeline: 1. ``lanes`` multipliers (registered products); 2. balanced adder tree (registered
    sum); 3. accumulator.  At a vector's last beat the accumulated value goes, sign-extended to
    ``out_width``, into the output register and the accumulator restarts from zero, so vectors
    follow each other with no bubble.  The pipeline holds (``i.ready`` low) only while a finished
    vector cannot enter a full, not-ready output register.

    Parameters
    ----------
    lanes : int
        Products per cycle, 1..256.
    max_vector_length : int
        Longest vector; sets the accumulator to ``quant.golden.int8_acc_width(max_vector_length)`` bits.
    out_width : int, optional
        Width of ``Y`` (default 32); at least the accumulator width.

    Attributes
    ----------
    i : In(stream.Signature(beat_layout(signed(8), signed(8), lanes)))
        Input beats; padding lanes of a vector's last beat are 0.
    o : Out(stream.Signature(signed(out_width)))
        ``Y`` of each vector, in order.
    """

    role = "pe"
    module_name = "int8_pe"
    _PARAMETERS = ("lanes", "max_vector_length", "out_width")
    weight_lane = activation_lane = INT8_LANE

    def __init__(self, *, lanes, max_vector_length, out_width=32):
        self._lanes = check_int("lanes", lanes, 1, 256)
        self._max_vector_length = check_int("max_vector_length", max_vector_length, 1, 1 << 24)
        self._out_width = check_int("out_width", out_width, 8, 64)
        if self._out_width < self.acc_width:
            raise ValueError(f"out_width ({out_width}) must be at least the INT8 accumulator width "
                             f"({self.acc_width} bits for max_vector_length={max_vector_length})")
        super().__init__({
            "i": In(stream.Signature(beat_layout(INT8_LANE, INT8_LANE, self._lanes))),
            "o": Out(stream.Signature(signed(self._out_width))),
        })

    @property
    def acc_width(self):
        """Accumulator width, ``quant.golden.int8_acc_width(max_vector_length)``."""
        return int8_acc_width(self._max_vector_length)

    @property
    def latency(self):
        """Cycles from accepting a vector's last beat to ``o.valid`` (multiply, add tree, accumulate)."""
        return 3

    @property
    def arith(self):
        """The manifest's ``arith`` record of the INT8 datapath."""
        return {"max_vector_length": self._max_vector_length, "acc_width": self.acc_width,
                "out_width": self._out_width}

    def elaborate(self, platform):
        m = Module()
        products = Signal(data.ArrayLayout(signed(16), self._lanes))
        products_valid, products_last = Signal(), Signal()
        total_in = tree_sum(products)
        beat_sum = Signal(signed(len(total_in)))
        sum_valid, sum_last = Signal(), Signal()
        acc = Signal(signed(self.acc_width))
        total = acc + beat_sum

        advance = ~(sum_valid & sum_last & self.o.valid & ~self.o.ready)
        m.d.comb += self.i.ready.eq(advance)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(advance):
            m.d.sync += [products_valid.eq(self.i.valid), sum_valid.eq(products_valid)]
            with m.If(self.i.valid):     # data registers load only with data (no idle toggling)
                m.d.sync += products_last.eq(self.i.payload.last)
                m.d.sync += [p.eq(w * a) for p, w, a in zip(products, self.i.payload.w, self.i.payload.a)]
            with m.If(products_valid):
                m.d.sync += [beat_sum.eq(total_in), sum_last.eq(products_last)]
            with m.If(sum_valid):
                m.d.sync += acc.eq(Mux(sum_last, 0, total))
                with m.If(sum_last):
                    m.d.sync += [self.o.payload.eq(total), self.o.valid.eq(1)]
        return m
