"""Adaptive per-layer search of DNA-TEQ exponential codes (algorithm: ``docs/search.md``).

For one layer (weights plus calibration activations) the search picks a base shared by both
tensors and the smallest bit-widths ``n_w, n_a`` in ``bits_range`` whose error stays under
``thr_w`` / ``thr_a``; scale and offset of each tensor are fitted per candidate base.  Two error
metrics exist (:data:`METRICS`):

* ``"rmae"`` -- the paper's relative mean absolute error ``sum|x - Q(x)| / sum|x|``;
* ``"output"`` -- the first-order error of the layer's *output*, as a relative weighted RMS error
  ``sqrt(sum w (x - Q(x))**2 / sum w x**2)`` whose per-element importance ``w`` is, for an
  activation, the squared norm of the weights that read its channel and, for a weight, the mean
  square of the activations of its input channel (:func:`output_error`).

Speed comes from evaluating the exact error of any level set in ``O(levels * log N)`` with a
sorted copy of the tensor and its prefix sums (:class:`SortedTensor`), so no candidate ever
re-encodes the tensor, and from computing each layer's error curves once
(:class:`LayerCurves`) and selecting codes for any thresholds from them.
"""

import time
from dataclasses import dataclass

import numpy as np

from .errors import QuantError, check_bits, check_finite
from .expcode import ExpCode

__all__ = ["SortedTensor", "fit_code", "search_layer", "LayerCurves", "LayerSearch", "rmae",
           "output_error", "base_grid", "DEFAULT_BITS", "METRICS"]

#: Bit-widths the search tries, smallest first.
DEFAULT_BITS = tuple(range(3, 9))

#: Error metrics of the search (see the module docstring).
METRICS = ("rmae", "output")

#: Largest ratio between the top and the bottom non-zero level of a candidate code.  Wider codes
#: spend levels below any useful resolution (and below the hardware table's, see docs/search.md).
MAX_LEVEL_RATIO = 2.0 ** 16


def rmae(x, x_hat):
    """Relative mean absolute error ``sum|x - x_hat| / sum|x|`` (0 for an all-zero ``x``)."""
    x = np.asarray(x, dtype=np.float64)
    denom = np.abs(x).sum()
    return float(np.abs(x - np.asarray(x_hat)).sum() / denom) if denom else 0.0


