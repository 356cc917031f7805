"""Adaptive per-layer search of DNA-TEQ exponential codes (algorithm: ``docs/search.md``).

For one layer (weights plus calibration activations) the search picks a base shared by both
tensors and the smallest bit-widths ``n_w, n_a`` in ``bits_range`` whose relative mean absolute
error ``RMAE = sum|x - Q(x)| / sum|x|`` stays under ``thr_w`` / ``thr_a``; scale and offset of each
tensor are fitted per candidate base.

Speed comes from evaluating the exact L1 error of any level set in ``O(levels * log N)`` with a
sorted copy of the tensor and its prefix sums (:class:`SortedTensor`), so no candidate ever
re-encodes the tensor.
"""

import time
from dataclasses import dataclass

import numpy as np

from .errors import QuantError, check_bits, check_finite
from .expcode import ExpCode

__all__ = ["SortedTensor", "fit_code", "search_layer", "LayerSearch", "rmae", "base_grid",
           "DEFAULT_BITS"]

#: Bit-widths the search tries, smallest first.
DEFAULT_BITS = tuple(range(3, 9))

#: Largest ratio between the top and the bottom non-zero level of a candidate code.  Wider codes
#: spend levels below any useful resolution (and below the hardware table's, see docs/search.md).
MAX_LEVEL_RATIO = 2.0 ** 16


def rmae(x, x_hat):
    """Relative mean absolute error ``sum|x - x_hat| / sum|x|`` (0 for an all-zero ``x``)."""
    x = np.asarray(x, dtype=np.float64)
    denom = np.abs(x).sum()
    return float(np.abs(x - np.asarray(x_hat)).sum() / denom) if denom else 0.0


def base_grid(size=28, lo=1.01, hi=4.0):
    """Candidate bases, evenly spaced in ``log(log b)`` so both near-linear and coarse codes are covered."""
    return np.exp(np.exp(np.linspace(np.log(np.log(lo)), np.log(np.log(hi)), size)))


class SortedTensor:
    """A tensor prepared for fast error evaluation of candidate codes.

    Parameters
    ----------
    x : array_like
        Finite values (weights or activations).
    signed : bool or None
        Whether the code will carry a sign bit; None picks unsigned exactly when ``x >= 0``.
    max_samples : int or None
        Evaluate on at most this many elements (a seeded random subset) to bound the cost.
    seed : int
        Seed of that subset.
    """

    def __init__(self, x, signed=None, max_samples=None, seed=0):
        x = np.asarray(x, dtype=np.float64).ravel()
        check_finite("tensor", x)
        if max_samples is not None and x.size > max_samples:
            x = np.random.default_rng(seed).choice(x, size=max_samples, replace=False)
        self.signed = bool(x.min() < 0) if signed is None else bool(signed)
        self.values = np.sort(np.abs(x) if self.signed else x)
        self.prefix = np.concatenate(([0.0], np.cumsum(self.values)))
        self.total = float(np.abs(x).sum())
        self.size = x.size

    def quantile(self, q):
        """Quantile of the magnitudes (signed) or values (unsigned)."""
        return float(self.values[int(round(q * (self.size - 1)))])

    def l1_error(self, levels, thresholds):
        """``sum |v - level(v)|`` when every value goes to the level its thresholds select.

        ``levels`` ``[..., U]`` and ``thresholds`` ``[..., U-1]`` may carry leading batch axes
        (one candidate code each); the result then has those axes.
        """
        v, s, n = self.values, self.prefix, self.size
        bounds = np.searchsorted(v, thresholds, side="left")
        pad = np.zeros(bounds.shape[:-1] + (1,), dtype=bounds.dtype)
        lo = np.concatenate((pad, bounds), axis=-1)
        hi = np.concatenate((bounds, pad + n), axis=-1)
        split = np.clip(np.searchsorted(v, levels), lo, hi)
        below = levels * (split - lo) - (s[split] - s[lo])
        above = (s[hi] - s[split]) - levels * (hi - split)
        return (below + above).sum(axis=-1)

    def rmae(self, levels, thresholds):
        """RMAE of a level set (0 for an all-zero tensor)."""
        return float(self.l1_error(levels, thresholds)) / self.total if self.total else 0.0


def _code_from_ends(bottom, top, base, n_exp, zero_code):
    """``(alpha, beta)`` whose levels run from ``bottom`` (smallest non-zero) to ``top``."""
    first = 1 if zero_code else 0
    alpha = (top - bottom) / (base ** (n_exp - 1) - base ** first)
    return alpha, bottom - alpha * base ** first


