"""Model-level quantization: per-layer codes for every method, bit accounting, search and tuning.

Every method quantizes BOTH the weights and the input activations of EVERY weight layer (first
and last included); nothing stays in higher precision except the weight-free operations
(pooling, normalisation, softmax, residual additions, attention's activation products).

Methods (:data:`METHODS`):

=========  ==========================================================================
fp32       no quantization (the reference)
int8       INT8, per-channel weights (one scale per output row), per-tensor activations
           (scale from the calibration maximum)
log2-4/5   base-2 logarithmic code at 4 / 5 bits on weights and activations
           (:func:`quant.baselines.fit_log2`, power-of-two scales, log-domain rounding)
dqa-3/4/5  DQA on activations at 3 / 4 / 5 bits (+3 Huffman-coded bits on the 25% most
           important channels); weights INT8 per channel, as DQA quantizes activations only
dnateq     DNA-TEQ: per-layer exponential codes from :func:`quant.search.LayerCurves`
=========  ==========================================================================

DNA-TEQ searches (:func:`search_model`) bound one of two errors (:data:`quant.search.METRICS`):
``"rmae"`` (the default) the paper's RMAE of each tensor, ``"output"`` the importance-weighted
error of the layer output (``docs/search.md``).

Average bits (:func:`bits_summary`): ``avg_bits`` is the mean over all quantized tensors -- the
weight tensor and the input-activation tensor of every layer, each counted once -- of their
stored bits per element; ``weighted_w_bits`` weights each layer's weight bits by its number of
weights.  ``compression_vs_int8 = 1 - avg_bits / 8``.
"""

import hashlib
import json
import time
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..baselines import fit_dqa, fit_int8, fit_log2
from ..errors import QuantError
from ..search import METRICS, LayerCurves, LayerSearch
from .executors import ExactDnaTeqExecutor, LayerCodes, QuantizedExecutor
from .layers import fp32_product

__all__ = ["METHODS", "BASELINES", "baseline_codes", "dnateq_codes", "method_codes", "bits_summary", "read_searches",
           "layer_curves", "search_model", "evaluate_method", "THRESHOLD_GRID",
           "tune_thresholds", "TuneResult", "cache_dir"]


def _int8(layer, acts):
    return LayerCodes(fit_int8(layer.weight, axis=0), fit_int8(acts))


def _log2(layer, acts, bits):
    return LayerCodes(fit_log2(layer.weight, bits), fit_log2(acts, bits))


def _dqa(layer, acts, bits):
    return LayerCodes(fit_int8(layer.weight, axis=0),
                      fit_dqa(acts, bits, axis=1, channel_weight=layer.channel_weight()))


#: The fitted baselines: name -> builder(layer, calibration rows) -> LayerCodes.
BASELINES = {"int8": _int8,
             **{f"log2-{bits}": partial(_log2, bits=bits) for bits in (4, 5)},
             **{f"dqa-{bits}": partial(_dqa, bits=bits) for bits in (3, 4, 5)}}

#: Every method name, in report order.
METHODS = ("fp32",) + tuple(BASELINES) + ("dnateq",)

#: Thresholds that :func:`tune_thresholds` tries for ``Thr_w`` and ``Thr_act`` (either metric).
THRESHOLD_GRID = (0.01, 0.02, 0.035, 0.05, 0.07, 0.1, 0.14, 0.2, 0.28, 0.4)


def cache_dir():
    """Folder for cached intermediate results (``.data/cache`` in the repository; git-ignored)."""
    from ..toolchain import REPO_ROOT

    path = REPO_ROOT / ".data" / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def baseline_codes(method, layers, activations):
    """``{layer name: LayerCodes}`` of a baseline method fitted to calibration activations."""
    if method not in BASELINES:
        raise QuantError(f"unknown baseline {method!r}; choose from {', '.join(BASELINES)}")
    return {layer.name: BASELINES[method](layer, activations[layer.name]) for layer in layers}


def dnateq_codes(searches):
    """``{layer name: LayerCodes}`` of DNA-TEQ search results."""
    return {name: LayerCodes(result.w_code, result.a_code) for name, result in searches.items()}


