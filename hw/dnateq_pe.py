"""The DNA-TEQ processing element: exponent add, counting, drains, post-processing."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .clock_gate import gated_domain
from .counter_bank import CounterBank
from .hierarchy import place
from .interfaces import beat_layout, operand_layout, product_layout, shift_shape, table_read_signature
from .params import Configured, check_arith, check_bool, check_int, read_only
from .postproc import PostProcessor

__all__ = ["DnaTeqPe"]


class DnaTeqPe(Configured, wiring.Component):
    """One output neuron at a time, by exponent counting (``docs/architecture.md`` §1-3).

    * Stage 1 (per lane, registered): ``exp_sum = w.exp + a.exp``, ``neg = w.sign ^ a.sign``,
      ``live = accepted & !w.zero & !a.zero``.
    * Stage 2: the :class:`CounterBank` adds each bin's signed hit count to the counting bank.
    * A *drain* hands a full bank to the :class:`PostProcessor`, one bin per cycle
      (``n_bins`` cycles), which accumulates ``C[k] * T[k]`` and emits ``Y`` after the vector's
      last drain.  The counts are drained at the end of every vector and after every
      ``arith.count_depth`` elements of a longer vector (chunked counting).

    With ``double_buffer`` a finished chunk moves to the shadow bank, which drains while the
    counting bank takes the next chunk.  ``i.ready`` is low only while the beat it would accept has
    no open counting bank: when a chunk or vector ended and the previous drain is unfinished
    (without ``double_buffer``: from a chunk's end until its drain is over).  A blocked output holds the post-processor, which holds
    the drain, which eventually holds the input; nothing is lost.

    Parameters
    ----------
    arith : quant.arith.DnaTeqArith
        Datapath parameters; ``count_depth`` must be a multiple of ``lanes`` when it is below
        ``max_vector_length`` (chunks end on beat boundaries).
    lanes : int
        Elements per beat, 1..256.
    double_buffer : bool, optional
        A shadow bank that drains while the counting bank counts (default True).

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
    _PARAMETERS = ("arith", "lanes", "double_buffer", "clock_gating")
    counter_bank = read_only("bank", "The :class:`CounterBank` submodule.")
    postproc = read_only("postproc", "The :class:`PostProcessor` submodule.")

    def __init__(self, *, arith, lanes, double_buffer=True, clock_gating=False):
        self._arith = check_arith(arith)
        self._lanes = check_int("lanes", lanes, 1, 256)
        self._double_buffer = check_bool("double_buffer", double_buffer)
        self._clock_gating = check_bool("clock_gating", clock_gating)
        if self.chunked and arith.count_depth % self._lanes:
            raise ValueError(f"count_depth ({arith.count_depth}) must be a multiple of lanes ({self._lanes}) "
                             f"when it is below max_vector_length ({arith.max_vector_length})")
        self._bank = CounterBank(arith=arith, lanes=self._lanes, shadow=self._double_buffer,
                                 clock_gating=self._clock_gating)
        self._postproc = PostProcessor(arith=arith, clock_gating=self._clock_gating)
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

    def _stage1(self, m, platform, accept):
        """Registered per-lane products of the accepted beat (``live`` is low for a bubble)."""
        products = Signal(data.ArrayLayout(product_layout(self._arith), self._lanes))
        domain, load = gated_domain(m, platform, "stage1", accept, clock_gating=self._clock_gating)
        for w, a, product in zip(self.i.payload.w, self.i.payload.a, products):
            m.d.sync += product.live.eq(accept & ~w.zero & ~a.zero)
            with m.If(load):       # the other fields only load with data (no idle toggling)
                m.d[domain] += [product.exp_sum.eq(w.exp + a.exp), product.neg.eq(w.sign ^ a.sign)]
                if self._arith.offsets:
                    m.d[domain] += [product.w_exp.eq(w.exp), product.a_exp.eq(a.exp)]
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
        last_bin = self._arith.n_bins - 1

        accept = self.i.valid & self.i.ready
        chunk_end = self._chunk_end(m, accept)
        m.d.comb += bank.products.eq(self._stage1(m, platform, accept))
        s1_valid, s1_ends, s1_last = Signal(), Signal(), Signal()
        m.d.sync += s1_valid.eq(accept)
        with m.If(accept):
            m.d.sync += [s1_ends.eq(chunk_end), s1_last.eq(self.i.payload.last)]

        # `closed`: the counting bank holds a finished chunk that no drain has taken yet;
        # `draining`: the drained bank (the shadow bank, else the counting bank) is being walked,
        # `final`: its chunk ends a vector; `walk`: the bin it hands out this cycle.
        closes = s1_valid & s1_ends          # a chunk's last beat is counted this cycle
        closed, draining, final = Signal(), Signal(), Signal()
        walk = Signal(range(self._arith.n_bins))
        drain_step = postproc.i.valid & postproc.i.ready
        drain_done = drain_step & (walk == last_bin)
        if self._double_buffer:
            # The finished chunk goes to the shadow bank as soon as it is free (in its drain's last
            # cycle at the earliest); the counting bank restarts from zero in the same cycle.
            final_pending = Signal()
            finished = closes | closed
            transfer = finished & (~draining | drain_done)
            closed_next = finished & ~transfer
            m.d.comb += [bank.load.eq(transfer), bank.clear.eq(transfer)]
            with m.If(closes):
                m.d.sync += final_pending.eq(s1_last)
            with m.If(transfer):
                m.d.sync += final.eq(Mux(closed, final_pending, s1_last))
        else:
            # The counting bank drains itself and restarts from zero in the drain's last cycle
            # (no lane is live then: the input waits for the drain).
            transfer = closes
            closed_next = (draining & ~drain_done) | closes
            m.d.comb += bank.clear.eq(drain_done)
            with m.If(closes):
                m.d.sync += final.eq(s1_last)
        m.d.sync += [closed.eq(closed_next), draining.eq((draining & ~drain_done) | transfer)]
        # A beat accepted now is counted next cycle: the counting bank must be open then.
        m.d.comb += self.i.ready.eq(~closed_next)

        m.d.comb += [
            bank.addr.eq(walk),
            postproc.i.valid.eq(draining),
            postproc.i.payload.count.eq(bank.head),
            postproc.i.payload.bin.eq(walk),
            postproc.i.payload.last.eq(final & (walk == last_bin)),
            postproc.shift.eq(self.shift),
        ]
        with m.If(drain_step):
            m.d.sync += walk.eq(Mux(walk == last_bin, 0, walk + 1))
        wiring.connect(m, wiring.flipped(self.table), postproc.table)
        wiring.connect(m, postproc.o, wiring.flipped(self.o))
        return m
