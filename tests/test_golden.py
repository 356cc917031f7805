"""Golden models: counters, post-processing, the fast layer path, INT8, and the float bound."""

import numpy as np
import pytest

from quant.arith import DnaTeqArith, compile_layer
from quant.errors import QuantError
from quant.expcode import ExpCode
from quant.golden import (dnateq_counts, dnateq_matmul, dnateq_postprocess, float_reference,
                          int8_acc_width, int8_matmul, round_shift_saturate)


def random_layer(rng, *, offsets, m=6, n=50, k=5, a_signed=False, zero_code=True):
    base = rng.uniform(1.2, 2.5)
    w_code = ExpCode(bits=4, base=base, alpha=rng.uniform(0.01, 0.1), beta=0.004 if offsets else 0.0,
                     zero_code=zero_code)
    a_code = ExpCode(bits=5 if a_signed else 4, base=base, alpha=rng.uniform(0.05, 0.5),
                     beta=0.02 if offsets else 0.0, signed=a_signed, zero_code=zero_code)
    prog = compile_layer(DnaTeqArith(offsets=offsets), w_code, a_code, vector_length=n)
    w = rng.integers(0, 1 << w_code.bits, size=(m, n))
    a = rng.integers(0, 1 << a_code.bits, size=(n, k))
    return prog, w, a


def naive_counts(prog, w, a):
    """Element-by-element loop over the contract in docs/architecture.md (test oracle)."""
    arith = prog.arith
    counts = np.zeros((w.shape[0], a.shape[1], arith.n_bins), dtype=np.int64)
    for r in range(w.shape[0]):
        for c in range(a.shape[1]):
            for i in range(w.shape[1]):
                (wz, ws, we), (az, as_, ae) = prog.w_code.split(w[r, i]), prog.a_code.split(a[i, c])
                if wz or az:
                    continue
                s = -1 if ws ^ as_ else 1
                counts[r, c, int(we) + int(ae)] += s
                if arith.offsets:
                    counts[r, c, arith.base_w + int(we)] += s
                    counts[r, c, arith.base_a + int(ae)] += s
                    counts[r, c, arith.base_0] += s
    return counts


@pytest.mark.parametrize("offsets", [False, True])
@pytest.mark.parametrize("a_signed", [False, True])
def test_counts_match_the_element_loop(rng, offsets, a_signed):
    prog, w, a = random_layer(rng, offsets=offsets, a_signed=a_signed, m=3, n=30, k=4)
    np.testing.assert_array_equal(dnateq_counts(prog, w, a), naive_counts(prog, w, a))


def test_counts_sum_to_the_signed_number_of_live_elements(rng):
    prog, w, a = random_layer(rng, offsets=True, a_signed=True)
    counts = dnateq_counts(prog, w, a)
    products = np.sign(prog.w_code.decode(w)[:, :, None] * prog.a_code.decode(a)[None, :, :])
    expected = products.sum(axis=1)                  # +1/-1 per live element, 0 for zeros
    arith = prog.arith
    for lo, hi in ((0, arith.bins_wa), (arith.base_w, arith.base_a), (arith.base_a, arith.base_0)):
        np.testing.assert_array_equal(counts[..., lo:hi].sum(-1), expected)
    np.testing.assert_array_equal(counts[..., arith.base_0], expected)


def test_all_positive_nonzero_vector_counts_its_length():
    code = ExpCode(bits=4, base=2.0, alpha=1.0, signed=False, zero_code=False)
    prog = compile_layer(DnaTeqArith(exp_bits_w=4), code, code, vector_length=17)
    counts = dnateq_counts(prog, np.full(17, 3), np.full(17, 5))
    assert counts[8] == 17 and counts.sum() == 17


@pytest.mark.parametrize("offsets", [False, True])
@pytest.mark.parametrize("a_signed", [False, True])
def test_fast_layer_path_is_bit_identical(rng, offsets, a_signed):
    prog, w, a = random_layer(rng, offsets=offsets, a_signed=a_signed, m=16, n=200, k=9)
    np.testing.assert_array_equal(dnateq_matmul(prog, w, a), dnateq_postprocess(prog, dnateq_counts(prog, w, a)))
    np.testing.assert_array_equal(dnateq_matmul(prog, w[0], a[:, 0]),
                                  dnateq_postprocess(prog, dnateq_counts(prog, w[0], a[:, 0])))


@pytest.mark.parametrize("offsets", [False, True])
def test_golden_is_within_the_derived_bound_of_the_float_reference(rng, offsets):
    """|Y*out_scale - y| <= q/2 * (sum_k |C[k]| + 2**R): each table entry is off by at most q/2
    per count, and the output rounding by at most half an output LSB (2**R table units)."""
    prog, w, a = random_layer(rng, offsets=offsets, m=8, n=300, k=6)
    counts = dnateq_counts(prog, w, a)
    y = float_reference(prog, w, a)
    q = prog.out_scale / 2**prog.shift
    bound = q / 2 * (np.abs(counts).sum(-1) + 2**prog.shift)
    assert np.all(np.abs(dnateq_postprocess(prog, counts) * prog.out_scale - y) <= bound * (1 + 1e-9))


def test_round_shift_saturate_rounds_half_up_and_saturates():
    np.testing.assert_array_equal(round_shift_saturate([5, -5, 6, -6, 4], 1, 32), [3, -2, 3, -3, 2])
    np.testing.assert_array_equal(round_shift_saturate([200, -200, 100], 0, 8), [127, -128, 100])


def test_int8_golden_is_exact(rng):
    w = rng.integers(-128, 128, size=(5, 300))
    a = rng.integers(-128, 128, size=(300, 3))
    expected = [[sum(int(w[r, i]) * int(a[i, c]) for i in range(300)) for c in range(3)] for r in range(5)]
    np.testing.assert_array_equal(int8_matmul(w, a), expected)
    assert int8_acc_width(4096) == 28


def test_int8_range_is_checked():
    with pytest.raises(QuantError, match=r"INT8 weights out of range"):
        int8_matmul(np.array([128]), np.array([1]))


@pytest.mark.parametrize("w, a, message", [
    (np.zeros((2, 5), int), np.zeros(4, int), "length mismatch"),
    (np.zeros((2, 0), int), np.zeros(0, int), "empty"),
    (np.zeros((2, 6), int), np.zeros(6, int), "compiled for N=5"),
])
def test_shape_errors(w, a, message):
    prog = compile_layer(DnaTeqArith(), ExpCode(bits=4, base=2.0, alpha=1.0),
                         ExpCode(bits=4, base=2.0, alpha=1.0), vector_length=5)
    with pytest.raises(QuantError, match=message):
        dnateq_matmul(prog, w, a)
