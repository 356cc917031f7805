"""Layer data for the power simulations, and its translation into stream beats.

Activity source, in order of preference:

1. a real layer from ``verif/vectors/*.npz`` (the first file the headline DNA-TEQ design can run; keys
   ``w_codes``, ``a_codes``, ``w_code``/``a_code`` (ExpCode JSON) and, when present,
   ``w_int8``/``a_int8``; without them the INT8 operands are the decoded codes quantized to int8);
2. a synthetic layer: Laplace(0, 0.05) weights [64, 576] and ReLU-like activations [576, 32]
   (exact zero with probability 1/2, else Exponential(1)) from a logged seed.  DNA-TEQ codes come from
   :meth:`quant.expcode.ExpCode.encode` at the hardware's widest codes (signed weights,
   unsigned activations), with scale and base fitted by :func:`quant.search.search_layer`.

The INT8 design gets the same layer quantized to int8, symmetric per tensor
(``scale = max|x| / 127``, :func:`quant.baselines.fit_int8`).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data

from quant.arith import compile_layer
from quant.baselines import fit_int8
from quant.errors import QuantError
from quant.expcode import ExpCode
from quant.golden import dnateq_matmul, element_fields, int8_matmul
from quant.search import search_layer
from quant.toolchain import REPO_ROOT

from .errors import SynthError

__all__ = ["Layer", "load_layer", "synthetic_layer", "report_layer", "layer_for", "Vectors", "pack",
           "take_vectors", "dnateq_vectors", "int8_vectors", "VECTOR_DIR"]

VECTOR_DIR = REPO_ROOT / "verif" / "vectors"
#: Beats streamed per simulated design: enough that pipeline fill and drain are a small share.
TARGET_BEATS = 2048
#: Synthetic layer shape: N = 576 is a 3x3x64 convolution patch (im2col); 64 output channels;
#: 32 activation columns (output positions).
SYNTHETIC_N, SYNTHETIC_ROWS, SYNTHETIC_COLUMNS = 576, 64, 32


@dataclass
class DnaTeqOperands:
    w_codes: np.ndarray          # [M, N]
    a_codes: np.ndarray          # [N, K]
    program: object              # quant.arith.LayerProgram


@dataclass
class Layer:
    """One layer, able to give its operands to either kind of PE."""

    source: str                  # what the activity comes from, for the report
    w: np.ndarray = None         # float weights [M, N] (synthetic layers)
    a: np.ndarray = None         # float activations [N, K]
    w_codes: np.ndarray = None   # codes of a real layer
    a_codes: np.ndarray = None
    w_code: ExpCode = None
    a_code: ExpCode = None
    w_int8: np.ndarray = None
    a_int8: np.ndarray = None

    @property
    def shape(self):
        """``(M, N, K)``."""
        w = self.w if self.w is not None else self.w_codes
        a = self.a if self.a is not None else self.a_codes
        return w.shape[0], w.shape[1], a.shape[1]

    def dnateq(self, arith, seed):
        """Codes and the compiled :class:`~quant.arith.LayerProgram` for the hardware's ``arith``."""
        if self.w_codes is not None:
            program = compile_layer(arith, self.w_code, self.a_code, self.shape[1])
            return DnaTeqOperands(self.w_codes, self.a_codes, program)
        w_bits, a_bits = arith.exp_bits_w + 1, arith.exp_bits_a      # signed weights, unsigned (ReLU) activations
        if not 2 <= w_bits <= 8 or not 2 <= a_bits <= 8:
            raise SynthError(f"no exponential code fits exp_bits_w={arith.exp_bits_w}, "
                             f"exp_bits_a={arith.exp_bits_a} (codes have 2..8 bits)")
        found = search_layer(self.w, self.a, bits_w=[w_bits], bits_a=[a_bits], seed=seed)
        program = compile_layer(arith, found.w_code, found.a_code, self.shape[1])
        return DnaTeqOperands(found.w_code.encode(self.w).astype(np.int64),
                              found.a_code.encode(self.a).astype(np.int64), program)

    def int8(self):
        """``(w_int8 [M, N], a_int8 [N, K])``."""
        if self.w_int8 is not None:
            return self.w_int8, self.a_int8
        if self.w is not None:
            return _int8(self.w), _int8(self.a)
        return _int8(self.w_code.decode(self.w_codes)), _int8(self.a_code.decode(self.a_codes))