def fit_code(tensor, bits, base, *, zero_code, offsets, rounding="linear", rounds=4):
    """Fit scale and offset of a code with fixed bits and base to minimise the RMAE.

    Candidates are parametrised by the top level and the ratio bottom/top of the smallest
    non-zero level; that ratio is ``base**-(n_exp-1-first)`` when ``offsets`` is False (a pure
    exponential, ``beta = 0``).  A grid over ``log(top)`` (and the ratio, with offsets) is
    evaluated in one vectorised call, then re-centred and narrowed ``rounds`` times.

    Returns
    -------
    (ExpCode or None, float)
        The fitted code and its RMAE on ``tensor``; ``(None, inf)`` when a pure exponential with
        this base spans more than :data:`MAX_LEVEL_RATIO` (the candidate is infeasible).
    """
    check_bits("bits", bits)
    signed = tensor.signed
    n_exp = 1 << (bits - 1 if signed else bits)
    first = 1 if zero_code else 0
    natural = base ** -(n_exp - 1 - first)      # bottom/top ratio of a pure exponential (beta = 0)
    if natural < 1.0 / MAX_LEVEL_RATIO:
        return None, np.inf
    peak = tensor.quantile(1.0)
    if peak <= 0:
        return ExpCode(bits=bits, base=base, alpha=1.0, signed=signed, zero_code=zero_code,
                       rounding=rounding), 0.0
    floor = 1e-4 if zero_code else 0.0          # with a zero code the bottom level must stay above 0
    u = np.arange(n_exp, dtype=np.float64)
    first_thr = 1 if zero_code else 0

    def errors(log_top, ratio):
        top = np.exp(log_top)[..., None]
        alpha, beta = _code_from_ends(ratio[..., None] * top, top, base, n_exp, zero_code)
        levels = alpha * base ** u + beta
        if zero_code:
            levels[..., 0] = 0.0
        thresholds = 0.5 * (levels[..., :-1] + levels[..., 1:])
        if rounding == "log":
            thresholds[..., first_thr:] = alpha * base ** (u[first_thr:-1] + 0.5) + beta
        return tensor.l1_error(levels, thresholds)

    lo_top = np.log(max(tensor.quantile(0.5), peak * 1e-3))
    log_tops = np.linspace(lo_top, np.log(peak) + 0.2, 17)
    ratios = np.linspace(floor, 0.9, 10) if offsets else np.array([natural])
    step_top, step_ratio = log_tops[1] - log_tops[0], (ratios[1] - ratios[0] if offsets else 0.0)
    for _ in range(rounds + 1):
        grid_top, grid_ratio = np.meshgrid(log_tops, ratios, indexing="ij")
        err = errors(grid_top, grid_ratio)
        best = np.unravel_index(np.argmin(err), err.shape)
        best_top, best_ratio = grid_top[best], grid_ratio[best]
        step_top /= 3
        log_tops = best_top + step_top * np.arange(-4, 5)
        if offsets:
            step_ratio /= 3
            ratios = np.clip(best_ratio + step_ratio * np.arange(-4, 5), floor, 0.999)
    top = float(np.exp(best_top))
    alpha, beta = _code_from_ends(best_ratio * top, top, base, n_exp, zero_code)
    beta = max(beta, -alpha * base ** first) if offsets else 0.0   # keep the bottom level >= 0
    code = ExpCode(bits=bits, base=base, alpha=alpha, beta=beta, signed=signed, zero_code=zero_code,
                   rounding=rounding)
    return code, tensor.rmae(code.levels(), code.thresholds())


def _best_zero_choice(tensor, bits, base, zero_codes, offsets, rounding):
    fits = [fit_code(tensor, bits, base, zero_code=z, offsets=offsets, rounding=rounding)
            for z in zero_codes]
    return min(fits, key=lambda f: f[1])


@dataclass
class LayerSearch:
    """Result of :func:`search_layer` (JSON-serialisable through :meth:`to_dict`)."""

    w_code: ExpCode
    a_code: ExpCode
    w_rmae: float
    a_rmae: float
    thr_w: float
    thr_a: float
    met: bool
    seconds: float

    @property
    def base(self):
        """The base both codes share."""
        return self.w_code.base

    def to_dict(self):
        """Plain-JSON record."""
        return {"base": self.base, "w_bits": self.w_code.bits, "a_bits": self.a_code.bits,
                "w_code": self.w_code.to_dict(), "a_code": self.a_code.to_dict(),
                "w_rmae": self.w_rmae, "a_rmae": self.a_rmae, "thr_w": self.thr_w,
                "thr_a": self.thr_a, "met": self.met, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, record):
        """Inverse of :meth:`to_dict`."""
        return cls(w_code=ExpCode.from_dict(record["w_code"]), a_code=ExpCode.from_dict(record["a_code"]),
                   w_rmae=record["w_rmae"], a_rmae=record["a_rmae"], thr_w=record["thr_w"],
                   thr_a=record["thr_a"], met=record["met"], seconds=record["seconds"])


