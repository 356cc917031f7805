"""Distribution analysis of tensors: which of Normal, Exponential, Pareto, Uniform fits best.

Fits are made to the *magnitudes* ``|x|`` of the non-zero elements, because the exponential code
is symmetric in sign and gives exact zeros a code of their own.  On magnitudes the four families
are the half-normal (the magnitude of a zero-mean Normal), the exponential (magnitude of a
Laplace), the Pareto and the uniform distribution, each fitted by maximum likelihood with
``scipy.stats`` with the location fixed at 0.  (A Pareto with a free location becomes a Lomax
distribution, which tends to the exponential and would blur the comparison; fixed at 0 it is the
classic power law with support ``|x| >= x_min``.)  They are ranked by the
Kolmogorov-Smirnov statistic ``D = sup |F_empirical - F_fit|`` (smaller is better): it is
scale-free, needs no binning, and compares families with different numbers of parameters on one
footing.
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .errors import QuantError, check_finite

__all__ = ["FAMILIES", "DistributionFit", "fit_distributions", "plot_fits"]

#: Fitted families: display name -> (scipy distribution, fixed fit arguments).
FAMILIES = {
    "Normal": (stats.halfnorm, {"floc": 0.0}),
    "Exponential": (stats.expon, {"floc": 0.0}),
    "Pareto": (stats.pareto, {"floc": 0.0}),
    "Uniform": (stats.uniform, {"floc": 0.0}),
}


@dataclass
class DistributionFit:
    """One fitted family: ``name``, scipy ``params`` and its KS statistic ``ks``."""

    name: str
    params: tuple
    ks: float

    def pdf(self, m):
        """Density of the fitted magnitude distribution at ``m``."""
        return FAMILIES[self.name][0].pdf(m, *self.params)

    def to_dict(self):
        """JSON-serialisable record."""
        return {"name": self.name, "params": [float(p) for p in self.params], "ks": self.ks}


def _magnitudes(x, max_samples, seed):
    x = np.asarray(x, dtype=np.float64).ravel()
    check_finite("tensor", x)
    m = np.abs(x[x != 0])
    if m.size < 2:
        raise QuantError("tensor has fewer than two non-zero values to fit")
    zero_fraction = 1.0 - m.size / x.size
    if m.size > max_samples:
        m = np.random.default_rng(seed).choice(m, size=max_samples, replace=False)
    return m, zero_fraction


def fit_distributions(x, max_samples=100_000, seed=0):
    """Fit every family of :data:`FAMILIES` to the non-zero magnitudes of ``x``.

    Returns
    -------
    fits : list of DistributionFit
        Best (smallest KS statistic) first.
    zero_fraction : float
        Share of exact zeros in ``x`` (not part of the fit).
    """
    m, zero_fraction = _magnitudes(x, max_samples, seed)
    fits = []
    for name, (dist, fixed) in FAMILIES.items():
        params = dist.fit(m, **fixed)
        fits.append(DistributionFit(name, tuple(params), float(stats.kstest(m, dist.cdf, args=params).statistic)))
    fits.sort(key=lambda f: f.ks)
    return fits, zero_fraction


def plot_fits(x, path, title="", max_samples=100_000, seed=0):
    """Histogram of the non-zero magnitudes with every fitted density, saved as PNG.

    Returns the fits (best first), as :func:`fit_distributions` does.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fits, zero_fraction = fit_distributions(x, max_samples, seed)
    m, _ = _magnitudes(x, max_samples, seed)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(m, bins=100, density=True, color="0.8", label="|x| (non-zero)")
    grid = np.linspace(0, np.quantile(m, 0.999), 400)[1:]
    for fit in fits:
        ax.plot(grid, fit.pdf(grid), label=f"{fit.name} (KS {fit.ks:.3f})")
    ax.set_xlim(0, grid[-1])
    ax.set_yscale("log")
    ax.set_xlabel("|x|")
    ax.set_ylabel("density")
    ax.set_title(f"{title}  zeros: {zero_fraction:.1%}".strip())
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return fits
