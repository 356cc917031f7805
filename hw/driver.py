"""Host-side driver of the accelerator: layer -> register writes and stream packets, result words -> ``Y``.

The one place where the stream packing is defined (``docs/hardware.md``, *Accelerator*); it reads
every parameter from the manifest that ``python -m rtl_gen`` wrote.  Pure Python and NumPy:
cocotb benches, ``amaranth.sim`` tests and demos drive the hardware with what it returns.

Packing, with ``P`` PEs per tile, ``L`` lanes, ``R = tiles * P`` rows per block, ``B = ceil(N/L)``:

* weights (``s_axis_w``): one packet per row block; in it, for every tile holding rows ``< M``,
  ``B`` beats; beat ``j`` of tile ``t`` holds ``W[row, j*L + l]`` in slot ``p*L + l`` (bits
  ``(p*L + l) * w_slot`` up) for ``row = block*R + t*P + p``.  Rows ``>= M`` and columns ``>= N``
  are code 0.
* activations (``s_axis_a``): per row block, per column ``k``, one packet of ``B`` beats; beat
  ``j`` holds ``A[j*L + l, k]`` in slot ``l``.  ``A`` is sent once per row block.
* outputs (``m_axis_y``): per row block, per column, per tile holding rows ``< M``, one beat whose
  word ``p`` (bits ``p * out_width`` up, two's complement) is ``Y[block*R + t*P + p, k]``; TLAST
  on the layer's last beat.

A code occupies a slot of the widest code of the hardware (``exp_bits + 1`` bits for DNA-TEQ, 8
for INT8), zero-extended; bytes past the last slot of a beat are zero.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from quant.arith import LayerProgram

from .controller import row_blocks
from .interfaces import unpack_signed

__all__ = ["RegisterWrite", "LayerTransactions", "Driver"]


@dataclass(frozen=True)
class RegisterWrite:
    """One AXI4-Lite write: ``value`` to byte ``offset`` (register ``name``)."""

    name: str
    offset: int
    value: int


@dataclass
class LayerTransactions:
    """Everything the host exchanges with the accelerator for one layer, in order.

    Attributes
    ----------
    shape : tuple
        ``(M, N, K)``.
    register_writes : list of RegisterWrite
        Configuration (and the layer table), then ``CTRL.start``.
    weight_packets, activation_packets : list of list of int
        ``TDATA`` words of each packet, in stream order (TLAST on each packet's last word).
    output_beats : int
        Beats the layer sends on ``m_axis_y`` (TLAST on the last one).
    feed_order : list of (str, int)
        ``("weights" | "activations", packet index)``: an order in which one sequential feeder
        can send the packets (a row block's weights before its activations); results must be
        read concurrently.
    """

    shape: tuple
    register_writes: list
    weight_packets: list
    activation_packets: list
    output_beats: int
    feed_order: list = field(default_factory=list)


def _pack(slots, slot_bits, word_bits):
    """Python ints of words whose slots (last axis of ``slots``, non-negative) are ``slot_bits`` wide."""
    slots = np.asarray(slots, dtype=np.int64).reshape(-1, slots.shape[-1])
    bits = (slots[:, :, None] >> np.arange(slot_bits)) & 1
    bits = bits.reshape(len(slots), -1).astype(np.uint8)
    bits = np.pad(bits, ((0, 0), (0, word_bits - bits.shape[1])))
    rows = np.packbits(bits, axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in rows]


class Driver:
    """Packs layers for, and decodes results of, the accelerator a manifest describes.

    Parameters
    ----------
    manifest : dict
        ``manifest.json`` of an accelerator (``--top accelerator``).
    """

    def __init__(self, manifest):
        if "s_axis_w" not in manifest.get("axi", {}):
            raise ValueError("the manifest describes no accelerator (generate it with --top accelerator)")
        self._manifest = manifest
        self._registers = {register["name"]: register for register in manifest["registers"]}
        axi = manifest["axi"]
        self.kind = manifest["pe_kind"]
        self.tiles, self.pes_per_tile, self.lanes = manifest["tiles"], manifest["pes_per_tile"], manifest["lanes"]
        self.weight_slot, self.activation_slot = axi["s_axis_w"]["slot_bits"], axi["s_axis_a"]["slot_bits"]
        self.out_width = axi["m_axis_y"]["word_bits"]
        self._widths = {stream: axi[stream]["data_width"] for stream in ("s_axis_w", "s_axis_a")}
        self.max_n = self.field_value("MAX_N", "max_n")

    @classmethod
    def from_file(cls, path):
        """A driver for the manifest at ``path`` (a ``manifest.json`` or its folder)."""
        path = Path(path)
        return cls(json.loads((path / "manifest.json" if path.is_dir() else path).read_text()))

    @property
    def manifest(self):
        return self._manifest

    @property
    def rows_per_block(self):
        return self.tiles * self.pes_per_tile

    # ---- registers ----------------------------------------------------------------------------
    def register(self, name):
        """The manifest record of register ``name``."""
        try:
            return self._registers[name]
        except KeyError:
            raise ValueError(f"the {self.kind} accelerator has no register {name}") from None

    def offset(self, name, index=0):
        """Byte offset of register ``name`` (word ``index`` of a window)."""
        register = self.register(name)
        if not 0 <= index < register["count"]:
            raise ValueError(f"{name} has {register['count']} words, not {index + 1}")
        return register["offset"] + 4 * index

    def encode(self, name, **values):
        """The word to write to register ``name`` with the given field values (others 0)."""
        fields = {f["name"]: f for f in self.register(name)["fields"]}
        word = 0
        for key, value in values.items():
            if key not in fields:
                raise ValueError(f"register {name} has no field {key}")
            width, lsb = fields[key]["width"], fields[key]["lsb"]
            if not -(1 << (width - 1)) <= int(value) < 1 << width:
                raise ValueError(f"{name}.{key} = {value} does not fit {width} bits")
            word |= (int(value) & ((1 << width) - 1)) << lsb
        return word

    def decode(self, name, word):
        """Field values of a word read from register ``name``."""
        return {f["name"]: (word >> f["lsb"]) & ((1 << f["width"]) - 1) for f in self.register(name)["fields"]}

    def field_value(self, name, field_name):
        """The constant value of a read-only field (identification and limits)."""
        return next(f["value"] for f in self.register(name)["fields"] if f["name"] == field_name)

    def write(self, name, **values):
        return RegisterWrite(name, self.offset(name), self.encode(name, **values))

    # ---- streams --------------------------------------------------------------------------------
    def _blocks(self, m):
        return row_blocks(m, tiles=self.tiles, pes_per_tile=self.pes_per_tile)

    def pack_weights(self, w_codes):
        """One packet per row block of the weight codes ``[M, N]`` (non-negative slot values)."""
        w = np.asarray(w_codes)
        m, n = w.shape
        p, lanes = self.pes_per_tile, self.lanes
        beats = -(-n // lanes)
        packets = []
        for start, tiles in self._blocks(m):
            rows = np.zeros((tiles * p, beats * lanes), dtype=np.int64)
            block = w[start:start + tiles * p]
            rows[:len(block), :n] = block
            # [tile, p, beat, lane] -> beats of [p, lane] slots, tile-major
            slots = rows.reshape(tiles, p, beats, lanes).transpose(0, 2, 1, 3).reshape(tiles * beats, p * lanes)
            packets.append(_pack(slots, self.weight_slot, self._widths["s_axis_w"]))
        return packets

    def pack_activations(self, a_codes, m):
        """The activation packets (one per column, all columns once per row block of an ``M``-row layer)."""
        a = np.asarray(a_codes)
        n, k = a.shape
        lanes = self.lanes
        beats = -(-n // lanes)
        columns = np.zeros((k, beats * lanes), dtype=np.int64)
        columns[:, :n] = a.T
        packed = [_pack(column.reshape(beats, lanes), self.activation_slot, self._widths["s_axis_a"])
                  for column in columns]
        return [packet for _ in self._blocks(m) for packet in packed]

    def output_beats(self, m, k):
        """Beats on ``m_axis_y`` for an ``M x K`` result."""
        return k * sum(tiles for _, tiles in self._blocks(m))

    def decode_outputs(self, words, m, k):
        """``Y [M, K]`` (int64) from the ``m_axis_y`` words of a layer, in order."""
        expected = self.output_beats(m, k)
        if len(words) != expected:
            raise ValueError(f"an {m} x {k} result has {expected} output beats, got {len(words)}")
        y = np.zeros((m, k), dtype=np.int64)
        p = self.pes_per_tile
        position = iter(words)
        for start, tiles in self._blocks(m):
            for column in range(k):
                for tile in range(tiles):
                    for pe, value in enumerate(unpack_signed(next(position), self.out_width, p)):
                        row = start + tile * p + pe
                        if row < m:
                            y[row, column] = value
        return y

    # ---- layers ---------------------------------------------------------------------------------
    def dnateq_layer(self, prog, w_codes, a_codes):
        """Transactions of a DNA-TEQ layer: ``prog`` (a :class:`quant.arith.LayerProgram`), codes
        ``W [M, N]`` and ``A [N, K]``."""
        if self.kind != "dnateq":
            raise ValueError(f"a DNA-TEQ layer needs a DNA-TEQ accelerator, this one is {self.kind}")
        if not isinstance(prog, LayerProgram):
            raise ValueError("prog must be a quant.arith.LayerProgram")
        w, a = self._operands(w_codes, a_codes)
        prog.w_code.split(w), prog.a_code.split(a)          # code ranges (raises QuantError)
        fields = prog.registers()
        table = self.register("LAYER_TABLE")
        if len(prog.table) != table["count"]:
            raise ValueError(f"the program has {len(prog.table)} table entries, the hardware {table['count']}")
        if prog.arith.out_width != self.out_width:     # its shift was chosen for another Y width
            raise ValueError(f"the program was compiled for {prog.arith.out_width}-bit Y, the hardware has "
                             f"{self.out_width}")
        config = [self.write("CODES", **{name: fields[name] for name in
                                         ("w_bits", "w_signed", "w_zero_code", "a_bits", "a_signed", "a_zero_code")}),
                  self.write("SHIFT", shift=prog.shift)]
        config += [RegisterWrite("LAYER_TABLE", self.offset("LAYER_TABLE", index),
                                 self.encode("LAYER_TABLE", entry=int(value)))
                   for index, value in enumerate(prog.table)]
        return self._transactions(w, a, config)

    def int8_layer(self, w_int8, a_int8):
        """Transactions of an INT8 layer: ``W [M, N]``, ``A [N, K]`` in -128..127."""
        if self.kind != "int8":
            raise ValueError(f"an INT8 layer needs an INT8 accelerator, this one is {self.kind}")
        w, a = self._operands(w_int8, a_int8)
        if min(w.min(), a.min()) < -128 or max(w.max(), a.max()) > 127:
            raise ValueError("INT8 operands must be in -128..127")
        return self._transactions(w & 0xFF, a & 0xFF, [])

    def _operands(self, w, a):
        w, a = np.asarray(w, dtype=np.int64), np.asarray(a, dtype=np.int64)
        if a.ndim == 1:
            a = a[:, None]
        if w.ndim != 2 or a.ndim != 2 or w.shape[1] != a.shape[0] or 0 in w.shape + a.shape:
            raise ValueError(f"expected W [M, N] and A [N, K] (non-empty), got {w.shape} and {a.shape}")
        return w, a

    def _transactions(self, w, a, layer_config):
        (m, n), k = w.shape, a.shape[1]
        if n > self.max_n:      # the hardware would refuse the start and never take the streams
            raise ValueError(f"N = {n} is above MAX_N = {self.max_n} of this accelerator")
        writes = [self.write("M", m=m), self.write("N", n=n), self.write("K", k=k), *layer_config,
                  self.write("CTRL", start=1)]
        weights, activations = self.pack_weights(w), self.pack_activations(a, m)
        order = []
        for block in range(len(weights)):
            order.append(("weights", block))
            order += [("activations", block * k + column) for column in range(k)]
        return LayerTransactions((m, n, k), writes, weights, activations, self.output_beats(m, k), order)