def output_error(x, x_hat, importance=None):
    """Relative weighted RMS error ``sqrt(sum w (x - x_hat)**2 / sum w x**2)`` (0 for a zero ``x``).

    ``importance`` (``w``, default 1) broadcasts against ``x``; this is the ``"output"`` metric.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.broadcast_to(1.0 if importance is None else np.asarray(importance, dtype=np.float64), x.shape)
    denom = (w * x * x).sum()
    return float(np.sqrt((w * (x - np.asarray(x_hat)) ** 2).sum() / denom)) if denom else 0.0


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
    importance : array_like or None
        Non-negative per-element weights of the squared error (broadcast against ``x``; default 1).
    """

    def __init__(self, x, signed=None, max_samples=None, seed=0, importance=None):
        x = np.asarray(x, dtype=np.float64)
        check_finite("tensor", x)
        if importance is not None:
            try:
                importance = np.broadcast_to(np.asarray(importance, dtype=np.float64), x.shape).ravel()
            except ValueError:
                raise QuantError(f"importance of shape {np.shape(importance)} does not broadcast to the "
                                 f"tensor's {x.shape}") from None
            check_finite("importance", importance)
            if importance.min() < 0:
                raise QuantError("importance must be non-negative")
        x = x.ravel()
        if max_samples is not None and x.size > max_samples:
            keep = np.random.default_rng(seed).choice(x.size, size=max_samples, replace=False)
            x = x[keep]
            importance = None if importance is None else importance[keep]
        self.signed = bool(x.min() < 0) if signed is None else bool(signed)
        magnitudes = np.abs(x) if self.signed else x
        if importance is None:
            self.values, self._weights = np.sort(magnitudes), np.ones(x.size)
        else:
            order = np.argsort(magnitudes, kind="stable")
            self.values, self._weights = magnitudes[order], importance[order]
        self.prefix = np.concatenate(([0.0], np.cumsum(self.values)))
        self.total = float(np.abs(x).sum())
        self.size = x.size
        self._weighted_prefix = None

    @property
    def weighted_prefix(self):
        """``[3, N+1]`` prefix sums of ``w``, ``w*v`` and ``w*v**2`` in sorted order (built on first use)."""
        if self._weighted_prefix is None:
            w, v = self._weights, self.values
            self._weighted_prefix = np.concatenate((np.zeros((3, 1)), np.cumsum([w, w * v, w * v * v], axis=1)),
                                                   axis=1)
        return self._weighted_prefix

    @property
    def total_sq(self):
        """``sum w v**2``, the denominator of the ``"output"`` metric."""
        return float(self.weighted_prefix[2, -1])

    def quantile(self, q):
        """Quantile of the magnitudes (signed) or values (unsigned)."""
        return float(self.values[int(round(q * (self.size - 1)))])

    def _segments(self, levels, thresholds):
        """Index ranges ``[lo, hi)`` of the values each level receives (batch axes allowed)."""
        bounds = np.searchsorted(self.values, thresholds, side="left")
        pad = np.zeros(bounds.shape[:-1] + (1,), dtype=bounds.dtype)
        return np.concatenate((pad, bounds), axis=-1), np.concatenate((bounds, pad + self.size), axis=-1)

    def l1_error(self, levels, thresholds):
        """``sum |v - level(v)|`` when every value goes to the level its thresholds select.

        ``levels`` ``[..., U]`` and ``thresholds`` ``[..., U-1]`` may carry leading batch axes
        (one candidate code each); the result then has those axes.
        """
        s = self.prefix
        lo, hi = self._segments(levels, thresholds)
        split = np.clip(np.searchsorted(self.values, levels), lo, hi)
        below = levels * (split - lo) - (s[split] - s[lo])
        above = (s[hi] - s[split]) - levels * (hi - split)
        return (below + above).sum(axis=-1)

    def sq_error(self, levels, thresholds):
        """``sum w (v - level(v))**2``: per segment ``L**2 Sw - 2 L Swv + Swv2`` (batch axes as :meth:`l1_error`)."""
        lo, hi = self._segments(levels, thresholds)
        sw, swv, swv2 = self.weighted_prefix[:, hi] - self.weighted_prefix[:, lo]
        return np.maximum(levels * levels * sw - 2.0 * levels * swv + swv2, 0.0).sum(axis=-1)

    def error(self, levels, thresholds, metric="rmae"):
        """Error of level sets under ``metric`` (:data:`METRICS`; 0 for an all-zero tensor)."""
        if metric == "rmae":
            return self.l1_error(levels, thresholds) / self.total if self.total else 0.0 * levels[..., 0]
        if metric == "output":
            return np.sqrt(self.sq_error(levels, thresholds) / self.total_sq) if self.total_sq \
                else 0.0 * levels[..., 0]
        raise QuantError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")

    def rmae(self, levels, thresholds):
        """RMAE of a level set (0 for an all-zero tensor)."""
        return float(self.error(levels, thresholds, "rmae"))


def _code_from_ends(bottom, top, base, n_exp, zero_code):
    """``(alpha, beta)`` whose levels run from ``bottom`` (smallest non-zero) to ``top``."""
    first = 1 if zero_code else 0
    alpha = (top - bottom) / (base ** (n_exp - 1) - base ** first)
    return alpha, bottom - alpha * base ** first