def method_codes(method, layers, activations, searches=None):
    """``{layer name: LayerCodes}`` of any method (``dnateq`` needs the search results)."""
    if method == "fp32":
        return {layer.name: LayerCodes(_FLOAT32, _FLOAT32) for layer in layers}
    if method == "dnateq":
        if searches is None:
            raise QuantError("dnateq needs per-layer search results")
        return dnateq_codes(searches)
    return baseline_codes(method, layers, activations)


#: Stand-in code of an unquantized tensor (for the bit accounting of fp32).
_FLOAT32 = SimpleNamespace(bits=32)


def evaluate_method(task, method, activations=None, searches=None, *, split="test", n=None,
                    exact=False, table_width=None, progress=False):
    """Metrics and bit accounting of one method on a task split.

    Parameters
    ----------
    task : ImageTask or SentenceTask
    method : str
        One of :data:`METHODS`.
    activations : dict
        Calibration rows per layer (baselines).
    searches : dict
        DNA-TEQ search results per layer (``dnateq``).
    split, n :
        Evaluate on the first ``n`` inputs of ``split`` (all by default).
    exact : bool
        Run DNA-TEQ through the bit-exact hardware model instead of decode-and-float.
    table_width : int or None
        Table width of that hardware model (default: ``DnaTeqArith``'s).

    Returns
    -------
    dict
        The task's metrics (``acc``, ...), :func:`bits_summary`, and ``seconds``.
    """
    codes = method_codes(method, task.layers, activations, searches)
    if method == "fp32":
        executor = fp32_product
    elif exact:
        if method != "dnateq":
            raise QuantError("the exact hardware path exists for dnateq only")
        executor = ExactDnaTeqExecutor(task.layers, codes, table_width)
    else:
        executor = QuantizedExecutor(task.layers, codes)
    start = time.perf_counter()
    metrics = task.evaluate(executor, split=split, n=n, progress=progress)
    return {**metrics, **bits_summary(task.layers, codes), "seconds": time.perf_counter() - start}


def bits_summary(layers, codes):
    """Bit accounting of a quantized model (definitions in the module docstring).

    Returns
    -------
    dict
        ``avg_bits``, ``avg_w_bits``, ``avg_a_bits`` (per-tensor means), ``weighted_w_bits``,
        ``compression_vs_int8``, and ``layers``: per layer ``{name, kind, M, N, w_bits, a_bits}``.
    """
    w_bits = np.array([codes[layer.name].w_bits for layer in layers])
    a_bits = np.array([codes[layer.name].a_bits for layer in layers])
    sizes = np.array([layer.weight.size for layer in layers], dtype=np.float64)
    avg = float(np.concatenate((w_bits, a_bits)).mean())
    return {"avg_bits": avg, "avg_w_bits": float(w_bits.mean()), "avg_a_bits": float(a_bits.mean()),
            "weighted_w_bits": float((w_bits * sizes).sum() / sizes.sum()),
            "compression_vs_int8": 1.0 - avg / 8.0,
            "layers": [{"name": layer.name, "kind": layer.kind, "M": layer.out_features,
                        "N": layer.in_features, "w_bits": float(wb), "a_bits": float(ab)}
                       for layer, wb, ab in zip(layers, w_bits, a_bits)]}


def read_searches(path, layers):
    """Per-layer search results (``{name: LayerSearch}``) from a ``search``/``tune`` JSON file.

    Raises :class:`QuantError` (one line) for a missing or malformed file, or one without an entry
    for every layer in ``layers``.
    """
    try:
        records = json.loads(Path(path).read_text())["layers"]
        searches = {name: LayerSearch.from_dict(record) for name, record in records.items()}
    except FileNotFoundError:
        raise QuantError(f"parameter file not found: {path}") from None
    except KeyError as err:
        raise QuantError(f"malformed parameter file {path}: missing key {err}") from None
    except (OSError, ValueError, TypeError, AttributeError) as err:
        raise QuantError(f"malformed parameter file {path}: {err}") from None
    missing = [layer.name for layer in layers if layer.name not in searches]
    if missing:
        raise QuantError(f"parameter file {path} has no entry for layer(s) {', '.join(missing[:3])}")
    return searches


