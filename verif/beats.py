"""Layers as stream beats (``docs/architecture.md`` §2) and back: packing into the flat payload ports.

Amaranth flattens a stream payload (a ``data`` layout) into one Verilog port; :func:`pack` turns
field values into those port integers for a whole batch of beats at once, following the layout's
own field offsets (``hw.interfaces.unpack_signed`` splits an output port back into signed values).
Values of an array of structs are given as a struct of arrays: ``{"zero": [beats, lanes], ...}``.
"""

from dataclasses import dataclass

import numpy as np
from amaranth import Shape
from amaranth.lib import data

from quant.golden import element_fields

__all__ = ["pack", "Vectors", "layer_vectors"]


def _take(value, index):
    """Element ``index`` of the first array axis after the beat axis, for every leaf of ``value``."""
    if isinstance(value, dict):
        return {name: _take(leaf, index) for name, leaf in value.items()}
    return value[:, index]


def _bits(layout, value):
    """``[beats, size]`` bits (LSB first) of ``value`` laid out as ``layout``."""
    if isinstance(layout, data.StructLayout):
        bits = np.zeros((_beats(value), layout.size), dtype=np.uint8)
        for name, field in layout:
            bits[:, field.offset:field.offset + field.width] = _bits(field.shape, value[name])
        return bits
    if isinstance(layout, data.ArrayLayout):
        return np.concatenate([_bits(layout.elem_shape, _take(value, i)) for i in range(layout.length)], axis=1)
    width = Shape.cast(layout).width
    value = np.asarray(value, dtype=np.int64)
    return ((value[:, None] >> np.arange(width)) & 1).astype(np.uint8)   # two's complement for negatives


def _beats(value):
    return _beats(next(iter(value.values()))) if isinstance(value, dict) else len(value)


def pack(layout, value):
    """Port integers (one Python int per beat) of a batch of payloads."""
    rows = np.packbits(_bits(layout, value), axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in rows]


@dataclass
class Vectors:
    """A layer cut into the beats of a ``pes``-PE array and the golden output of each vector."""

    payload: dict              # ``w``: per PE [beats, lanes]; ``a``: [beats, lanes]; ``last``: [beats]
    expected: np.ndarray       # [vectors, pes] golden Y, in output order
    labels: list               # [vectors] which layer, rows and column each output is
    elements_per_vector: int   # dot-product terms behind one output beat (pes * N)


def _padded_lanes(values, axis, lanes, fill):
    """``values`` with ``axis`` padded with ``fill`` to a multiple of ``lanes`` and split into (beats, lanes)."""
    n = values.shape[axis]
    beats = -(-n // lanes)
    pad = [(0, 0)] * values.ndim
    pad[axis] = (0, beats * lanes - n)
    padded = np.pad(values, pad, constant_values=fill)
    return padded.reshape(values.shape[:axis] + (beats, lanes) + values.shape[axis + 1:])


def layer_vectors(layer, pes, lanes):
    """Beats of ``layer`` on ``pes`` PEs in lockstep: for each block of ``pes`` rows, each column of ``A``.

    DNA-TEQ lanes carry ``{zero, sign, exp}`` from ``ExpCode.split`` (via quant.golden), padding lanes
    ``zero = 1``; INT8 lanes carry the values, padding 0.  The payload's ``w`` is a list with the
    weight lanes of each PE.
    """
    m, n = layer.w.shape
    k = layer.a.shape[1]
    if m % pes:
        raise ValueError(f"layer {layer.name} has {m} rows, not a multiple of {pes} PEs")
    blocks = m // pes
    if layer.program is None:
        w_fields, a_fields, padding = {"": layer.w}, {"": layer.a}, {"": 0}
    else:
        (wz, ws, we), (az, as_, ae) = element_fields(layer.program, layer.w, layer.a)
        w_fields = {"zero": wz, "sign": ws, "exp": we}
        a_fields = {"zero": az, "sign": as_, "exp": ae}
        padding = {"zero": 1, "sign": 0, "exp": 0}

    def weight_beats(field, fill):                      # [blocks*K*B, pes, lanes]
        lanes_of = _padded_lanes(np.asarray(field, np.int64).reshape(blocks, pes, n), 2, lanes, fill)
        per_vector = lanes_of.transpose(0, 2, 1, 3)[:, None]          # [blocks, 1, B, pes, L]
        return np.broadcast_to(per_vector, (blocks, k) + per_vector.shape[2:]).reshape(-1, pes, lanes)

    def activation_beats(field, fill):                  # [blocks*K*B, lanes]
        lanes_of = _padded_lanes(np.asarray(field, np.int64), 0, lanes, fill).transpose(2, 0, 1)   # [K, B, L]
        return np.broadcast_to(lanes_of[None], (blocks,) + lanes_of.shape).reshape(-1, lanes)

    w = {name: weight_beats(value, padding[name]) for name, value in w_fields.items()}
    a = {name: activation_beats(value, padding[name]) for name, value in a_fields.items()}
    per_pe = [{name: value[:, pe] for name, value in w.items()} for pe in range(pes)]
    beats_per_vector = -(-n // lanes)
    payload = {"w": [lanes_of.get("", lanes_of) for lanes_of in per_pe], "a": a.get("", a),
               "last": np.tile(np.arange(beats_per_vector) == beats_per_vector - 1, blocks * k)}
    expected = np.asarray(layer.expected()).reshape(blocks, pes, k).transpose(0, 2, 1).reshape(-1, pes)
    labels = [f"layer {layer.name!r} rows {b * pes}..{b * pes + pes - 1} column {c}"
              for b in range(blocks) for c in range(k)]
    return Vectors(payload=payload, expected=expected, labels=labels, elements_per_vector=pes * n)