def search_layer(weights, activations, *, thr_w=0.2, thr_a=0.2, bits_w=DEFAULT_BITS,
                 bits_a=DEFAULT_BITS, offsets=False, zero_codes=(False, True), rounding="linear",
                 a_signed=None, grid=None, max_samples=1 << 20, scan_samples=1 << 16, seed=0):
    """Search the shared base and the smallest bit-widths of one layer under error thresholds.

    Parameters
    ----------
    weights, activations : array_like
        The layer's weights and calibration activations (its inputs), any shape.
    thr_w, thr_a : float
        RMAE thresholds of weights and activations.
    bits_w, bits_a : sequence of int
        Candidate bit-widths (within 2..8).
    offsets : bool
        Allow ``beta != 0`` (the hardware must then have offset counters).
    zero_codes : sequence of bool
        Zero-code choices to try per tensor; the lower-error one is kept.
    rounding : {"linear", "log"}
    a_signed : bool or None
        Force signed/unsigned activations; None picks unsigned exactly when activations are >= 0.
    grid : array_like or None
        Candidate bases (default :func:`base_grid`); the winner is refined between its neighbours.
    max_samples : int
        Elements per tensor used for the final fit (seeded random subset beyond that).
    scan_samples : int
        Elements per tensor used while scanning bases and bit-widths (a smaller seeded subset;
        the final codes are refitted on ``max_samples``).
    seed : int

    Returns
    -------
    LayerSearch
        The chosen codes.  ``met`` is False when no candidate met both thresholds; the codes are
        then the widest candidates with the best shared base.
    """
    start = time.perf_counter()
    for name, value in (("thr_w", thr_w), ("thr_a", thr_a)):
        if not np.isfinite(value) or value <= 0:
            raise QuantError(f"{name} must be a positive number, got {value!r}")
    for b in list(bits_w) + list(bits_a):
        check_bits("candidate bits", b)
    w_full = SortedTensor(weights, signed=True, max_samples=max_samples, seed=seed)
    a_full = SortedTensor(activations, signed=a_signed, max_samples=max_samples, seed=seed)
    w = SortedTensor(weights, signed=True, max_samples=scan_samples, seed=seed)
    a = SortedTensor(activations, signed=a_full.signed, max_samples=scan_samples, seed=seed)
    grid = base_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    if grid.size == 0 or np.any(grid <= 1):
        raise QuantError("candidate bases must all be > 1")

    curves = {}

    def curve(tensor, bits):
        key = (id(tensor), bits)
        if key not in curves:
            curves[key] = np.array([_best_zero_choice(tensor, bits, b, zero_codes, offsets, rounding)[1]
                                    for b in grid])
        return curves[key]

    pairs = sorted(((nw, na) for nw in sorted(set(bits_w)) for na in sorted(set(bits_a))),
                   key=lambda p: (p[0] + p[1], max(p)))
    chosen = None
    for nw, na in pairs:
        score = np.maximum(curve(w, nw) / thr_w, curve(a, na) / thr_a)
        if score.min() <= 1.0:
            chosen = (nw, na, score)
            break
    met = chosen is not None
    if not met:
        nw, na = max(bits_w), max(bits_a)
        chosen = (nw, na, np.maximum(curve(w, nw) / thr_w, curve(a, na) / thr_a))
    nw, na, score = chosen
    base = _refine_base(grid, score, lambda b: max(
        _best_zero_choice(w, nw, b, zero_codes, offsets, rounding)[1] / thr_w,
        _best_zero_choice(a, na, b, zero_codes, offsets, rounding)[1] / thr_a))
    w_code, w_err = _best_zero_choice(w_full, nw, base, zero_codes, offsets, rounding)
    a_code, a_err = _best_zero_choice(a_full, na, base, zero_codes, offsets, rounding)
    return LayerSearch(w_code=w_code, a_code=a_code, w_rmae=w_err, a_rmae=a_err, thr_w=thr_w,
                       thr_a=thr_a, met=bool(met and w_err <= thr_w and a_err <= thr_a),
                       seconds=time.perf_counter() - start)


def _refine_base(grid, score, objective, steps=8):
    """Golden-section search of ``objective`` between the grid neighbours of the best grid point."""
    i = int(np.argmin(score))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    best_b, best = grid[i], score[i]
    ratio = (np.sqrt(5) - 1) / 2
    c, d = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fc, fd = objective(c), objective(d)
    for _ in range(steps):
        if fc < fd:
            hi, d, fd = d, c, fc
            c = hi - ratio * (hi - lo)
            fc = objective(c)
        else:
            lo, c, fc = c, d, fd
            d = lo + ratio * (hi - lo)
            fd = objective(d)
    for b, f in ((c, fc), (d, fd)):
        if f < best:
            best_b, best = b, f
    return float(best_b)