def _search_cache_path(fingerprint, layers, thr_w, thr_a, offsets, metric):
    key = [fingerprint, [layer.name for layer in layers], thr_w, thr_a, offsets]
    key = json.dumps(key if metric == "rmae" else key + [metric])    # RMAE keys predate the metric choice
    return cache_dir() / "search" / (hashlib.sha256(key.encode()).hexdigest()[:20] + ".json")


def layer_curves(layer, activations, *, offsets=False, metric="rmae"):
    """The :class:`~quant.search.LayerCurves` of one layer under an error metric (:data:`~quant.search.METRICS`).

    ``"output"`` weighs each weight's squared error by the mean square of the activations of its
    input channel and each activation's by the squared norm of the weights that read its channel:
    to first order, the relative RMS error that tensor's quantization adds to the layer output
    ``x @ W^T``.
    """
    if metric not in METRICS:
        raise QuantError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if metric == "rmae":
        return LayerCurves(layer.weight, activations, offsets=offsets)
    x_power = (activations.astype(np.float64) ** 2).mean(axis=0)
    return LayerCurves(layer.weight, activations, offsets=offsets, metric="output",
                       w_importance=np.tile(x_power, layer.taps)[None, :],
                       a_importance=layer.channel_weight()[None, :])


def search_model(layers, activations, *, thr_w, thr_a, offsets=False, metric="rmae", fingerprint=None,
                 curves=None, progress=False):
    """DNA-TEQ search of every layer (weights + calibration activations).

    Parameters
    ----------
    layers : sequence of GemmLayer
    activations : dict
        ``{layer name: calibration rows}``.
    thr_w, thr_a : float
        Error thresholds (under ``metric``).
    offsets : bool
        Allow ``beta != 0`` (needs the offset counters in hardware).
    metric : str
        ``"rmae"`` (default; the paper's) or ``"output"``, see :func:`layer_curves`.
    fingerprint : str or None
        Identifies model and calibration set; when given, results are cached under
        :func:`cache_dir` and reused.
    curves : dict or None
        ``{layer name: LayerCurves}`` kept between calls (same ``offsets`` and ``metric``), so the
        error curves of a layer are computed once for all thresholds.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    dict
        ``{layer name: LayerSearch}`` in layer order.
    """
    path = _search_cache_path(fingerprint, layers, thr_w, thr_a, offsets, metric) if fingerprint else None
    if path is not None and path.is_file():
        return {name: LayerSearch.from_dict(r) for name, r in json.loads(path.read_text()).items()}
    from tqdm import tqdm

    curves = {} if curves is None else curves
    results = {}
    for layer in tqdm(layers, desc=f"search thr_w={thr_w} thr_a={thr_a}", unit="layer",
                      disable=not progress or len(layers) == 1):
        if layer.name not in curves:
            curves[layer.name] = layer_curves(layer, activations[layer.name], offsets=offsets, metric=metric)
        results[layer.name] = curves[layer.name].select(thr_w, thr_a)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({n: r.to_dict() for n, r in results.items()}))
    return results


class TuneResult:
    """Outcome of :func:`tune_thresholds`.

    Attributes
    ----------
    threshold : float or None
        The loosest common threshold (``Thr_w = Thr_act``) that met the target in stage 1 (None
        when even the tightest missed it).
    searches : dict
        Per-layer search results of the chosen configuration; each records its own ``thr_w`` and
        ``thr_a`` (stage 2 loosens them per layer).
    reference : float
        FP32 accuracy on the tuning split.
    accuracy : float
        Accuracy of the chosen configuration on the tuning split.
    trials : list of dict
        Every evaluated configuration, in order.
    """

    def __init__(self, threshold, searches, reference, accuracy, trials):
        self.threshold, self.searches = threshold, searches
        self.reference, self.accuracy, self.trials = reference, accuracy, trials

    def to_dict(self):
        """Plain-JSON record (search results included)."""
        return {"threshold": self.threshold, "reference_acc": self.reference, "acc": self.accuracy,
                "trials": self.trials, "layers": {n: r.to_dict() for n, r in self.searches.items()}}