def _int8(x):
    return fit_int8(x).encode(x).astype(np.int64)


def synthetic_layer(seed, vector_length=SYNTHETIC_N, rows=SYNTHETIC_ROWS, columns=SYNTHETIC_COLUMNS):
    """Laplace weights [rows, N] and ReLU-like activations [N, columns] from ``seed`` (module docstring)."""
    rng = np.random.default_rng(seed)
    weights = rng.laplace(0.0, 0.05, size=(rows, vector_length))
    shape = (vector_length, columns)
    activations = np.where(rng.random(shape) < 0.5, 0.0, rng.exponential(1.0, size=shape))
    return Layer(source=f"synthetic layer, seed {seed}: Laplace(0, 0.05) weights [{rows}, {vector_length}], "
                        f"ReLU-like activations (P(0) = 1/2, else Exponential(1)) [{vector_length}, {columns}]",
                 w=weights, a=activations)


def load_layer(path):
    """A real layer from an ``.npz`` export (see the module docstring for its keys)."""
    try:
        with np.load(path) as record:
            layer = Layer(source=f"real layer {Path(path).name}",
                          w_codes=record["w_codes"].astype(np.int64), a_codes=record["a_codes"].astype(np.int64),
                          w_code=ExpCode.from_dict(json.loads(str(record["w_code"]))),
                          a_code=ExpCode.from_dict(json.loads(str(record["a_code"]))))
            if "w_int8" in record and "a_int8" in record:
                layer.w_int8, layer.a_int8 = record["w_int8"].astype(np.int64), record["a_int8"].astype(np.int64)
    except (OSError, KeyError, ValueError) as err:
        raise SynthError(f"cannot read layer vectors {path}: {err}") from None
    return layer


def report_layer(seed, arith=None):
    """The layer of a report and why: the first ``verif/vectors/*.npz`` the DNA-TEQ hardware ``arith``
    can run (``quant.arith.compile_layer`` decides: exponent widths, offsets, length; any file when
    ``arith`` is None), else :func:`synthetic_layer`.  Returns ``(layer, notes)``, a note per file
    passed over."""
    notes = []
    for path in sorted(VECTOR_DIR.glob("*.npz")):
        layer = load_layer(path)
        try:
            if arith is not None:
                layer.dnateq(arith, seed)
            return layer, notes
        except QuantError as err:
            notes.append(f"{path.name} not used: {err}")
    return synthetic_layer(seed), notes


def layer_for(layer, arith, seed):
    """``layer`` if a DNA-TEQ design with ``arith`` can run it, else a synthetic layer it can."""
    try:
        layer.dnateq(arith, seed)
        return layer
    except QuantError:
        return synthetic_layer(seed, min(layer.shape[1], arith.max_vector_length))


# ---- beats ----------------------------------------------------------------------------------------
def _leaves(layout, offset=0, path=()):
    """``(path, bit offset, width)`` of every integer field of an Amaranth data layout."""
    if isinstance(layout, data.StructLayout):
        for name, field in layout:
            yield from _leaves(field.shape, offset + field.offset, path + (name,))
    elif isinstance(layout, data.ArrayLayout):
        size = Shape.cast(layout.elem_shape).width
        for i in range(layout.length):
            yield from _leaves(layout.elem_shape, offset + i * size, path + (i,))
    else:
        yield path, offset, Shape.cast(layout).width


