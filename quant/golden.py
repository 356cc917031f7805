"""Bit-exact golden models of what the hardware computes, plus the float reference.

This module is the single definition of hardware arithmetic.  The parameter search, the model
evaluation and the cocotb scoreboards call it; nothing else in the project turns codes into
hardware results.

Shapes follow a matrix product: weights ``[M, N]`` (one row per output neuron / PE), activations
``[N, K]`` (one column per output position); a 1-D activation vector is treated as ``K = 1`` and
the result is squeezed accordingly.

* :func:`dnateq_counts` -> the counter bank of every output (``[M, K, n_bins]``).
* :func:`dnateq_postprocess` -> ``Y`` from counters and the layer table.
* :func:`dnateq_matmul` -> ``Y`` directly (same integers, fast path for whole layers).
* :func:`int8_matmul` -> the INT8 MAC baseline (int8 x int8, exact integer accumulate).
* :func:`float_reference` -> float64 product of the decoded codes (what the integers approximate).
"""

import numpy as np

from .arith import LayerProgram, signed_width
from .errors import QuantError

__all__ = ["dnateq_counts", "dnateq_accumulate", "dnateq_postprocess", "dnateq_matmul",
           "round_shift_saturate", "int8_matmul", "int8_acc_width", "float_reference",
           "element_fields", "bin_indices"]

_EXACT_FLOAT = 1 << 53


def _as_matrices(w_codes, a_codes):
    """2-D views of both operands and a function that drops the axes a 1-D operand did not have."""
    w = np.asarray(w_codes)
    a = np.asarray(a_codes)
    w_vector, a_vector = w.ndim == 1, a.ndim == 1
    if w_vector:
        w = w[None, :]
    if a_vector:
        a = a[:, None]
    if w.ndim != 2 or a.ndim != 2:
        raise QuantError(f"expected weights [M, N] and activations [N] or [N, K], got {w.shape} and {a.shape}")
    if w.shape[1] != a.shape[0]:
        raise QuantError(f"length mismatch: weights have N={w.shape[1]}, activations N={a.shape[0]}")
    if w.shape[1] == 0:
        raise QuantError("vectors are empty (N = 0)")

    def squeeze(result):
        """``result`` has axes [M, K, ...]; drop M and/or K where the operand was a vector."""
        if a_vector:
            result = result[:, 0]
        return result[0] if w_vector else result

    return w, a, squeeze


def _check_length(prog, n):
    if n != prog.vector_length:
        raise QuantError(f"layer was compiled for N={prog.vector_length}, got vectors of length {n}")


def element_fields(prog, w_codes, a_codes):
    """Hardware element fields of both operands: ``(w_zero, w_sign, w_exp), (a_zero, a_sign, a_exp)``."""
    return prog.w_code.split(w_codes), prog.a_code.split(a_codes)


def bin_indices(prog, w_exp, a_exp):
    """Flat counter index of each group an element updates (``C_wa`` first, then offsets)."""
    arith = prog.arith
    w_exp = w_exp.astype(np.int64)
    a_exp = a_exp.astype(np.int64)
    groups = [w_exp + a_exp]
    if arith.offsets:
        groups += [arith.base_w + w_exp, arith.base_a + a_exp, np.full_like(w_exp + a_exp, arith.base_0)]
    return groups


def dnateq_counts(prog, w_codes, a_codes):
    """Counter bank contents after counting every output's vector.

    Parameters
    ----------
    prog : LayerProgram
    w_codes : array_like, ``[M, N]`` or ``[N]``
    a_codes : array_like, ``[N, K]`` or ``[N]``

    Returns
    -------
    numpy.ndarray of int64, ``[M, K, n_bins]`` (``K`` axis dropped for a 1-D activation vector)
        Signed counts; every element whose weight and activation are both non-zero adds its
        product sign (+1 / -1) to one counter per group.
    """
    w, a, squeeze = _as_matrices(w_codes, a_codes)
    _check_length(prog, w.shape[1])
    (wz, ws, we), (az, as_, ae) = element_fields(prog, w, a)
    m, n = w.shape
    k = a.shape[1]
    n_bins = prog.arith.n_bins
    counts = np.zeros((m, k, n_bins), dtype=np.int64)
    # Row by row keeps the temporaries at N * K elements.
    a_nonzero = ~az
    for row in range(m):
        live = (~wz[row])[:, None] & a_nonzero                               # [N, K]
        sign = np.where((ws[row][:, None] ^ as_) == 1, -1, 1) * live         # [N, K]
        flat_base = np.arange(k)[None, :] * n_bins
        for idx in bin_indices(prog, np.broadcast_to(we[row][:, None], (n, k)), np.broadcast_to(ae, (n, k))):
            counts[row] += np.bincount((flat_base + idx).ravel(), weights=sign.ravel(),
                                       minlength=k * n_bins).reshape(k, n_bins).astype(np.int64)
    return squeeze(counts)


