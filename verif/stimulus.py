"""Layers to push through the hardware: random ones, named corner cases and real exported layers.

A :class:`Layer` is one GEMM ``Y[M, K] = W[M, N] x A[N, K]`` as the golden model sees it: integer
codes plus, for DNA-TEQ, the :class:`~quant.arith.LayerProgram` compiled for the variant's arith
(read from its manifest).  Its expected output comes from :mod:`quant.golden` and nowhere else.
Every generator takes a NumPy ``Generator`` so that a run is reproduced by its seed.
"""

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quant.arith import DnaTeqArith, LayerProgram, compile_layer
from quant.errors import QuantError
from quant.expcode import ExpCode
from quant.golden import dnateq_matmul, int8_acc_width, int8_matmul

__all__ = ["Datapath", "Layer", "random_layers", "corner_layers", "reconfiguration_layers",
           "vector_layers", "VECTOR_DIR"]

VECTOR_DIR = Path(__file__).resolve().parent / "vectors"
INT8_MIN, INT8_MAX = -128, 127


@dataclass(frozen=True)
class Datapath:
    """The arithmetic a variant implements, as its manifest states it."""

    kind: str                 # "dnateq" or "int8"
    arith: object             # DnaTeqArith, or the manifest's int8 record
    lanes: int
    max_n: int = None         # a tighter limit on N than the arith's (the accelerator's buffers)

    @classmethod
    def from_manifest(cls, manifest, max_n=None):
        """Read kind, arith and lanes; the derived arith widths are checked against quant."""
        kind, record = manifest["pe_kind"], manifest["arith"]
        if kind == "dnateq":
            arith = DnaTeqArith.from_dict(record)
        else:
            if record["acc_width"] != int8_acc_width(record["max_vector_length"]):
                raise QuantError(f"manifest int8 acc_width {record['acc_width']} disagrees with "
                                 f"quant.golden.int8_acc_width = {int8_acc_width(record['max_vector_length'])}")
            arith = record
        return cls(kind=kind, arith=arith, lanes=manifest["lanes"], max_n=max_n)

    @property
    def max_vector_length(self):
        """Longest vector this hardware takes."""
        arith = self.arith.max_vector_length if self.kind == "dnateq" else self.arith["max_vector_length"]
        return min(arith, self.max_n or arith)

    @property
    def count_depth(self):
        """Elements counted between two counter drains (the INT8 accumulator never drains)."""
        return min(self.arith.count_depth, self.max_vector_length) if self.kind == "dnateq" else self.max_vector_length


@dataclass
class Layer:
    """One layer's operands; ``program`` is None for INT8 (then ``w``/``a`` are int8 values)."""

    name: str
    w: np.ndarray             # [M, N]
    a: np.ndarray             # [N, K]
    program: LayerProgram = None

    @property
    def vector_length(self):
        return self.w.shape[1]

    @property
    def elements(self):
        """Dot-product terms the layer's outputs depend on (what checking them covers)."""
        return self.w.size * self.a.shape[1]

    def expected(self):
        """``Y [M, K]`` from the golden model."""
        if self.program is None:
            return int8_matmul(self.w, self.a)
        return dnateq_matmul(self.program, self.w, self.a)


# ---- DNA-TEQ codes ------------------------------------------------------------------------------

def _random_code(rng, max_exp_bits, base, offsets, *, exp_bits=None, signed=None, zero_code=None):
    """An ExpCode the hardware accepts: at most ``max_exp_bits`` exponent bits, beta only with offsets."""
    signed = bool(rng.integers(2)) if signed is None else signed
    lowest, highest = (1, min(max_exp_bits, 7)) if signed else (2, max_exp_bits)   # codes have 2..8 bits
    exp_bits = int(rng.integers(lowest, highest + 1)) if exp_bits is None else min(exp_bits, highest)
    zero_code = bool(rng.random() < 0.75) if zero_code is None else zero_code
    beta = float(rng.uniform(0.0, 0.5)) if offsets and rng.random() < 0.8 else 0.0
    return ExpCode(bits=exp_bits + int(signed), base=base, alpha=float(rng.uniform(0.01, 1.0)),
                   beta=beta, signed=signed, zero_code=zero_code)