def pack(layout, fields, count):
    """``count`` values of ``layout`` as uint32 words ``[count, ceil(size / 32)]``.

    ``fields`` maps every leaf path (e.g. ``("w", 3, "exp")``) to ``count`` integers.
    """
    size = Shape.cast(layout).width
    bits = np.zeros((count, -(-size // 32) * 32), dtype=np.uint8)
    for path, offset, width in _leaves(layout):
        values = np.asarray(fields[path], dtype=np.int64).reshape(count)
        bits[:, offset:offset + width] = (values[:, None] >> np.arange(width)) & 1
    return np.packbits(bits, axis=1, bitorder="little").view("<u4")


@dataclass
class Vectors:
    """A layer cut into beats: per beat the lanes of every PE and the shared activation lanes."""

    w: np.ndarray                # [beats, pes, lanes, fields]
    a: np.ndarray                # [beats, lanes, fields]
    last: np.ndarray             # [beats] the beat ends a vector
    field_names: tuple           # names of the fields, or (None,) for a plain integer lane
    expected: np.ndarray         # golden Y per vector and PE: [vectors, pes]
    elements: int                # dot-product terms computed (unpadded, all PEs)

    def fields(self, prefix, lanes_of, pe=None):
        """Leaf values for :func:`pack`, keyed ``prefix + (lane, field)`` (``(lane,)`` for a plain lane).

        ``lanes_of`` is "w" (the weight lanes of PE ``pe``) or "a" (the activation lanes).
        """
        values = self.w[:, pe] if lanes_of == "w" else self.a
        result = {}
        for lane in range(values.shape[1]):
            for index, name in enumerate(self.field_names):
                result[prefix + ((lane,) if name is None else (lane, name))] = values[:, lane, index]
        return result


def take_vectors(shape, lanes, pes, beats=TARGET_BEATS):
    """``(rows, columns)`` to stream so that a ``lanes``-wide PE gets about ``beats`` beats.

    Rows (new weights for every vector) are used first, in whole groups of ``pes`` (one row per
    PE), then columns; a layer with fewer rows than one group is repeated row-wise (:func:`_rows`).
    """
    m, n, k = shape
    vectors = max(1, -(-beats // -(-n // lanes)))
    groups = max(1, min(m // pes, vectors))
    return groups * pes, min(k, -(-vectors // groups))


def _rows(matrix, rows):
    """The first ``rows`` rows of ``matrix``, cycling through it when it has fewer."""
    return np.resize(matrix, (rows, matrix.shape[1]))


def layer_vectors(w_lanes, a_lanes, expected, lanes, pes, padding, field_names):
    """Cut one layer into beats.

    ``w_lanes [M, N, F]`` and ``a_lanes [N, K, F]`` hold ``F`` integer fields per element,
    ``expected [M, K]`` the golden ``Y``.  Vector ``(g, k)`` sends rows ``g*pes .. g*pes+pes-1``
    (one per PE) against column ``k``; padding lanes get ``padding`` (length F).
    """
    m, n, f = w_lanes.shape
    k = a_lanes.shape[1]
    groups, per_vector = m // pes, -(-n // lanes)
    pad = per_vector * lanes - n
    pad_fields = np.asarray(padding, dtype=np.int64)
    w = np.concatenate([w_lanes, np.broadcast_to(pad_fields, (m, pad, f))], axis=1)
    a = np.concatenate([a_lanes, np.broadcast_to(pad_fields, (pad, k, f))], axis=0)
    w = w.reshape(groups, pes, per_vector, lanes, f).transpose(0, 2, 1, 3, 4)      # [G, B, P, L, F]
    w = np.broadcast_to(w[:, None], (groups, k, per_vector, pes, lanes, f)).reshape(-1, pes, lanes, f)
    a = a.reshape(per_vector, lanes, k, f).transpose(2, 0, 1, 3)                   # [K, B, L, F]
    a = np.broadcast_to(a[None], (groups, k, per_vector, lanes, f)).reshape(-1, lanes, f)
    last = np.tile(np.arange(per_vector) == per_vector - 1, groups * k)
    expected = np.asarray(expected).reshape(groups, pes, k).transpose(0, 2, 1).reshape(-1, pes)
    return Vectors(w, a, last, tuple(field_names), expected, m * n * k)


def dnateq_vectors(operands, lanes, pes, rows, columns):
    """:func:`layer_vectors` of a DNA-TEQ layer: fields ``{zero, sign, exp}`` from ``quant.golden.element_fields``."""
    w_codes, a_codes = _rows(operands.w_codes, rows), operands.a_codes[:, :columns]
    program = operands.program
    w_split, a_split = element_fields(program, w_codes, a_codes)
    w_fields = np.stack(w_split, axis=-1).astype(np.int64)
    a_fields = np.stack(a_split, axis=-1).astype(np.int64)
    return layer_vectors(w_fields, a_fields, dnateq_matmul(program, w_codes, a_codes), lanes, pes,
                         padding=(1, 0, 0), field_names=("zero", "sign", "exp"))     # padding: zero = 1


def int8_vectors(w_int8, a_int8, lanes, pes, rows, columns):
    """:func:`layer_vectors` of an INT8 layer (padding lanes 0)."""
    w, a = _rows(w_int8, rows), a_int8[:, :columns]
    return layer_vectors(w[..., None], a[..., None], int8_matmul(w, a), lanes, pes, padding=(0,),
                         field_names=(None,))
