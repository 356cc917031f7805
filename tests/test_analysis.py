"""Distribution fits rank the generating family first; plots are written."""

import numpy as np
import pytest

from quant.analysis import fit_distributions, plot_fits
from quant.errors import QuantError


@pytest.mark.parametrize("make, best", [
    (lambda rng: rng.laplace(size=20_000), "Exponential"),
    (lambda rng: rng.normal(size=20_000), "Normal"),
    (lambda rng: rng.uniform(-1, 1, size=20_000), "Uniform"),
])
def test_generating_family_ranks_first(rng, make, best):
    fits, _ = fit_distributions(make(rng))
    assert fits[0].name == best
    assert [f.ks for f in fits] == sorted(f.ks for f in fits)


def test_zero_fraction_is_reported(rng):
    x = rng.laplace(size=1000)
    x[:250] = 0
    assert fit_distributions(x)[1] == pytest.approx(0.25)


def test_plot_is_written(rng, tmp_path):
    fits = plot_fits(rng.laplace(size=5000), tmp_path / "fit.png", title="laplace")
    assert (tmp_path / "fit.png").stat().st_size > 10_000 and len(fits) == 4


def test_too_few_values():
    with pytest.raises(QuantError, match="fewer than two non-zero"):
        fit_distributions(np.zeros(10))
