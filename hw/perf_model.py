"""Performance model of the accelerator: cycles per layer, PE utilization, elements per cycle.

Everything comes from the manifest (array shape, drain cycles, latencies, buffer depths).  The
model follows a layer through the controller's loop order (``hw.controller``) with the timing
rules of the blocks:

* a row block's weights load at one entry per cycle (``tiles holding rows < M`` x ``ceil(N/L)``
  beats), after the previous block's last beat was issued; the first beat is issued the cycle
  after the load and reaches the tiles one cycle later (the buffer read);
* within a block a beat is issued in the cycle the tiles accept the previous one, so beats move
  every cycle unless the PEs stall: the DNA-TEQ stall rule (:class:`DnaTeqPeTiming`, one drain of
  ``n_bins`` cycles per chunk, serialised, with or without a shadow bank) or none (INT8);
* a ``Y`` appears ``postproc`` cycles after its last drain (DNA-TEQ) or 3 cycles after the last
  beat (INT8); the output buffer takes it that cycle, and the output stream sends the column's
  tile beats from two cycles later, one per cycle, after the previous column's;
* the layer ends (``STATUS.done``, the ``CYCLES`` register) with the last output beat.

It assumes streams that never stall (inputs always valid, output always ready), activation
and output buffers of at least two entries, and an output buffer that never fills.  Under these
assumptions it gives ``CYCLES`` exactly (``tests/test_perf_model.py`` checks this against
``amaranth.sim``).  When the output stream cannot keep up with the PEs (more tile beats per column
than cycles per column) the output buffer may fill and hold the PEs: the model then reports
``exact = False`` and its cycles are a lower bound.
"""

from dataclasses import dataclass

from .controller import row_blocks

__all__ = ["DnaTeqPeTiming", "Int8PeTiming", "LayerPerformance", "PerfModel"]


