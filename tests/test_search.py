"""Adaptive search: the fast error evaluator, code fitting, bit-width choice and errors."""

import json

import numpy as np
import pytest

from quant.errors import QuantError
from quant.expcode import ExpCode
from quant.search import LayerCurves, LayerSearch, SortedTensor, fit_code, output_error, rmae, search_layer


def laplace_layer(rng, size=20_000):
    w = rng.laplace(scale=0.05, size=size)
    a = np.maximum(rng.normal(size=size), 0) * rng.exponential(size=size)
    return w, a


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("rounding", ["linear", "log"])
def test_sorted_error_equals_encoding_the_tensor(rng, signed, rounding):
    x = rng.laplace(size=5000) if signed else np.abs(rng.laplace(size=5000)) - 0.05
    tensor = SortedTensor(x, signed=signed)
    for bits, beta, zero in ((3, 0.0, True), (5, 0.01, False), (8, 0.0, True)):
        code = ExpCode(bits=bits, base=1.3, alpha=0.02, beta=beta, signed=signed, zero_code=zero, rounding=rounding)
        assert tensor.rmae(code.levels(), code.thresholds()) == pytest.approx(rmae(x, code.quantize(x)), rel=1e-9)


@pytest.mark.parametrize("signed", [True, False])
def test_sorted_weighted_error_equals_encoding_the_tensor(rng, signed):
    x = rng.laplace(size=(400, 12)) if signed else np.abs(rng.laplace(size=(400, 12)))
    importance = rng.exponential(size=12)                  # one weight per channel, broadcast over rows
    tensor = SortedTensor(x, signed=signed, importance=importance)
    for bits, beta, zero in ((3, 0.0, True), (5, 0.01, False)):
        code = ExpCode(bits=bits, base=1.4, alpha=0.05, beta=beta, signed=signed, zero_code=zero)
        expected = output_error(x, code.quantize(x), importance)
        assert float(tensor.error(code.levels(), code.thresholds(), "output")) == pytest.approx(expected, rel=1e-9)
        assert output_error(x, code.quantize(x)) < 1.0
    sampled = SortedTensor(x, signed=signed, importance=importance, max_samples=1000, seed=3)
    assert sampled.size == 1000 and sampled.total_sq > 0   # importance follows the sampled elements


def test_output_metric_protects_the_outlier_channels_of_a_layer_output(rng):
    # activations with two outlier channels (30x), as after MiniLM's LayerNorms
    a = rng.normal(size=(4000, 32))
    a[:, :2] *= 30.0
    w = rng.normal(size=(16, 32)) * 0.1
    ref = a @ w.T

    def output_rel_error(result):
        return np.linalg.norm(result.a_code.quantize(a) @ result.w_code.quantize(w).T - ref) / np.linalg.norm(ref)

    kwargs = {"thr_w": 1.0, "thr_a": 1.0, "bits_w": (4,), "bits_a": (4,), "offsets": True}
    paper = search_layer(w, a, **kwargs)
    ours = search_layer(w, a, metric="output", w_importance=(a ** 2).mean(axis=0)[None, :],
                        a_importance=(w ** 2).sum(axis=0)[None, :], **kwargs)
    assert ours.metric == "output" and paper.metric == "rmae"
    assert output_rel_error(ours) < 0.7 * output_rel_error(paper)
    assert ours.a_code.levels().max() > paper.a_code.levels().max()       # keeps the range of the outliers


def test_curves_select_like_fresh_searches_for_any_thresholds(rng):
    w, a = laplace_layer(rng, size=4000)
    curves = LayerCurves(w, a, offsets=True)
    for thr in ((0.3, 0.3), (0.08, 0.2), (0.3, 0.3)):
        reused, fresh = curves.select(*thr), search_layer(w, a, thr_w=thr[0], thr_a=thr[1], offsets=True)
        assert (reused.w_code, reused.a_code, reused.met) == (fresh.w_code, fresh.a_code, fresh.met)
        assert (reused.thr_w, reused.thr_a) == thr


