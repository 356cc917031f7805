"""INT8, base-2 log and DQA baselines."""

import numpy as np
import pytest

from quant.baselines import fit_dqa, fit_int8, fit_log2, huffman_code_lengths
from quant.errors import QuantError
from quant.search import rmae


def test_int8_per_tensor_error_is_half_a_step(rng):
    x = rng.normal(size=(8, 100))
    code = fit_int8(x)
    assert np.abs(code.encode(x)).max() == 127
    assert np.abs(x - code.quantize(x)).max() <= code.scale / 2 + 1e-12


def test_int8_per_channel_beats_per_tensor_on_uneven_channels(rng):
    x = rng.normal(size=(16, 200)) * np.logspace(-2, 0, 16)[:, None]
    per_channel = fit_int8(x, axis=0)
    assert np.asarray(per_channel.scale).shape == (16,)
    assert rmae(x, per_channel.quantize(x)) < rmae(x, fit_int8(x).quantize(x)) / 2
    with pytest.raises(QuantError, match="channel axis 2 out of range"):
        fit_int8(x, axis=2)


def test_log2_levels_are_powers_of_two(rng):
    x = rng.laplace(size=5000)
    code = fit_log2(x, 4)
    levels = code.levels()[1:]
    np.testing.assert_allclose(np.log2(levels), np.round(np.log2(levels)), atol=1e-12)
    assert code.base == 2.0 and code.rounding == "log" and code.zero_code


def test_huffman_lengths_are_optimal_and_complete():
    lengths = huffman_code_lengths([0] * 8 + [1] * 4 + [2] * 2 + [3] * 2)
    assert lengths == {0: 1, 1: 2, 2: 3, 3: 3}
    assert sum(2.0 ** -l for l in lengths.values()) == 1.0           # Kraft equality
    assert huffman_code_lengths([5, 5]) == {5: 1}


def test_dqa_counts_huffman_bits_and_improves_with_more_important_channels(rng):
    x = np.maximum(rng.normal(size=(32, 16, 4, 4)), 0) * rng.exponential(size=(1, 16, 1, 1))
    none = fit_dqa(x, 3, important_fraction=0.0)
    some = fit_dqa(x, 3, important_fraction=0.25)
    assert none.average_bits() == 3
    assert 3 < some.average_bits() <= 3 + 0.25 * some.extra_bits + 1e-9
    assert some.important.sum() == 4
    assert rmae(x, some.quantize(x)) < rmae(x, none.quantize(x))


def test_dqa_ranks_channels_by_their_error_reduction(rng):
    x = np.abs(rng.normal(size=(64, 8)))
    x[:, 5] *= 100                      # one loud channel dominates the error
    assert fit_dqa(x, 3, important_fraction=1 / 8).important.tolist() == [i == 5 for i in range(8)]


def test_dqa_bad_arguments(rng):
    x = rng.normal(size=(4, 8))
    with pytest.raises(QuantError, match="important_fraction"):
        fit_dqa(x, 3, important_fraction=1.5)
    with pytest.raises(QuantError, match="channel_weight must have 8 entries"):
        fit_dqa(x, 3, channel_weight=np.ones(3))
