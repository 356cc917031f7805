"""The DNA-TEQ processing element: exponent add, counting, drains, post-processing."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .counter_bank import CounterBank
from .hierarchy import place
from .interfaces import beat_layout, operand_layout, product_layout, shift_shape, table_read_signature
from .params import Configured, check_arith, check_bool, check_int, read_only
from .postproc import PostProcessor

__all__ = ["DnaTeqPe"]


def _pick(per_bank, bank):
    """``per_bank[bank]`` for one or two banks (a 2:1 multiplexer, no indexed array)."""
    return per_bank[0] if len(per_bank) == 1 else Mux(bank, per_bank[1], per_bank[0])


class DnaTeqPe(Configured, wiring.Component):
    """One output neuron at a time, by exponent counting (``docs/architecture.md`` §1-3).

    * Stage 1 (per lane, registered): ``exp_sum = w.exp + a.exp``, ``neg = w.sign ^ a.sign``,
      ``live = accepted & !w.zero & !a.zero``.
    * Stage 2: the :class:`CounterBank` adds each bin's signed hit count to the counting bank.
    * A *drain* hands a full bank to the :class:`PostProcessor`, one bin per cycle
      (``n_bins`` cycles), which accumulates ``C[k] * T[k]`` and emits ``Y`` after the vector's
      last drain.  A bank is drained at the end of every vector and after every
      ``arith.count_depth`` elements of a longer vector (chunked counting).

    With ``double_buffer`` the next chunk counts into the other bank while one drains.  ``i.ready``
    is low only while the beat it would accept has no empty bank to count into: when a chunk or
    vector ended and the other bank's drain is unfinished (without ``double_buffer``: from a
    chunk's end until its drain is over).  A blocked output holds the post-processor, which holds
    the drain, which eventually holds the input; nothing is lost.

    Parameters
    ----------
    arith : quant.arith.DnaTeqArith
        Datapath parameters; ``count_depth`` must be a multiple of ``lanes`` when it is below
        ``max_vector_length`` (chunks end on beat boundaries).
    lanes : int
        Elements per beat, 1..256.
    double_buffer : bool, optional
        Two counter banks (default True).

    Attributes
    ----------
    i : In(stream.Signature(beat_layout(operand_layout(exp_bits_w), operand_layout(exp_bits_a), lanes)))
        Input beats; padding lanes of a vector's last beat have ``zero = 1``.  Vectors are at most
        ``arith.max_vector_length`` elements long.
    o : Out(stream.Signature(signed(arith.out_width)))
        ``Y`` of each vector, in order.
    table : Out(table_read_signature(arith))
        Reads of the layer table ``T`` (``data`` = ``T[addr]`` the cycle after ``en``).
    shift : In(range(arith.acc_width))
        Output shift ``R`` of the layer.
    """

    role = "pe"
    module_name = "dnateq_pe"
    _PARAMETERS = ("arith", "lanes", "double_buffer")
    counter_bank = read_only("bank", "The :class:`CounterBank` submodule.")
    postproc = read_only("postproc", "The :class:`PostProcessor` submodule.")

    def __init__(self, *, arith, lanes, double_buffer=True):
        self._arith = check_arith(arith)
        self._lanes = check_int("lanes", lanes, 1, 256)
        self._double_buffer = check_bool("double_buffer", double_buffer)
        if self.chunked and arith.count_depth % self._lanes:
            raise ValueError(f"count_depth ({arith.count_depth}) must be a multiple of lanes ({self._lanes}) "
                             f"when it is below max_vector_length ({arith.max_vector_length})")
        self._bank = CounterBank(arith=arith, lanes=self._lanes, banks=2 if self._double_buffer else 1)
        self._postproc = PostProcessor(arith=arith)
        super().__init__({
            "i": In(stream.Signature(beat_layout(self.weight_lane, self.activation_lane, self._lanes))),
            "o": Out(stream.Signature(signed(arith.out_width))),
            "table": Out(table_read_signature(arith)),
            "shift": In(shift_shape(arith)),
        })

    @property
    def out_width(self):
        return self._arith.out_width

    @property
    def weight_lane(self):
        """Layout of one weight lane."""
        return operand_layout(self._arith.exp_bits_w)

    @property
    def activation_lane(self):
        """Layout of one activation lane."""
        return operand_layout(self._arith.exp_bits_a)

    @property
    def chunked(self):
        """Whether long vectors drain every ``count_depth`` elements (``count_depth < max_vector_length``)."""
        return self._arith.count_depth < self._arith.max_vector_length

    @property
    def drain_cycles(self):
        """Cycles a drain holds its bank (one per bin)."""
        return self._arith.n_bins

    @property
    def latency(self):
        """Cycles from accepting a vector's last beat to ``o.valid``, when the post-processor is idle.

        Stage 1, the bank update, ``n_bins - 1`` further drain cycles, then the post-processor.
        """
        return 1 + self._bank.latency + self.drain_cycles - 1 + self._postproc.latency

    def _stage1(self, m, accept):
        """Registered per-lane products of the accepted beat (``live`` is low for a bubble)."""
        products = Signal(data.ArrayLayout(product_layout(self._arith), self._lanes))
        for w, a, product in zip(self.i.payload.w, self.i.payload.a, products):
            m.d.sync += product.live.eq(accept & ~w.zero & ~a.zero)
            with m.If(accept):       # the other fields only load with data (no idle toggling)
                m.d.sync += [product.exp_sum.eq(w.exp + a.exp), product.neg.eq(w.sign ^ a.sign)]
                if self._arith.offsets:
                    m.d.sync += [product.w_exp.eq(w.exp), product.a_exp.eq(a.exp)]
        return products

    def _chunk_end(self, m, accept):
        """High when the beat on ``i`` closes a chunk: it ends the vector or fills ``count_depth``."""
        if not self.chunked:
            return self.i.payload.last
        beats = self._arith.count_depth // self._lanes
        beat = Signal(range(beats))
        ends = self.i.payload.last | (beat == beats - 1)
        with m.If(accept):
            m.d.sync += beat.eq(Mux(ends, 0, beat + 1))
        return ends

    def elaborate(self, platform):
        m = Module()
        m.submodules.counter_bank = bank = place(platform, self._bank)
        m.submodules.postproc = postproc = place(platform, self._postproc)
        banks, last_bin = self._bank.banks, self._arith.n_bins - 1

        accept = self.i.valid & self.i.ready
        chunk_end = self._chunk_end(m, accept)
        m.d.comb += bank.products.eq(self._stage1(m, accept))
        s1_valid, s1_ends, s1_last = Signal(), Signal(), Signal()
        m.d.sync += s1_valid.eq(accept)
        with m.If(accept):
            m.d.sync += [s1_ends.eq(chunk_end), s1_last.eq(self.i.payload.last)]

        # Banks fill and drain in turn.  `full`: the bank waits for or undergoes a drain;
        # `final`: its chunk ends a vector.  With one bank both pointers stay 0.
        count_bank = Signal()      # the bank stage 2 counts into
        drain_bank = Signal()      # the bank the next (or current) drain walks
        full = [Signal(name=f"full{b}") for b in range(banks)]
        final = [Signal(name=f"final{b}") for b in range(banks)]
        walk = Signal(range(self._arith.n_bins))       # bin the drain hands out this cycle
        closes = s1_valid & s1_ends
        drain_step = postproc.i.valid & postproc.i.ready
        drain_done = drain_step & (walk == last_bin)
        full_next = []
        for b in range(banks):
            fills = closes & (count_bank == b)
            full_next.append((full[b] & ~(drain_done & (drain_bank == b))) | fills)
            m.d.comb += [bank.count[b].eq(s1_valid & (count_bank == b)),
                         bank.shift[b].eq(drain_step & (drain_bank == b))]
            m.d.sync += full[b].eq(full_next[b])
            with m.If(fills):
                m.d.sync += final[b].eq(s1_last)
        count_bank_next = count_bank ^ closes if banks == 2 else count_bank
        # A beat accepted now counts next cycle into count_bank_next: that bank must be empty then.
        m.d.comb += self.i.ready.eq(~_pick(full_next, count_bank_next))

        m.d.comb += [
            postproc.i.valid.eq(_pick(full, drain_bank)),
            postproc.i.payload.count.eq(_pick(list(bank.heads), drain_bank)),
            postproc.i.payload.bin.eq(walk),
            postproc.i.payload.last.eq(_pick(final, drain_bank) & (walk == last_bin)),
            postproc.shift.eq(self.shift),
        ]
        with m.If(drain_step):
            m.d.sync += walk.eq(Mux(walk == last_bin, 0, walk + 1))
        if banks == 2:
            m.d.sync += count_bank.eq(count_bank_next)
            with m.If(drain_done):
                m.d.sync += drain_bank.eq(~drain_bank)
        wiring.connect(m, wiring.flipped(self.table), postproc.table)
        wiring.connect(m, postproc.o, wiring.flipped(self.o))
        return m