def tune_thresholds(layers, activations, accuracy, *, reference, max_loss=0.005, grid=THRESHOLD_GRID,
                    offsets=False, metric="rmae", refine_budget=None, fingerprint=None, progress=False):
    """Fewest average bits whose accuracy stays within ``max_loss`` of ``reference``.

    Stage 1 (common thresholds): ``Thr_w = Thr_act = t`` for ``t`` in ``grid``; a binary search
    finds the loosest ``t`` that meets the target, assuming accuracy does not rise as ``t``
    grows (about ``log2(len(grid))`` evaluations; only the visited ``t`` are searched).

    Stage 2 (per layer): starting there, each layer in turn (most bits first) tries the next
    looser grid threshold for its weights, then for its activations, and keeps it while the
    target still holds; a step that does not lower the layer's bits is skipped without an
    evaluation.  Stops after ``refine_budget`` evaluations (default: two per layer).

    Parameters
    ----------
    accuracy : callable
        ``accuracy(searches) -> float`` on the tuning split.
    reference : float
        FP32 accuracy on the same split.
    max_loss : float
        Allowed accuracy loss (fraction: 0.005 is 0.5 points).
    offsets, metric :
        As in :func:`search_model`.

    Returns
    -------
    TuneResult
        With ``threshold = None`` (and the tightest configuration) when stage 1 finds nothing.
    """
    grid = sorted(set(grid))
    budget = 2 * len(layers) if refine_budget is None else refine_budget
    trials = []
    curves = {}

    def run_search(subset, thr_w, thr_a):
        return search_model(subset, activations, thr_w=thr_w, thr_a=thr_a, offsets=offsets, metric=metric,
                            fingerprint=fingerprint, curves=curves, progress=progress)

    def meets(searches, **note):
        acc = accuracy(searches)
        bits = bits_summary(layers, dnateq_codes(searches))["avg_bits"]
        trials.append({**note, "avg_bits": bits, "acc": acc, "loss": reference - acc})
        return reference - acc <= max_loss, acc

    results = {}

    def common(i):
        if i not in results:
            searches = run_search(layers, grid[i], grid[i])
            results[i] = (searches, *meets(searches, stage=1, thr_w=grid[i], thr_a=grid[i]))
        return results[i]

    if not common(0)[1]:
        return TuneResult(None, common(0)[0], reference, common(0)[2], trials)
    lo, hi = 0, len(grid) - 1                  # invariant: grid[lo] meets the target
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if common(mid)[1] else (lo, mid - 1)
    chosen, _, acc = common(lo)
    chosen = dict(chosen)
    step = {layer.name: [lo, lo] for layer in layers}
    order = sorted(layers, key=lambda layer: -(chosen[layer.name].w_code.bits + chosen[layer.name].a_code.bits))
    evaluations = 0
    for layer in order:
        for side in (0, 1):
            while evaluations < budget and step[layer.name][side] + 1 < len(grid):
                trial_step = list(step[layer.name])
                trial_step[side] += 1
                current = chosen[layer.name]
                candidate = run_search([layer], grid[trial_step[0]], grid[trial_step[1]])[layer.name]
                if candidate.w_code.bits + candidate.a_code.bits >= current.w_code.bits + current.a_code.bits:
                    step[layer.name] = trial_step      # same bits: move on without evaluating
                    continue
                evaluations += 1
                trial = {**chosen, layer.name: candidate}
                ok, trial_acc = meets(trial, stage=2, layer=layer.name, thr_w=grid[trial_step[0]],
                                      thr_a=grid[trial_step[1]])
                if not ok:
                    break
                chosen, acc, step[layer.name] = trial, trial_acc, trial_step
    return TuneResult(grid[lo], chosen, reference, acc, trials)
