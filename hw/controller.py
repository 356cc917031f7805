"""The accelerator's controller: walks a layer ``Y[M, K] = W[M, N] x A[N, K]`` in the documented loop order.

Loop order (``docs/hardware.md``, *Accelerator*), with ``R = tiles * pes_per_tile`` rows per block::

    for each row block (R rows of W; the last may hold fewer):
        load W[block] into the weight buffers        tile t holds rows t*P .. t*P+P-1, one beat per entry
        for k in 0 .. K-1:                             A[:, k] streams through the activation buffer
            every PE of every tile computes one Y       (its row of W x column k)
            the outputs go out tile by tile             only tiles that hold rows < M

A weight is fetched from the stream once per layer and read from its buffer K times; an
activation beat is read from its buffer once and broadcast to every PE; the activation stream
carries A once per row block.

Four walkers follow that order, each with its own counters (none divides): the weight loader
(``block, tile, beat``), the activation input (``block, column, beat``), the issue to the tiles
(``block, column, beat``) and the output (``block, column, tile``).  The activation and output
buffers are FIFOs between them.
"""

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .buffer import buffer_port
from .params import Configured, check_int

__all__ = ["Cause", "DIM_BITS", "max_vector", "row_blocks", "shape_layout", "status_layout", "packet_signature",
           "Controller"]

#: Bits of the M, N, K registers.
DIM_BITS = 32


class Cause:
    """Values of ``status.cause``: why the last layer set ``error``."""

    NONE = 0
    EMPTY = 1          # M, N or K is 0 (start refused)
    TOO_LONG = 2       # N exceeds the weight buffer or max_vector_length (start refused)
    FORMAT = 3         # code widths or shift beyond the hardware (start refused)
    FRAMING = 4        # an input TLAST disagreed with the layer's packets (the layer still runs)

    DESCRIPTIONS = {NONE: "no error", EMPTY: "M, N or K is 0 (start refused)",
                    TOO_LONG: "N is above MAX_N (start refused)",
                    FORMAT: "a code width or the shift is beyond the hardware (start refused)",
                    FRAMING: "an input TLAST was not where the layer's packets end (the layer ran to its end)"}