def _ceil_div(a, b):
    return -(-a // b)


class DnaTeqPeTiming:
    """When a :class:`hw.DnaTeqPe` (or a tile of them) accepts beats and emits ``Y``.

    A chunk (a vector, or each ``chunk_beats`` beats of a longer one) counts into the counting
    bank, which must be open: its first beat waits for that; its drain starts two cycles (stage 1
    and the bank update) after its last beat, once the previous drain is over, and lasts
    ``n_bins`` cycles.  The counting bank takes beats again from the cycle before that drain
    (the chunk moves to the shadow bank), or without a shadow bank from the drain's last cycle.  ``Y`` is out ``postproc_latency``
    cycles after the vector's last drain cycle.

    Parameters
    ----------
    n_bins : int
    shadow : bool
        Whether the PE has a shadow bank (``double_buffer``).
    chunk_beats : int or None
        Beats between drains of a long vector (None: one drain per vector).
    bank_latency, postproc_latency : int
        The counter bank's and the post-processor's ``latency``.
    """

    def __init__(self, *, n_bins, shadow, chunk_beats, bank_latency, postproc_latency):
        self._n_bins, self._shadow, self._chunk_beats = n_bins, shadow, chunk_beats
        self._bank_latency, self._postproc_latency = bank_latency, postproc_latency
        self._bank_free, self._drain_free = 0, 0

    def vector(self, beats, present):
        """Accept a vector of ``beats`` beats, the first presented in cycle ``present`` and each next one
        in the cycle after its predecessor is accepted; returns (accept cycle of every beat, ``Y`` cycle)."""
        depth = self._chunk_beats or beats
        accepts, cycle = [], present
        for start in range(0, beats, depth):
            size = min(depth, beats - start)
            first = max(cycle, self._bank_free)
            end = first + size - 1
            drain = max(end + 1 + self._bank_latency, self._drain_free)
            self._drain_free = drain + self._n_bins
            self._bank_free = drain - 1 if self._shadow else self._drain_free - 1
            accepts.extend(range(first, end + 1))
            cycle = end + 1
        return accepts, self._drain_free - 1 + self._postproc_latency


class Int8PeTiming:
    """When a :class:`hw.Int8Pe` accepts beats (every cycle) and emits ``Y`` (``latency`` after the last beat)."""

    def __init__(self, *, latency):
        self._latency = latency

    def vector(self, beats, present):
        """As :meth:`DnaTeqPeTiming.vector`."""
        return list(range(present, present + beats)), present + beats - 1 + self._latency


@dataclass(frozen=True)
class LayerPerformance:
    """Predicted figures of one layer ``Y[M, K] = W[M, N] x A[N, K]``.

    Attributes
    ----------
    cycles : int
        Cycles from ``CTRL.start`` to the end of the layer (the ``CYCLES`` register).
    exact : bool
        False when the output buffer may fill and hold the PEs (``cycles`` is then a lower bound).
    elements : int
        Useful multiply-accumulates (``M * N * K``).
    peak_elements_per_cycle : int
        ``pe_count * lanes``.
    load_cycles, beat_cycles, stall_cycles, tail_cycles : int
        Where the cycles go: weight loading (no beat can move), beats moving into the tiles,
        PEs holding the beats (drains), and from the last beat to the last output beat.
    row_occupancy, lane_occupancy : float
        Fraction of PEs holding rows ``< M``, of lanes holding elements ``< N``.
    """

    cycles: int
    exact: bool
    elements: int
    peak_elements_per_cycle: int
    load_cycles: int
    beat_cycles: int
    stall_cycles: int
    tail_cycles: int
    row_occupancy: float
    lane_occupancy: float

    @property
    def elements_per_cycle(self):
        return self.elements / self.cycles

    @property
    def utilization(self):
        """Useful element operations per PE lane per cycle."""
        return self.elements_per_cycle / self.peak_elements_per_cycle


@dataclass(frozen=True)
class PerfModel:
    """The model of one generated accelerator; build it with :meth:`from_manifest`."""

    pe_kind: str
    tiles: int
    pes_per_tile: int
    lanes: int
    max_n: int
    output_depth: int
    pe_latency: int
    n_bins: int = 0
    shadow: bool = False
    chunk_beats: int = None
    bank_latency: int = 0
    postproc_latency: int = 0

    @classmethod
    def from_manifest(cls, manifest):
        """The model of the accelerator a ``manifest.json`` (as a dict) describes."""
        if "max_n" not in manifest:
            raise ValueError("the manifest describes no accelerator (generate it with --top accelerator)")
        latency = manifest["latency"]
        common = {"pe_kind": manifest["pe_kind"], "tiles": manifest["tiles"],
                  "pes_per_tile": manifest["pes_per_tile"], "lanes": manifest["lanes"], "max_n": manifest["max_n"],
                  "output_depth": manifest["buffers"]["outputs"]["depth"], "pe_latency": latency["pe"]}
        if manifest["pe_kind"] != "dnateq":
            return cls(**common)
        drain, lanes = manifest["drain"], manifest["lanes"]
        return cls(**common, n_bins=drain["cycles"], shadow=drain["double_buffer"],
                   chunk_beats=manifest["arith"]["count_depth"] // lanes if drain["chunked"] else None,
                   bank_latency=latency["counter_bank"], postproc_latency=latency["postproc"])

    @property
    def rows_per_block(self):
        return self.tiles * self.pes_per_tile

    @property
    def peak_elements_per_cycle(self):
        return self.rows_per_block * self.lanes

    def pe_timing(self):
        """A fresh timing model of one PE (every PE of every tile moves in lockstep)."""
        if self.pe_kind == "dnateq":
            return DnaTeqPeTiming(n_bins=self.n_bins, shadow=self.shadow, chunk_beats=self.chunk_beats,
                                  bank_latency=self.bank_latency, postproc_latency=self.postproc_latency)
        return Int8PeTiming(latency=self.pe_latency)

    def layer(self, m, n, k):
        """:class:`LayerPerformance` of an ``M x N`` by ``N x K`` layer."""
        for name, value in (("M", m), ("N", n), ("K", k)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if n > self.max_n:
            raise ValueError(f"N = {n} is above the accelerator's MAX_N ({self.max_n})")
        beats = _ceil_div(n, self.lanes)
        pe = self.pe_timing()
        load_start, load_cycles, stall_cycles, beat_total = 1, 0, 0, 0
        emit_end, writes, pops = 0, [], []
        blocks = row_blocks(m, tiles=self.tiles, pes_per_tile=self.pes_per_tile)
        for _, tiles in blocks:
            load_cycles += tiles * beats
            present = first_present = load_start + tiles * beats + 1   # issued after the load, read one cycle
            block_accepts = []
            for _ in range(k):
                accepts, result = pe.vector(beats, present)
                stall_cycles += accepts[-1] - present + 1 - beats
                block_accepts += accepts[-2:]
                present = accepts[-1] + 1
                emit_start = max(result + 2, emit_end + 1)   # output buffer write, read, then the stream
                emit_end = emit_start + tiles - 1
                writes.append(result)
                pops.append(emit_start - 1)
            beat_total += k * beats
            # The next load starts after the cycle that issued this block's last beat: the cycle its
            # predecessor was accepted (or the block's first issue cycle, for a one-beat block).
            load_start = (block_accepts[-2] if len(block_accepts) > 1 else first_present - 1) + 1
        last_accept = present - 1
        return LayerPerformance(
            cycles=emit_end, exact=self._output_buffer_never_fills(writes, pops), elements=m * n * k,
            peak_elements_per_cycle=self.peak_elements_per_cycle, load_cycles=load_cycles,
            beat_cycles=beat_total, stall_cycles=stall_cycles, tail_cycles=emit_end - last_accept,
            row_occupancy=m / (len(blocks) * self.rows_per_block), lane_occupancy=n / (beats * self.lanes))

    def _output_buffer_never_fills(self, writes, pops):
        """Every result finds fewer than ``output_depth`` entries in the output buffer (results are written
        at ``writes`` and read at ``pops``)."""
        pending, first = 0, 0
        for index, write in enumerate(writes):
            while first < index and pops[first] < write:
                first += 1
            pending = index - first
            if pending >= self.output_depth:
                return False
        return True
