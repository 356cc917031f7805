"""DNA-TEQ post-processing: ``acc = sum_k C[k] * T[k]`` over drained bins, then the rounded output."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .interfaces import drain_layout, shift_shape, table_read_signature
from .clock_gate import gated_domain
from .params import Configured, check_arith, check_bool

__all__ = ["PostProcessor", "round_shift_saturate"]


def round_shift_saturate(acc, shift, width):
    """``saturate_width((acc + 2**(shift-1)) >> shift)`` without a ``1 << shift`` term.

    ``floor((x + 2**(R-1)) / 2**R) == floor((floor(2x / 2**R) + 1) / 2)`` for every ``R >= 0``
    (for ``R = 0`` both sides are ``x``), so one barrel shift of ``2 * acc`` and an increment do
    it, with no special case for ``R = 0``.
    """
    rounded = (((acc << 1) >> shift) + 1) >> 1
    hi = (1 << (width - 1)) - 1
    return Mux(rounded > hi, hi, Mux(rounded < -hi - 1, -hi - 1, rounded))


class PostProcessor(Configured, wiring.Component):
    """Multiplies each drained count by its table entry, accumulates, and emits ``Y`` at a vector's end.

    Pipeline (one bin per cycle, no bubble between drains or vectors):

    1. accept a bin from ``i`` and read ``T[bin]`` from the table (synchronous read);
    2. ``product <= count * T[bin]``;
    3. ``acc <= acc + product`` (or ``product`` for the first bin after a vector's end);
    4. after the bin flagged ``last``: ``o.payload <= saturate((acc + 2**(R-1)) >> R)``.

    The accumulator has ``arith.acc_width`` bits and sums every drain of a vector (chunked
    counting).  When ``Y`` cannot enter the output register (``o`` full and not ready), the whole
    pipeline holds and ``i.ready`` is low; nothing is lost.

    Parameters
    ----------
    arith : quant.arith.DnaTeqArith
        Widths: ``count_width``, ``table_width``, ``acc_width``, ``out_width``, ``n_bins``.
    clock_gating : bool, optional
        Clock each stage's data registers only when they load (:func:`hw.clock_gate.gated_domain`).

    Attributes
    ----------
    i : In(stream.Signature(drain_layout(arith)))
        Drained bins: ``count``, ``bin`` (table index), ``last`` (the vector's final bin).
    o : Out(stream.Signature(signed(out_width)))
        One ``Y`` per vector.
    table : Out(table_read_signature(arith))
        Table reads: ``addr``/``en`` this cycle, ``data`` the next.
    shift : In(range(acc_width))
        Output shift ``R``; hold it constant while a vector is in flight.
    """

    role = "postproc"
    module_name = "dnateq_postproc"
    _PARAMETERS = ("arith", "clock_gating")

    def __init__(self, *, arith, clock_gating=False):
        self._arith = check_arith(arith)
        self._clock_gating = check_bool("clock_gating", clock_gating)
        super().__init__({
            "i": In(stream.Signature(drain_layout(arith))),
            "o": Out(stream.Signature(signed(arith.out_width))),
            "table": Out(table_read_signature(arith)),
            "shift": In(shift_shape(arith)),
        })

    @property
    def latency(self):
        """Cycles from accepting a vector's last bin to ``o.valid`` (stages 1 to 4)."""
        return 4

    def elaborate(self, platform):
        m = Module()
        arith = self._arith
        count = Signal(signed(arith.count_width))
        count_valid, count_last = Signal(), Signal()
        product = Signal(signed(arith.count_width + arith.table_width))
        product_valid, product_last = Signal(), Signal()
        acc = Signal(signed(arith.acc_width))
        acc_done = Signal()        # acc holds a finished vector; it goes to the output register now

        advance = ~(acc_done & self.o.valid & ~self.o.ready)
        m.d.comb += [
            self.i.ready.eq(advance),
            self.table.addr.eq(self.i.payload.bin),
            self.table.en.eq(self.i.valid & advance),
        ]
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(advance):
            m.d.sync += [
                count_valid.eq(self.i.valid),
                product_valid.eq(count_valid),
                acc_done.eq(product_valid & product_last),
            ]
        # Data registers load only with data (no idle toggling), each stage under its own enable.
        def stage(name, enable):
            return gated_domain(m, platform, name, advance & enable, clock_gating=self._clock_gating)

        (count_domain, count_load), (product_domain, product_load), (acc_domain, acc_load), \
            (result_domain, result_load) = (stage("count", self.i.valid), stage("product", count_valid),
                                            stage("acc", product_valid | acc_done), stage("result", acc_done))
        with m.If(count_load):
            m.d[count_domain] += [count.eq(self.i.payload.count), count_last.eq(self.i.payload.last)]
        with m.If(product_load):
            m.d[product_domain] += [product.eq(count * self.table.data), product_last.eq(count_last)]
        with m.If(acc_load):
            with m.If(product_valid):
                m.d[acc_domain] += acc.eq(Mux(acc_done, 0, acc) + product)
            with m.Else():
                m.d[acc_domain] += acc.eq(0)
        with m.If(result_load):
            m.d[result_domain] += self.o.payload.eq(round_shift_saturate(acc, self.shift, arith.out_width))
        with m.If(advance & acc_done):
            m.d.sync += self.o.valid.eq(1)
        return m