def dnateq_accumulate(prog, counts):
    """``acc = sum_k C[k] * T[k]``, the exact post-processing accumulator (int64)."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.shape[-1] != prog.arith.n_bins:
        raise QuantError(f"counts have {counts.shape[-1]} bins, the layout has {prog.arith.n_bins}")
    return counts @ prog.table


def round_shift_saturate(acc, shift, width):
    """``saturate_width((acc + 2**(shift-1)) >> shift)``: the hardware output stage.

    The shift is arithmetic (floor), so with the added half this is round-half-up; ``shift = 0``
    passes ``acc`` unchanged before saturation.
    """
    acc = np.asarray(acc, dtype=np.int64)
    if shift:
        acc = (acc + (np.int64(1) << (shift - 1))) >> shift
    hi = (1 << (width - 1)) - 1
    return np.clip(acc, -hi - 1, hi)


def dnateq_postprocess(prog, counts):
    """Output integers ``Y`` of the layer from its counters."""
    return round_shift_saturate(dnateq_accumulate(prog, counts), prog.shift, prog.arith.out_width)


def dnateq_matmul(prog, w_codes, a_codes):
    """Output integers ``Y`` of a whole layer, bit-identical to ``dnateq_postprocess(dnateq_counts(...))``.

    It computes ``acc[m, k] = sum_i G[w_mi, a_ik]`` where ``G`` is the table contribution of one
    (weight code, activation code) pair, as one matrix product per distinct activation code in
    float64.  Every partial sum is an integer below 2**53, so the products are exact (checked).
    """
    if not isinstance(prog, LayerProgram):
        raise QuantError("dnateq_matmul needs a LayerProgram (see quant.arith.compile_layer)")
    w, a, squeeze = _as_matrices(w_codes, a_codes)
    _check_length(prog, w.shape[1])
    pair = _pair_table(prog)                                   # [2**w_bits, 2**a_bits] int64
    bound = int(np.abs(pair).max()) * w.shape[1]
    if bound >= _EXACT_FLOAT:
        raise QuantError("layer too large for the exact float64 path; use dnateq_counts")
    w_idx = w.astype(np.int64)
    a_idx = a.astype(np.int64)
    acc = np.zeros((w.shape[0], a.shape[1]), dtype=np.float64)
    for code in np.unique(a_idx):
        column = pair[:, code].astype(np.float64)[w_idx]     # [M, N] contribution for this a code
        acc += column @ (a_idx == code).astype(np.float64)
    return squeeze(round_shift_saturate(np.rint(acc).astype(np.int64), prog.shift, prog.arith.out_width))


def _pair_table(prog):
    """``G[cw, ca]``: accumulator contribution of one element with weight code cw, activation code ca."""
    w_all = np.arange(1 << prog.w_code.bits)
    a_all = np.arange(1 << prog.a_code.bits)
    (wz, ws, we), (az, as_, ae) = element_fields(prog, w_all, a_all)
    live = ~wz[:, None] & ~az[None, :]
    sign = np.where((ws[:, None] ^ as_[None, :]) == 1, -1, 1) * live
    total = np.zeros(live.shape, dtype=np.int64)
    grid_w, grid_a = np.meshgrid(we, ae, indexing="ij")
    for idx in bin_indices(prog, grid_w, grid_a):
        total += prog.table[idx]
    return sign * total


def float_reference(prog, w_codes, a_codes):
    """Float64 product of the decoded codes: what ``Y * out_scale`` approximates."""
    w, a, squeeze = _as_matrices(w_codes, a_codes)
    return squeeze(prog.w_code.decode(w) @ prog.a_code.decode(a))


def int8_acc_width(max_vector_length):
    """Accumulator width of the INT8 MAC: holds ``N * 128 * 128`` for ``N = max_vector_length``."""
    return signed_width(int(max_vector_length) * 128 * 128)


def int8_matmul(w_int8, a_int8):
    """INT8 MAC golden: exact ``int8 x int8`` products accumulated in int64.

    The hardware accumulator has :func:`int8_acc_width` bits, so it never wraps for vectors up to
    its maximum length; the result is therefore the exact integer product.
    """
    w, a, squeeze = _as_matrices(w_int8, a_int8)
    for name, x in (("weights", w), ("activations", a)):
        if x.min() < -128 or x.max() > 127:
            raise QuantError(f"INT8 {name} out of range [-128, 127]")
    return squeeze(w.astype(np.int64) @ a.astype(np.int64))
