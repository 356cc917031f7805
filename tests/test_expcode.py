"""ExpCode: encode/decode properties, layout and bad-input errors."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from quant.errors import QuantError
from quant.expcode import ExpCode

codes = st.builds(
    ExpCode,
    bits=st.integers(2, 8),
    base=st.floats(1.05, 3.0),
    alpha=st.floats(1e-3, 1.0),
    beta=st.just(0.0) | st.floats(0.0, 0.5),
    signed=st.booleans(),
    zero_code=st.booleans(),
    rounding=st.sampled_from(["linear", "log"]),
)
values = st.lists(st.floats(-50, 50, allow_nan=False), min_size=1, max_size=40)


def representable(code):
    """Every value a code can decode to (independent of encode)."""
    mags = code.levels()
    return np.unique(np.concatenate([mags, -mags])) if code.signed else mags


@settings(max_examples=200, deadline=None)
@given(code=codes, xs=values)
def test_linear_rounding_picks_nearest_level(code, xs):
    code = ExpCode(**{**code.to_dict(), "rounding": "linear"})
    x = np.array(xs)
    q = code.quantize(x)
    candidates = representable(code)
    best = np.abs(x[:, None] - candidates[None, :]).min(axis=1)
    np.testing.assert_allclose(np.abs(x - q), best, rtol=1e-12, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(code=codes, xs=values)
def test_log_rounding_rounds_the_exponent(code, xs):
    code = ExpCode(**{**code.to_dict(), "rounding": "log"})
    m = np.abs(np.array(xs)) if code.signed else np.maximum(np.array(xs), 0)
    _, _, u = code.split(code.encode(m))
    above_zero = m >= code.thresholds()[0] if code.zero_code else np.ones(m.shape, bool)
    exact = np.log((m[above_zero] - code.beta).clip(1e-300) / code.alpha) / np.log(code.base)
    expected = np.clip(np.floor(exact + 0.5), code.min_exp, code.n_exp - 1)
    inside = np.abs(exact - np.round(exact) - 0.5) > 1e-9           # skip exact ties
    np.testing.assert_array_equal(u[above_zero][inside], expected[inside])


@settings(max_examples=200, deadline=None)
@given(code=codes, xs=values)
def test_quantize_is_monotonic_and_idempotent(code, xs):
    x = np.sort(np.array(xs))
    q = code.quantize(x)
    assert np.all(np.diff(q) >= 0)
    np.testing.assert_array_equal(code.quantize(q), q)


@settings(max_examples=100, deadline=None)
@given(code=codes, xs=values)
def test_signed_codes_are_symmetric(code, xs):
    code = ExpCode(**{**code.to_dict(), "signed": True})
    x = np.array(xs)
    x = x[x != 0]      # without a zero code, 0 goes to +smallest level by convention
    assume(x.size)
    np.testing.assert_array_equal(code.quantize(-x), -code.quantize(x))


@settings(max_examples=100, deadline=None)
@given(code=codes, xs=values)
def test_codes_fit_their_bits_and_split_consistently(code, xs):
    c = code.encode(np.array(xs))
    assert c.min() >= 0 and c.max() < (1 << code.bits)
    zero, sign, exp = code.split(c)
    assert np.all(exp < code.n_exp)
    if code.zero_code:
        np.testing.assert_array_equal(zero, exp == 0)
        assert not np.any(sign[zero]), "exact zeros carry a clear sign bit"
    else:
        assert not zero.any()
    if not code.signed:
        assert not sign.any()


def test_unsigned_code_clips_negatives_to_the_smallest_level():
    code = ExpCode(bits=3, base=2.0, alpha=0.5, signed=False, zero_code=False)
    assert code.quantize(np.array([-3.0]))[0] == code.levels()[0]


def test_layout_of_signed_code():
    code = ExpCode(bits=4, base=2.0, alpha=1.0)
    assert (code.exp_bits, code.n_exp, code.min_exp) == (3, 8, 1)
    np.testing.assert_array_equal(code.encode([-2.0, 2.0, 0.0]), [0b1001, 0b0001, 0])


@pytest.mark.parametrize("kwargs, message", [
    ({"bits": 9}, "bits must be an integer in 2..8"),
    ({"bits": 1}, "bits must be an integer in 2..8"),
    ({"bits": 4.0}, "bits must be an integer"),
    ({"base": 1.0}, "base must be > 1"),
    ({"base": float("nan")}, "base must be a finite number"),
    ({"alpha": 0.0}, "alpha must be > 0"),
    ({"beta": -5.0}, "smallest level negative"),
    ({"rounding": "nearest"}, "rounding must be one of"),
])
def test_bad_parameters_give_one_line_errors(kwargs, message):
    with pytest.raises(QuantError, match=message) as err:
        ExpCode(**{"bits": 4, "base": 2.0, "alpha": 1.0, **kwargs})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("bad, message", [
    ([1.0, float("nan")], "NaN"),
    ([float("inf")], "Inf"),
    ([], "empty"),
])
def test_bad_tensors_give_one_line_errors(bad, message):
    with pytest.raises(QuantError, match=message):
        ExpCode(bits=4, base=2.0, alpha=1.0).encode(np.array(bad))


def test_codes_out_of_range_are_rejected():
    with pytest.raises(QuantError, match="codes out of range"):
        ExpCode(bits=3, base=2.0, alpha=1.0).decode([8])


def test_record_round_trip_and_errors():
    code = ExpCode(bits=5, base=1.3, alpha=0.1, beta=0.01, signed=False, zero_code=False, rounding="log")
    assert ExpCode.from_dict(code.to_dict()) == code
    with pytest.raises(QuantError, match="unknown ExpCode field"):
        ExpCode.from_dict({**code.to_dict(), "gamma": 1})
    with pytest.raises(QuantError, match="malformed ExpCode record"):
        ExpCode.from_dict({"bits": 4})