@pytest.mark.parametrize("offsets", [False, True])
def test_fit_reports_its_true_error_and_beats_naive_scales(rng, offsets):
    w, _ = laplace_layer(rng)
    tensor = SortedTensor(w, signed=True)
    code, err = fit_code(tensor, 4, 1.6, zero_code=True, offsets=offsets)
    assert err == pytest.approx(rmae(w, code.quantize(w)), rel=1e-9)
    assert (code.beta != 0) == offsets or not offsets
    for top in np.quantile(np.abs(w), [0.9, 0.99, 1.0]):
        naive = ExpCode(bits=4, base=1.6, alpha=top / 1.6**7, zero_code=True)
        assert err <= rmae(w, naive.quantize(w)) + 1e-12


def test_offsets_never_hurt(rng):
    w, _ = laplace_layer(rng)
    tensor = SortedTensor(w, signed=True)
    for bits in (3, 4, 6):
        plain = fit_code(tensor, bits, 1.5, zero_code=False, offsets=False)[1]
        shifted = fit_code(tensor, bits, 1.5, zero_code=False, offsets=True)[1]
        assert shifted <= plain * 1.001


def test_search_meets_thresholds_with_the_smallest_bits(rng):
    w, a = laplace_layer(rng)
    loose = search_layer(w, a, thr_w=0.25, thr_a=0.25)
    tight = search_layer(w, a, thr_w=0.05, thr_a=0.05)
    for result in (loose, tight):
        assert result.met
        assert result.w_rmae <= result.thr_w and result.a_rmae <= result.thr_a
        assert result.w_code.base == result.a_code.base
        assert result.w_rmae == pytest.approx(rmae(w, result.w_code.quantize(w)), rel=1e-9)
    assert loose.w_code.bits + loose.a_code.bits < tight.w_code.bits + tight.a_code.bits
    assert not loose.a_code.signed and loose.w_code.signed


def test_search_flags_unreachable_thresholds(rng):
    w, a = laplace_layer(rng)
    result = search_layer(w, a, thr_w=1e-6, thr_a=1e-6, bits_w=(3, 4), bits_a=(3,))
    assert not result.met and (result.w_code.bits, result.a_code.bits) == (4, 3)


def test_search_is_deterministic_and_serialisable(rng):
    w, a = laplace_layer(rng, size=3000)
    first = search_layer(w, a, thr_w=0.15, thr_a=0.15, offsets=True)
    second = search_layer(w, a, thr_w=0.15, thr_a=0.15, offsets=True)
    assert first.w_code == second.w_code and first.a_code == second.a_code
    record = json.loads(json.dumps(first.to_dict()))
    assert LayerSearch.from_dict(record).w_code == first.w_code
    assert "metric" not in record                          # the paper's records keep their old layout
    weighted = search_layer(w, a, thr_w=0.15, thr_a=0.15, metric="output")
    assert LayerSearch.from_dict(json.loads(json.dumps(weighted.to_dict()))).metric == "output"


@pytest.mark.parametrize("kwargs, message", [
    ({"thr_w": 0.0}, "thr_w must be a positive number"),
    ({"thr_a": float("nan")}, "thr_a must be a positive number"),
    ({"bits_w": (3, 9)}, "candidate bits must be an integer in 2..8"),
    ({"grid": [1.0, 2.0]}, "candidate bases must all be > 1"),
    ({"metric": "mse"}, "metric must be one of rmae, output"),
    ({"w_importance": np.ones(10)}, "importance weights apply to the 'output' metric only"),
    ({"metric": "output", "a_importance": -np.ones(10)}, "importance must be non-negative"),
    ({"metric": "output", "w_importance": np.ones(3)}, "does not broadcast"),
])
def test_bad_search_arguments(kwargs, message):
    with pytest.raises(QuantError, match=message):
        search_layer(np.ones(10), np.ones(10), **kwargs)


def test_nan_tensors_are_rejected():
    with pytest.raises(QuantError, match="NaN"):
        search_layer(np.array([1.0, np.nan]), np.ones(3))