def random_program(arith, rng, vector_length, **code_options):
    """A program for random weight/activation codes of one shared random base.

    ``code_options`` (``exp_bits``, ``signed``, ``zero_code``) apply to both codes; the exponent
    width defaults to a random one up to each operand's hardware maximum and is clamped to it.
    """
    base = float(rng.uniform(1.05, 2.5))
    w_code = _random_code(rng, arith.exp_bits_w, base, arith.offsets, **code_options)
    a_code = _random_code(rng, arith.exp_bits_a, base, arith.offsets, **code_options)
    return compile_layer(arith, w_code, a_code, vector_length)


def _codes(code, zero, sign, exp):
    """Pack fields into codes (sign above exponent), the inverse of ``ExpCode.split`` by construction."""
    exp = np.where(zero, 0, exp) if code.zero_code else exp
    sign = sign if code.signed else np.zeros_like(sign)
    return ((sign.astype(np.int64) << code.exp_bits) | exp).astype(np.int64)


def _random_codes(rng, code, shape, zero_fraction=0.2):
    exp = rng.integers(code.min_exp, code.n_exp, size=shape)
    zero = rng.random(shape) < zero_fraction
    return _codes(code, zero, rng.integers(2, size=shape), exp)


def _dnateq_layer(name, program, w, a):
    return Layer(name=name, w=np.asarray(w, dtype=np.int64), a=np.asarray(a, dtype=np.int64), program=program)


def _random_dnateq(dp, rng, rows, n, k, name="random", **code_options):
    program = random_program(dp.arith, rng, n, **code_options)
    return _dnateq_layer(name, program, _random_codes(rng, program.w_code, (rows, n), rng.uniform(0, 0.5)),
                         _random_codes(rng, program.a_code, (n, k), rng.uniform(0, 0.5)))


def _constant_dnateq(name, program, rows, n, k, *, w_exp, a_exp, w_sign, a_sign):
    """Every element in the same counter bins with the same product sign (counters reach +-n)."""
    w = _codes(program.w_code, np.zeros((rows, n), bool), np.full((rows, n), w_sign), np.full((rows, n), w_exp))
    a = _codes(program.a_code, np.zeros((n, k), bool), np.full((n, k), a_sign), np.full((n, k), a_exp))
    return _dnateq_layer(name, program, w, a)