def row_blocks(m, *, tiles, pes_per_tile):
    """``(first row, tiles holding rows < M)`` of every row block of an ``M``-row layer, in loop order."""
    rows = tiles * pes_per_tile
    return [(start, min(tiles, -(-(m - start) // pes_per_tile))) for start in range(0, m, rows)]


def max_vector(*, max_vector_length, weight_depth, lanes):
    """Longest ``N`` of a layer: the PEs' ``max_vector_length``, and a row of ``W`` must fit a weight buffer."""
    return min(max_vector_length, weight_depth * lanes)


def shape_layout():
    return data.StructLayout({"m": DIM_BITS, "n": DIM_BITS, "k": DIM_BITS})


def status_layout():
    return data.StructLayout({"busy": 1, "done": 1, "error": 1, "cause": 3})


def packet_signature(fields=None):
    """A handshake whose payload is ``last`` (end of packet) and ``fields``."""
    return stream.Signature(data.StructLayout({"last": 1, **(fields or {})}))


def _wrap(counter, size):
    """``counter + 1`` modulo ``size`` (FIFO pointers of any depth)."""
    return Mux(counter == size - 1, 0, counter + 1)


class _Vector:
    """Position in an ``n``-element vector read in beats of ``lanes``: its first element (and beat
    index, the buffer address, when the vector lives in a buffer of ``depth`` entries)."""

    def __init__(self, name, lanes, n, depth=None):
        self.lanes, self.n = lanes, n
        self.beat = Signal(range(depth), name=f"{name}_beat") if depth else None
        self.first = Signal(DIM_BITS, name=f"{name}_first")
        self.last = Signal(name=f"{name}_last_beat")      # this beat ends the vector

    def clear(self):
        return [counter.eq(0) for counter in (self.beat, self.first) if counter is not None]

    def walk(self, m, step):
        m.d.comb += self.last.eq(self.first + self.lanes >= self.n)
        with m.If(step):
            m.d.sync += self.first.eq(Mux(self.last, 0, self.first + self.lanes))
            if self.beat is not None:
                m.d.sync += self.beat.eq(Mux(self.last, 0, self.beat + 1))


class Controller(Configured, wiring.Component):
    """Sequencing of a layer: stream intake, buffer addresses, the tiles' beats, the output order.

    Timing: a beat is presented to the tiles (``beat.valid``) the cycle after its buffer read; an
    output beat (``outputs.valid``) the cycle after its output buffer read.  Both reads prefetch,
    so beats and output beats can move every cycle.  ``status.busy`` rises the cycle after a valid
    ``start`` and falls when the layer's last output beat is accepted (then ``done``); a refused
    start sets ``done``, ``error`` and ``cause`` without going busy.

    Parameters
    ----------
    tiles, pes_per_tile, lanes : int
        Array shape.
    weight_depth, activation_depth, output_depth : int
        Buffer entries, at least 2.
    max_vector_length : int
        Longest vector the PEs take; ``N`` must also fit the weight buffer (``weight_depth * lanes``).
    prefix : str
        First part of the Verilog module name (the PE kind).

    Attributes
    ----------
    start : In(1)
        Start a layer (one-cycle pulse; ignored while busy).
    shape : In(shape_layout())
        ``M``, ``N``, ``K``.
    format_error : In(1)
        The layer's code format is beyond the hardware (checked at start).
    status : Out(status_layout())
    cycles : Out(32)
        Cycles from the start to the end of the last layer (counting while busy).
    weights, activations : In(packet_signature())
        Handshakes of the weight and activation streams (``last`` = TLAST); the data go to the buffers.
    weight_write : Out(addr, en[tiles])
        Entry of the weight buffer of the tile being loaded.
    activation_write, activation_read, output_write, output_read : Out(addr, en)
    weight_read : Out(addr, en)
        Read of every tile's weight buffer (they are read in lockstep).
    beat : Out(packet_signature(live_lanes))
        The beat on the buffers' read data: ``last`` ends a vector, ``live_lanes`` are not padding.
    result_valid : In(1), result_ready : Out(1)
        The tiles' output handshake (all tiles finish a vector together).
    outputs : Out(packet_signature(tile))
        The output stream: ``tile`` selects the output buffer read data; ``last`` ends the layer.
    """

    role = "controller"
    _PARAMETERS = ("tiles", "pes_per_tile", "lanes", "weight_depth", "activation_depth", "output_depth",
                   "max_vector_length")

    def __init__(self, *, tiles, pes_per_tile, lanes, weight_depth, activation_depth, output_depth,
                 max_vector_length, prefix):
        self._tiles = check_int("tiles", tiles, 1, (1 << 16) - 1)
        self._pes_per_tile = check_int("pes_per_tile", pes_per_tile, 1, 4096)
        self._lanes = check_int("lanes", lanes, 1, 256)
        # Two entries at least: a FIFO of one would be full every other cycle and halve its rate (and
        # a weight buffer of one would need zero-width addresses).
        self._weight_depth = check_int("weight_depth", weight_depth, 2, 1 << 20)
        self._activation_depth = check_int("activation_depth", activation_depth, 2, 1 << 20)
        self._output_depth = check_int("output_depth", output_depth, 2, 1 << 20)
        self._max_vector_length = check_int("max_vector_length", max_vector_length, 1, 1 << 24)
        self.module_name = f"{prefix}_controller"
        weights, activations, outputs = self._weight_depth, self._activation_depth, self._output_depth
        super().__init__({
            "start": In(1), "shape": In(shape_layout()), "format_error": In(1),
            "status": Out(status_layout()), "cycles": Out(32),
            "weights": In(packet_signature()), "activations": In(packet_signature()),
            "weight_write": Out(buffer_port(weights, enables=self._tiles)),
            "activation_write": Out(buffer_port(activations)),
            "weight_read": Out(buffer_port(weights)),
            "activation_read": Out(buffer_port(activations)),
            "beat": Out(packet_signature({"live_lanes": range(self._lanes + 1)})),
            "result_valid": In(1), "result_ready": Out(1),
            "output_write": Out(buffer_port(outputs)),
            "output_read": Out(buffer_port(outputs)),
            "outputs": Out(packet_signature({"tile": self._tile_shape})),
        })

    @property
    def _tile_shape(self):
        """A tile index (one bit at least: Verilog has no zero-width vectors)."""
        return range(max(self._tiles, 2))

    @property
    def rows_per_block(self):
        """Rows of ``W`` a block holds: every PE of every tile."""
        return self._tiles * self._pes_per_tile

    @property
    def max_n(self):
        """Longest ``N`` (:func:`max_vector`)."""
        return max_vector(max_vector_length=self._max_vector_length, weight_depth=self._weight_depth,
                          lanes=self._lanes)

    @property
    def latency(self):
        """Cycles from a buffer read to the beat it presents (tiles or output stream)."""
        return 1

    def elaborate(self, platform):
        m = Module()
        P, R = self._pes_per_tile, self.rows_per_block
        M, N, K = self.shape.m, self.shape.n, self.shape.k
        busy, done, error, cause, framing = Signal(), Signal(), Signal(), Signal(3), Signal()
        # A busy layer is loading a block's weights, or running its columns, or (after the last
        # block) waiting for its last outputs.
        loading, running = Signal(), Signal()
        m.d.comb += [self.status.busy.eq(busy), self.status.done.eq(done), self.status.error.eq(error),
                     self.status.cause.eq(cause)]

        # Walkers, each in the loop order of its stream.
        w_vector = _Vector("load", self._lanes, N, self._weight_depth)
        w_tile, w_row = Signal(self._tile_shape), Signal(DIM_BITS + 1)
        a_vector = _Vector("intake", self._lanes, N)
        a_column, a_block, a_done = Signal(DIM_BITS), Signal(DIM_BITS + 1), Signal()
        i_vector = _Vector("issue", self._lanes, N, self._weight_depth)
        i_column, i_block = Signal(DIM_BITS), Signal(DIM_BITS + 1)
        o_tile, o_row = Signal(self._tile_shape), Signal(DIM_BITS + 1)
        o_column, o_block = Signal(DIM_BITS), Signal(DIM_BITS + 1)
        # FIFO state of the activation and output buffers.
        a_write_at, a_read_at = Signal(range(self._activation_depth)), Signal(range(self._activation_depth))
        a_count = Signal(range(self._activation_depth + 1))
        o_write_at, o_read_at = Signal(range(self._output_depth)), Signal(range(self._output_depth))
        o_count = Signal(range(self._output_depth + 1))
        walkers = [w_tile, w_row, a_column, a_block, a_done, i_column, i_block, o_tile, o_row, o_column,
                   o_block, a_write_at, a_read_at, a_count, o_write_at, o_read_at, o_count]

        with m.If(busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)

        # Weight loader: tile by tile, a row of beats each.
        w_take = self.weights.valid & self.weights.ready
        w_tile_last = (w_tile == self._tiles - 1) | (w_row + P >= M)
        w_vector.walk(m, w_take)
        m.d.comb += [self.weights.ready.eq(loading), self.weight_write.addr.eq(w_vector.beat),
                     self.weight_write.en.eq(Cat(w_take & (w_tile == t) for t in range(self._tiles)))]
        loaded = w_take & w_vector.last & w_tile_last
        with m.If(w_take & w_vector.last):
            m.d.sync += [w_tile.eq(Mux(w_tile_last, 0, w_tile + 1)), w_row.eq(w_row + P)]
        with m.If(w_take & (self.weights.payload.last != loaded)):
            m.d.sync += framing.eq(1)

        # Activation intake: column by column, the whole of A once per row block.
        a_take = self.activations.valid & self.activations.ready
        a_vector.walk(m, a_take)
        a_column_last, a_block_last = a_column == K - 1, a_block + R >= M
        m.d.comb += [self.activations.ready.eq(busy & ~a_done & (a_count != self._activation_depth)),
                     self.activation_write.addr.eq(a_write_at), self.activation_write.en.eq(a_take)]
        with m.If(a_take):
            m.d.sync += a_write_at.eq(_wrap(a_write_at, self._activation_depth))
            with m.If(self.activations.payload.last != a_vector.last):
                m.d.sync += framing.eq(1)
            with m.If(a_vector.last):
                m.d.sync += [a_column.eq(Mux(a_column_last, 0, a_column + 1)),
                             a_block.eq(Mux(a_column_last, a_block + R, a_block))]
                with m.If(a_column_last & a_block_last):
                    m.d.sync += a_done.eq(1)

        # Issue: a beat per cycle from both buffers while the tiles take them.  The buffers read only
        # when a beat is issued; their read data hold while the tiles stall.
        advance = ~self.beat.valid | self.beat.ready
        issue = running & (a_count != 0) & advance
        i_vector.walk(m, issue)
        i_column_last, i_block_last = i_column == K - 1, i_block + R >= M
        m.d.comb += [self.weight_read.addr.eq(i_vector.beat), self.weight_read.en.eq(issue),
                     self.activation_read.addr.eq(a_read_at), self.activation_read.en.eq(issue)]
        with m.If(advance):
            m.d.sync += self.beat.valid.eq(issue)
        with m.If(issue):
            m.d.sync += [a_read_at.eq(_wrap(a_read_at, self._activation_depth)),
                         self.beat.payload.last.eq(i_vector.last),
                         self.beat.payload.live_lanes.eq(Mux(i_vector.last, N - i_vector.first, self._lanes))]
            with m.If(i_vector.last):
                m.d.sync += [i_column.eq(Mux(i_column_last, 0, i_column + 1)),
                             i_block.eq(Mux(i_column_last, i_block + R, i_block))]
        m.d.sync += a_count.eq(a_count + a_take - issue)
        block_issued = issue & i_vector.last & i_column_last

        # Results of the tiles into the output buffer.
        o_write = self.result_valid & self.result_ready
        m.d.comb += [self.result_ready.eq(o_count != self._output_depth),
                     self.output_write.addr.eq(o_write_at), self.output_write.en.eq(o_write)]
        with m.If(o_write):
            m.d.sync += o_write_at.eq(_wrap(o_write_at, self._output_depth))

        # Output: an entry per column, its tiles one beat each, only tiles holding rows < M.
        o_take = self.outputs.valid & self.outputs.ready
        o_tile_last = (o_tile == self._tiles - 1) | (o_row + P >= M)
        o_column_last, o_block_last = o_column == K - 1, o_block + R >= M
        o_advance = ~self.outputs.valid | (self.outputs.ready & o_tile_last)
        o_pop = o_advance & (o_count != 0)
        m.d.comb += [self.output_read.addr.eq(o_read_at), self.output_read.en.eq(o_pop),
                     self.outputs.payload.tile.eq(o_tile),
                     self.outputs.payload.last.eq(o_tile_last & o_column_last & o_block_last)]
        with m.If(o_advance):
            m.d.sync += self.outputs.valid.eq(o_pop)
        with m.If(o_pop):
            m.d.sync += o_read_at.eq(_wrap(o_read_at, self._output_depth))
        m.d.sync += o_count.eq(o_count + o_write - o_pop)
        with m.If(o_take):
            with m.If(~o_tile_last):
                m.d.sync += [o_tile.eq(o_tile + 1), o_row.eq(o_row + P)]
            with m.Else():
                next_block = Mux(o_column_last, o_block + R, o_block)
                m.d.sync += [o_tile.eq(0), o_row.eq(next_block), o_block.eq(next_block),
                             o_column.eq(Mux(o_column_last, 0, o_column + 1))]
        finished = o_take & self.outputs.payload.last

        refused = Signal(3)
        m.d.comb += refused.eq(Mux((M == 0) | (N == 0) | (K == 0), Cause.EMPTY,
                                   Mux(N > self.max_n, Cause.TOO_LONG,
                                       Mux(self.format_error, Cause.FORMAT, Cause.NONE))))
        with m.If(self.start & ~busy):
            m.d.sync += [done.eq(refused != Cause.NONE), error.eq(refused != Cause.NONE), cause.eq(refused)]
            with m.If(refused == Cause.NONE):
                m.d.sync += [busy.eq(1), loading.eq(1), framing.eq(0), self.cycles.eq(0),
                             *w_vector.clear(), *a_vector.clear(), *i_vector.clear(),
                             *(walker.eq(0) for walker in walkers)]
        with m.If(loaded):
            m.d.sync += [loading.eq(0), running.eq(1)]
        with m.If(block_issued):
            m.d.sync += [running.eq(0), loading.eq(~i_block_last)]
        with m.If(finished):
            m.d.sync += [busy.eq(0), done.eq(1), error.eq(framing),
                         cause.eq(Mux(framing, Cause.FRAMING, Cause.NONE))]
        return m