def fit_code(tensor, bits, base, *, zero_code, offsets, rounding="linear", rounds=4, metric="rmae"):
    """Fit scale and offset of a code with fixed bits and base to minimise the error ``metric``.

    Candidates are parametrised by the top level and the ratio bottom/top of the smallest
    non-zero level; that ratio is ``base**-(n_exp-1-first)`` when ``offsets`` is False (a pure
    exponential, ``beta = 0``).  A grid over ``log(top)`` (and the ratio, with offsets) is
    evaluated in one vectorised call, then re-centred and narrowed ``rounds`` times.

    Returns
    -------
    (ExpCode or None, float)
        The fitted code and its error on ``tensor``; ``(None, inf)`` when a pure exponential with
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

    def errors(log_top, ratio):
        top = np.exp(log_top)[..., None]
        alpha, beta = _code_from_ends(ratio[..., None] * top, top, base, n_exp, zero_code)
        levels = alpha * base ** u + beta
        if zero_code:
            levels[..., 0] = 0.0
        thresholds = 0.5 * (levels[..., :-1] + levels[..., 1:])
        if rounding == "log":
            thresholds[..., first:] = alpha * base ** (u[first:-1] + 0.5) + beta
        return tensor.error(levels, thresholds, metric)

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
    return code, float(tensor.error(code.levels(), code.thresholds(), metric))


@dataclass
class LayerSearch:
    """Result of :func:`search_layer` (JSON-serialisable through :meth:`to_dict`).

    ``w_rmae`` / ``a_rmae`` hold the codes' errors under ``metric`` (the names date from when
    RMAE was the only metric).
    """

    w_code: ExpCode
    a_code: ExpCode
    w_rmae: float
    a_rmae: float
    thr_w: float
    thr_a: float
    met: bool
    seconds: float
    metric: str = "rmae"

    @property
    def base(self):
        """The base both codes share."""
        return self.w_code.base

    def to_dict(self):
        """Plain-JSON record (``metric`` only where it is not the paper's RMAE)."""
        record = {"base": self.base, "w_bits": self.w_code.bits, "a_bits": self.a_code.bits,
                  "w_code": self.w_code.to_dict(), "a_code": self.a_code.to_dict(),
                  "w_rmae": self.w_rmae, "a_rmae": self.a_rmae, "thr_w": self.thr_w,
                  "thr_a": self.thr_a, "met": self.met, "seconds": self.seconds}
        if self.metric != "rmae":
            record["metric"] = self.metric
        return record

    @classmethod
    def from_dict(cls, record):
        """Inverse of :meth:`to_dict` (records without ``metric`` are RMAE searches)."""
        return cls(w_code=ExpCode.from_dict(record["w_code"]), a_code=ExpCode.from_dict(record["a_code"]),
                   w_rmae=record["w_rmae"], a_rmae=record["a_rmae"], thr_w=record["thr_w"],
                   thr_a=record["thr_a"], met=record["met"], seconds=record["seconds"],
                   metric=record.get("metric", "rmae"))


def _check_threshold(name, value):
    if not np.isfinite(value) or value <= 0:
        raise QuantError(f"{name} must be a positive number, got {value!r}")


class LayerCurves:
    """The error curves ``E(n, b)`` of one layer's two tensors, from which codes are selected.

    Curves (best error over both zero-code choices, per candidate base) are computed lazily, one
    bit-width at a time, and kept: :meth:`select` for any thresholds reuses them, so tuning
    never computes a layer's curves twice.  The sorted scan subsets are kept; the sorted
    full-size tensors of the final refit are rebuilt on demand.

    Parameters are those of :func:`search_layer` (``w_importance`` / ``a_importance``: the
    ``"output"`` metric's per-element weights, broadcast against the tensors).
    """

    def __init__(self, weights, activations, *, bits_w=DEFAULT_BITS, bits_a=DEFAULT_BITS, offsets=False,
                 zero_codes=(False, True), rounding="linear", a_signed=None, grid=None, metric="rmae",
                 w_importance=None, a_importance=None, max_samples=1 << 20, scan_samples=1 << 16, seed=0):
        start = time.perf_counter()
        for b in list(bits_w) + list(bits_a):
            check_bits("candidate bits", b)
        if metric not in METRICS:
            raise QuantError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        if metric == "rmae" and (w_importance is not None or a_importance is not None):
            raise QuantError("importance weights apply to the 'output' metric only")
        self.grid = base_grid() if grid is None else np.asarray(grid, dtype=np.float64)
        if self.grid.size == 0 or np.any(self.grid <= 1):
            raise QuantError("candidate bases must all be > 1")
        self.bits = {"w": sorted(set(bits_w)), "a": sorted(set(bits_a))}
        self.offsets = bool(offsets)
        self.zero_codes, self.rounding, self.metric = tuple(zero_codes), rounding, metric
        activations = np.asarray(activations, dtype=np.float64)
        check_finite("tensor", activations)
        self.signed_a = bool(activations.min() < 0) if a_signed is None else bool(a_signed)
        self._inputs = {"w": (weights, True, w_importance), "a": (activations, self.signed_a, a_importance)}
        self._samples, self._seed = {"full": max_samples, "scan": scan_samples}, seed
        self.scan = {side: self._tensor(side, "scan") for side in "wa"}
        self._curves, self._results = {}, {}
        self.seconds = time.perf_counter() - start

    def _tensor(self, side, size):
        x, signed, importance = self._inputs[side]
        return SortedTensor(x, signed=signed, max_samples=self._samples[size], seed=self._seed,
                            importance=importance)

    def fit(self, tensor, side, bits, base):
        """Best of the zero-code choices: ``(ExpCode, error)`` of ``tensor`` (one of the layer's two)."""
        fits = [fit_code(tensor, bits, base, zero_code=z, offsets=self.offsets, rounding=self.rounding,
                         metric=self.metric) for z in self.zero_codes]
        return min(fits, key=lambda f: f[1])

    def curve(self, side, bits):
        """Errors of the best ``bits``-bit code of tensor ``side`` (``"w"`` or ``"a"``) at every grid base."""
        key = (side, bits)
        if key not in self._curves:
            start = time.perf_counter()
            self._curves[key] = np.array([self.fit(self.scan[side], side, bits, b)[1] for b in self.grid])
            self.seconds += time.perf_counter() - start
        return self._curves[key]

    def select(self, thr_w, thr_a):
        """The smallest bit-widths whose best shared base meets both thresholds (see ``docs/search.md``).

        Returns
        -------
        LayerSearch
            ``met`` is False when no candidate met both thresholds; the codes are then the widest
            candidates with the best shared base.
        """
        _check_threshold("thr_w", thr_w)
        _check_threshold("thr_a", thr_a)
        pairs = sorted(((nw, na) for nw in self.bits["w"] for na in self.bits["a"]),
                       key=lambda p: (p[0] + p[1], max(p)))
        for nw, na in pairs:
            if np.maximum(self.curve("w", nw) / thr_w, self.curve("a", na) / thr_a).min() <= 1.0:
                return self._finish(nw, na, thr_w, thr_a, met=True)
        return self._finish(self.bits["w"][-1], self.bits["a"][-1], thr_w, thr_a, met=False)

    def _finish(self, nw, na, thr_w, thr_a, met):
        """Refine the base between grid neighbours, then refit both codes on the full tensors."""
        key = (nw, na, thr_w / thr_a)          # the refined base depends on the thresholds' ratio only
        if key not in self._results:
            start = time.perf_counter()
            score = np.maximum(self.curve("w", nw) / thr_w, self.curve("a", na) / thr_a)
            base = _refine_base(self.grid, score, lambda b: max(self.fit(self.scan["w"], "w", nw, b)[1] / thr_w,
                                                                self.fit(self.scan["a"], "a", na, b)[1] / thr_a))
            w_code, w_err = self.fit(self._tensor("w", "full"), "w", nw, base)
            a_code, a_err = self.fit(self._tensor("a", "full"), "a", na, base)
            self.seconds += time.perf_counter() - start
            self._results[key] = (w_code, a_code, w_err, a_err)
        w_code, a_code, w_err, a_err = self._results[key]
        met = met and w_err <= thr_w and a_err <= thr_a
        return LayerSearch(w_code=w_code, a_code=a_code, w_rmae=w_err, a_rmae=a_err, thr_w=thr_w, thr_a=thr_a,
                           met=bool(met), seconds=self.seconds, metric=self.metric)


def search_layer(weights, activations, *, thr_w=0.2, thr_a=0.2, bits_w=DEFAULT_BITS,
                 bits_a=DEFAULT_BITS, offsets=False, zero_codes=(False, True), rounding="linear",
                 a_signed=None, grid=None, metric="rmae", w_importance=None, a_importance=None,
                 max_samples=1 << 20, scan_samples=1 << 16, seed=0):
    """Search the shared base and the smallest bit-widths of one layer under error thresholds.

    Parameters
    ----------
    weights, activations : array_like
        The layer's weights and calibration activations (its inputs), any shape.
    thr_w, thr_a : float
        Error thresholds of weights and activations (under ``metric``).
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
    metric : {"rmae", "output"}
        Error metric (:data:`METRICS`); ``"rmae"`` is the paper's.
    w_importance, a_importance : array_like or None
        ``"output"`` metric only: per-element weights of the squared error, broadcast against
        ``weights`` / ``activations`` (for a layer ``Y = A W^T``: ``E[a_c^2]`` per weight column,
        ``||W[:, c]||^2`` per activation channel).  None weighs every element alike.
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
    _check_threshold("thr_w", thr_w)
    _check_threshold("thr_a", thr_a)
    curves = LayerCurves(weights, activations, bits_w=bits_w, bits_a=bits_a, offsets=offsets,
                         zero_codes=zero_codes, rounding=rounding, a_signed=a_signed, grid=grid, metric=metric,
                         w_importance=w_importance, a_importance=a_importance, max_samples=max_samples,
                         scan_samples=scan_samples, seed=seed)
    return curves.select(thr_w, thr_a)


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