def _every_bin_dnateq(dp, rng, rows):
    """Every (weight exponent, activation exponent) pair of the widest codes the hardware takes.

    Element ``i`` of column ``c`` pairs weight exponent ``i mod Uw`` with activation exponent
    ``c*j + i div Uw``: the columns together hit every ``C_wa``, ``C_w``, ``C_a`` and ``C_0`` bin,
    in every row, with random product signs (signed codes unless an 8-bit exponent field needs
    all 8 bits of an unsigned code).
    """
    arith = dp.arith
    signed = max(arith.exp_bits_w, arith.exp_bits_a) < 8
    codes = random_program(arith, rng, 1, exp_bits=8, signed=signed, zero_code=False)
    uw, ua = codes.w_code.n_exp, codes.a_code.n_exp
    per_column = max(1, min(ua, dp.max_vector_length // uw))     # activation exponents per column
    n = min(dp.max_vector_length, uw * per_column)
    k = -(-ua // per_column)
    program = compile_layer(arith, codes.w_code, codes.a_code, n)
    i = np.arange(n)
    w_exp = (i[None, :] + n * np.arange(rows)[:, None]) % uw
    a_exp = (np.arange(k)[None, :] * per_column + (i // uw)[:, None]) % ua
    w = _codes(program.w_code, np.zeros((rows, n), bool), rng.integers(2, size=(rows, n)), w_exp)
    a = _codes(program.a_code, np.zeros((n, k), bool), rng.integers(2, size=(n, k)), a_exp)
    return _dnateq_layer("every_bin", program, w, a)


def _dnateq_corners(dp, rng, rows):
    arith, length, depth, lanes = dp.arith, dp.max_vector_length, dp.count_depth, dp.lanes
    n = min(length, 6 * lanes + 3)
    wide = dict(exp_bits=8, signed=True)               # clamped to the hardware maxima
    layers = []
    program = random_program(arith, rng, n, zero_code=True, **wide)
    layers.append(_dnateq_layer("all_zero", program, _codes(program.w_code, np.ones((rows, n), bool),
                                                            rng.integers(2, size=(rows, n)), 0),
                                _random_codes(rng, program.a_code, (n, 3))))
    layers.append(_random_dnateq(dp, rng, rows, n, 3, "zero_heavy", zero_code=True))
    layers[-1].w[rng.random(layers[-1].w.shape) < 0.7] = 0
    layers.append(_random_dnateq(dp, rng, rows, n, 3, "no_zero_code", zero_code=False))
    program = random_program(arith, rng, n, zero_code=False, **wide)
    layers.append(_constant_dnateq("max_exponents", program, rows, n, 2, w_exp=program.w_code.n_exp - 1,
                                   a_exp=program.a_code.n_exp - 1, w_sign=0, a_sign=0))
    layers.append(_constant_dnateq("min_exponents", program, rows, n, 2, w_exp=0, a_exp=0, w_sign=1, a_sign=1))
    program = random_program(arith, rng, n, signed=True, zero_code=True)
    layers.append(_dnateq_layer("all_negative_products", program,
                                _codes(program.w_code, np.zeros((rows, n), bool), np.ones((rows, n), int),
                                       rng.integers(1, program.w_code.n_exp, size=(rows, n))),
                                _codes(program.a_code, np.zeros((n, 3), bool), np.zeros((n, 3), int),
                                       rng.integers(1, program.a_code.n_exp, size=(n, 3)))))
    layers.append(_every_bin_dnateq(dp, rng, rows))
    # Counter overflow boundary: a maximum-length vector whose elements all land in one bin, once
    # with positive and once with negative products; the counters reach +-count_depth.
    program = random_program(arith, rng, length, signed=True)
    top_w, top_a = program.w_code.n_exp - 1, program.a_code.n_exp - 1
    layers.append(_constant_dnateq("max_length_positive", program, rows, length, 1, w_exp=top_w, a_exp=top_a,
                                   w_sign=1, a_sign=1))
    layers.append(_constant_dnateq("max_length_negative", program, rows, length, 1, w_exp=top_w, a_exp=top_a,
                                   w_sign=0, a_sign=1))
    # Chunked counting: vector lengths around multiples of count_depth and of the lane count.
    for n_chunk in sorted({1, lanes - 1, lanes + 1, depth - 1, depth, depth + 1, 2 * depth, 2 * depth + 1}):
        if 1 <= n_chunk <= length:
            program = random_program(arith, rng, n_chunk, signed=True, zero_code=False)
            layers.append(_constant_dnateq(f"chunk_n{n_chunk}", program, rows, n_chunk, 1,
                                           w_exp=program.w_code.n_exp - 1, a_exp=0, w_sign=0, a_sign=0))
            layers.append(_random_dnateq(dp, rng, rows, n_chunk, 2, f"chunk_n{n_chunk}_random"))
    # Saturation and rounding of the output stage: shifts below the compiled one (so Y can
    # saturate) on maximum-length single-bin vectors of both signs.
    program = random_program(arith, rng, length, signed=True, zero_code=False)
    for shift in sorted({0, program.shift // 2}):
        narrow = dataclasses.replace(program, shift=shift)
        for sign in (0, 1):
            layers.append(_constant_dnateq(f"saturate_shift{shift}_sign{sign}", narrow, rows, length, 1,
                                           w_exp=program.w_code.n_exp - 1, a_exp=program.a_code.n_exp - 1,
                                           w_sign=sign, a_sign=0))
    return layers


# ---- INT8 ---------------------------------------------------------------------------------------

def _int8_layer(name, w, a):
    return Layer(name=name, w=np.asarray(w, dtype=np.int64), a=np.asarray(a, dtype=np.int64))


def _random_int8(rng, rows, n, k, name="random"):
    return _int8_layer(name, rng.integers(INT8_MIN, INT8_MAX + 1, size=(rows, n)),
                       rng.integers(INT8_MIN, INT8_MAX + 1, size=(n, k)))


def _int8_corners(dp, rng, rows):
    length, lanes = dp.max_vector_length, dp.lanes
    n = min(length, 6 * lanes + 3)
    layers = [_int8_layer("all_zero", np.zeros((rows, n)), rng.integers(INT8_MIN, INT8_MAX + 1, size=(n, 3))),
              _int8_layer("extremes", rng.choice([INT8_MIN, -1, 0, 1, INT8_MAX], size=(rows, n)),
                          rng.choice([INT8_MIN, -1, 0, 1, INT8_MAX], size=(n, 3)))]
    # Accumulator bound: the largest positive (-128 * -128) and negative (-128 * 127) sums.
    layers.append(_int8_layer("max_length_positive", np.full((rows, length), INT8_MIN), np.full((length, 1), INT8_MIN)))
    layers.append(_int8_layer("max_length_negative", np.full((rows, length), INT8_MIN), np.full((length, 1), INT8_MAX)))
    for n_edge in sorted({1, lanes - 1, lanes + 1, length - 1}):
        if 1 <= n_edge <= length:
            layers.append(_random_int8(rng, rows, n_edge, 2, f"length_n{n_edge}"))
    return layers


# ---- public generators ----------------------------------------------------------------------------

def random_layers(dp, rng, rows, count, max_n=None, k=4):
    """``count`` random layers of ``rows`` outputs each, random lengths up to ``max_n``."""
    max_n = min(max_n or dp.max_vector_length, dp.max_vector_length)
    layers = []
    for index in range(count):
        n = int(rng.integers(1, max_n + 1))
        name = f"random{index}"
        layers.append(_random_dnateq(dp, rng, rows, n, k, name) if dp.kind == "dnateq"
                      else _random_int8(rng, rows, n, k, name))
    return layers


def corner_layers(dp, rng, rows):
    """The named corner cases of the variant's kind (see docs/verification.md)."""
    return _dnateq_corners(dp, rng, rows) if dp.kind == "dnateq" else _int8_corners(dp, rng, rows)


def reconfiguration_layers(dp, rng, rows, n=None):
    """Back-to-back layers that differ in every run-time setting: bit-widths, signedness, zero code, table."""
    n = n or min(dp.max_vector_length, 5 * dp.lanes + 1)
    if dp.kind == "int8":
        return [_random_int8(rng, rows, length, 2, f"layer{i}") for i, length in enumerate((n, n + 1, 1, 2))
                if length <= dp.max_vector_length]
    arith = dp.arith
    settings = [dict(exp_bits=arith.exp_bits_w, signed=True, zero_code=True),
                dict(exp_bits=1, signed=True, zero_code=False),
                dict(exp_bits=max(arith.exp_bits_w, arith.exp_bits_a), signed=False, zero_code=True),
                dict(exp_bits=2, signed=True, zero_code=True)]
    return [_random_dnateq(dp, rng, rows, n, 2, f"layer{i}", **options) for i, options in enumerate(settings)]


def vector_layers(dp, rows=None, columns=None, directory=VECTOR_DIR):
    """Real layers from ``directory/*.npz`` (default ``verif/vectors``), cut to ``rows`` outputs and
    ``columns`` columns (None: all).

    Returns ``(layers, skipped)``: ``skipped`` lists ``(file, reason)`` for files this variant
    cannot run (longer vectors than it accepts, codes wider than its exponent fields, offsets).
    DNA-TEQ programs are recompiled for the variant's arith, so the expected output comes from
    quant.golden for this hardware, not from the file.
    """
    layers, skipped = [], []
    for path in sorted(Path(directory).glob("*.npz")):
        with np.load(path) as data:
            if dp.kind == "int8":
                w, a = data["w_int8"], data["a_int8"]
            else:
                w, a = data["w_codes"], data["a_codes"]
            n = w.shape[1]
            if n > dp.max_vector_length:
                skipped.append((path.name, f"N={n} > max_vector_length={dp.max_vector_length}"))
                continue
            w = np.resize(w, (rows or len(w), n))          # repeat rows when the layer has fewer
            a = a[:, :columns]
            if dp.kind == "int8":
                layers.append(_int8_layer(path.stem, w, a))
                continue
            w_code = ExpCode.from_dict(json.loads(str(data["w_code"])))
            a_code = ExpCode.from_dict(json.loads(str(data["a_code"])))
            try:
                program = compile_layer(dp.arith, w_code, a_code, n)
            except QuantError as err:
                skipped.append((path.name, str(err)))
                continue
            layers.append(_dnateq_layer(path.stem, program, w, a))
    return layers, skipped
