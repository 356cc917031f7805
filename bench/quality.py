"""Benchmark: accuracy and average bits of FP32, INT8, base-2 log, DQA and DNA-TEQ on real models.

For every model (LeNet-5, ResNet-8, MiniAlex on the full 10k Fashion-MNIST test set; all-MiniLM-L6-v2
on the 1,800 test tweets with the frozen FP32 probe) this calibrates activation codes on training
inputs, evaluates every baseline, tunes DNA-TEQ's thresholds on the validation split (with offsets
``beta``, as in the paper, and with ``beta = 0``, the cheaper hardware, both under the paper's RMAE
search metric; and with offsets under the opt-in ``output`` metric), and evaluates the tuned codes
on the test split.  On LeNet-5 it also runs the tuned model through the bit-exact hardware
model (``quant.golden.dnateq_matmul``) and compares with the decode-and-float path.

Writes ``bench/results/quality.json``, ``bench/results/params_<model>[_beta0|_output].json`` (tuned
per-layer parameters, usable with ``python -m quant evaluate MODEL --params``), the plots
``docs/quality_*.png`` and the generated part of ``docs/results.md`` (text below its
``<!-- analysis -->`` marker is kept).

    python bench/quality.py [--models lenet5,resnet8,minialex,minilm] [--methods dnateq-output,...]

``--models`` replaces each listed model's record in ``quality.json`` (others are kept).  With
``--methods`` only the listed methods are computed and merged into the model's existing record; the
others keep their stored results.  FP32 is always re-evaluated and must reproduce the stored test
and validation accuracy (same data, weights and probe), otherwise nothing is merged.
"""

import argparse
import json
import os
import platform
import time
from collections import namedtuple
from pathlib import Path

import numpy as np

from quant.arith import DnaTeqArith
from quant.models import load_task
from quant.models.pipeline import BASELINES, evaluate_method, tune_thresholds

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs"
MODELS = ("lenet5", "resnet8", "minialex", "minilm")
CALIB = 256
MAX_LOSS = 0.005
#: A DNA-TEQ variant: offsets allowed (beta != 0), search error metric (``quant.search``), and the
#: suffix of its ``bench/results/params_<model><suffix>.json``.
Variant = namedtuple("Variant", "offsets metric suffix")
VARIANTS = {"dnateq": Variant(True, "rmae", ""), "dnateq-beta0": Variant(False, "rmae", "_beta0"),
            "dnateq-output": Variant(True, "output", "_output")}
#: Stage-2 (per-layer) evaluations of the tuning: one per layer, and 8 for MiniLM (36 layers; an
#: evaluation of 500 tweets costs ~100x one of 2,000 LeNet-5 images).
REFINE_BUDGET = {"minilm": 8}
#: Validation inputs used for tuning where fewer than the whole split (MiniLM: the first 500 of the
#: 1,000 validation tweets; an evaluation of MiniLM costs ~100x one of LeNet-5).
VAL_LIMIT = {"minilm": 500}
#: Models whose tuned DNA-TEQ codes also run through the bit-exact hardware model, and on how many
#: test inputs (the integer path costs one matrix product per distinct activation code).
EXACT_CHECK = {"lenet5": 2000}
#: Table widths of that check: the ``DnaTeqArith`` default (None) and 24 bits.
EXACT_TABLE_WIDTHS = (None, 24)
#: Variants whose per-layer bits ``docs/quality_layer_bits.png`` shows.
LAYER_PLOT_VARIANTS = ("dnateq", "dnateq-output")
MARKER = "<!-- analysis -->"
METRIC_KEYS = ("acc", "n", "cos_mean", "cos_min", "avg_bits", "avg_w_bits", "avg_a_bits", "weighted_w_bits",
               "compression_vs_int8", "seconds")


def summary(result):
    """The JSON fields of one method's result (per-layer bits only where they vary)."""
    return {k: result[k] for k in METRIC_KEYS if k in result}


METHODS = ("fp32",) + tuple(BASELINES) + tuple(VARIANTS)


def run_model(name, methods=METHODS, stored=None):
    """``methods`` (FP32 always) on one model; returns its JSON record and the tuned parameters per variant.

    With ``stored`` (the model's record of an earlier run), FP32's test and validation accuracy must
    reproduce it before anything else runs (``SystemExit`` otherwise).
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    task = load_task(name)
    activations = task.calibrate(CALIB, progress=True)
    record = {"calib_inputs": CALIB}
    for method in ("fp32",) + tuple(m for m in BASELINES if m in methods):
        record[method] = summary(evaluate_method(task, method, activations, progress=True))
        print(f"{name} {method}: acc {record[method]['acc']:.4f}", flush=True)
    val_n = VAL_LIMIT.get(name)
    reference = evaluate_method(task, "fp32", split="val", n=val_n, progress=True)["acc"]
    if stored is not None:
        for split, new, old in (("test", record["fp32"]["acc"], stored["fp32"]["acc"]),
                                ("validation", reference, stored["val_reference_acc"])):
            if new != old:
                raise SystemExit(f"{name}: FP32 {split} accuracy {new} differs from the stored {old} (different "
                                 "data, weights or probe, e.g. BLAS threads); not merging -- rerun without --methods")
    params = {}

    def accuracy(searches):
        return evaluate_method(task, "dnateq", activations, searches, split="val", n=val_n, progress=True)["acc"]

    for variant, (offsets, metric, _) in VARIANTS.items():
        if variant not in methods:
            continue
        tuned = tune_thresholds(task.layers, activations, accuracy, reference=reference, max_loss=MAX_LOSS,
                                offsets=offsets, metric=metric,
                                refine_budget=REFINE_BUDGET.get(name, len(task.layers)),
                                fingerprint=task.fingerprint(CALIB))
        result = evaluate_method(task, "dnateq", activations, tuned.searches, progress=True)
        record[variant] = {**summary(result), "offsets": offsets, "metric": metric, "layers": result["layers"],
                           "tuning": {k: v for k, v in tuned.to_dict().items() if k != "layers"}}
        params[variant] = {"model": name, "calib": CALIB, "max_loss": MAX_LOSS, "offsets": offsets,
                           "metric": metric, **tuned.to_dict()}
        print(f"{name} {variant}: acc {result['acc']:.4f} at {result['avg_bits']:.3f} bits", flush=True)
        if name in EXACT_CHECK:
            floats = evaluate_method(task, "dnateq", activations, tuned.searches, n=EXACT_CHECK[name])
            record[variant]["exact_check"] = []
            for width in EXACT_TABLE_WIDTHS:
                exact = evaluate_method(task, "dnateq", activations, tuned.searches, n=EXACT_CHECK[name],
                                        exact=True, table_width=width, progress=True)
                record[variant]["exact_check"].append(
                    {"n": exact["n"], "table_width": width or DnaTeqArith().table_width, "acc_exact": exact["acc"],
                     "acc_float": floats["acc"], "equal": exact["acc"] == floats["acc"], "seconds": exact["seconds"]})
    record["val_reference_acc"] = reference
    record["seconds"] = time.perf_counter() - start
    record["cpu_seconds"] = time.process_time() - cpu_start
    record["load_average_1min_at_end"] = os.getloadavg()[0]
    return record, params


def plot(models):
    """``docs/quality_tradeoff.png`` (accuracy against average bits) and ``docs/quality_layer_bits.png``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(models)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        rec = models[name]
        fp32 = rec["fp32"]["acc"]
        for method in ("int8",) + tuple(BASELINES)[1:] + tuple(VARIANTS):
            if method in rec:
                ax.scatter(rec[method]["avg_bits"], 100 * rec[method]["acc"], s=25,
                           marker="*" if method.startswith("dnateq") else "o")
                ax.annotate(method, (rec[method]["avg_bits"], 100 * rec[method]["acc"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        ax.axhline(100 * fp32, color="k", lw=0.8, label="FP32")
        ax.axhline(100 * (fp32 - MAX_LOSS), color="k", lw=0.8, ls="--", label="FP32 - 0.5 pt")
        ax.axvline(4.0, color="r", lw=0.6, ls=":", label="4 bits")
        ax.set_title(name)
        ax.set_xlabel("average bits (per-tensor mean)")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(DOCS / "quality_tradeoff.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(len(names), 1, figsize=(10, 2.6 * len(names)), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        shown = [v for v in LAYER_PLOT_VARIANTS if v in models[name]]
        width = 0.8 / (2 * len(shown))
        for i, variant in enumerate(shown):
            layers = models[name][variant]["layers"]
            x = np.arange(len(layers))
            for j, (key, what) in enumerate((("w_bits", "weights"), ("a_bits", "activations"))):
                ax.bar(x - 0.4 + (2 * i + j + 0.5) * width, [r[key] for r in layers], width,
                       label=f"{variant} {what}")
        ax.set_xticks(x, [r["name"] for r in layers], rotation=90 if len(layers) > 12 else 0, fontsize=7)
        ax.set_ylabel("bits")
        ax.set_title(f"{name}: tuned DNA-TEQ bits per layer")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(DOCS / "quality_layer_bits.png", dpi=110)
    plt.close(fig)


def _row(method, rec, fp32):
    r = rec[method]
    delta = 100 * (r["acc"] - fp32)
    return (f"| {method} | {100 * r['acc']:.2f} | {delta:+.2f} | {r['avg_bits']:.2f} | {r['avg_w_bits']:.2f} | "
            f"{r['avg_a_bits']:.2f} | {r['weighted_w_bits']:.2f} | {100 * r['compression_vs_int8']:.1f} % |")


def _target_line(name, rec, variant):
    """Which targets a tuned DNA-TEQ variant meets on one model."""
    best = rec[variant]
    loss = 100 * (rec["fp32"]["acc"] - best["acc"])
    needed = 0.6 if name == "minilm" else 0.5
    return (f"| {name} | {variant} | {loss:+.2f} pt ({'hit' if loss <= 100 * MAX_LOSS else 'missed'}) | "
            f"{best['avg_bits']:.2f} ({'hit' if best['avg_bits'] <= 4.0 else 'missed'}) | "
            f"{100 * best['compression_vs_int8']:.1f} % of {100 * needed:.0f} % "
            f"({'hit' if best['compression_vs_int8'] >= needed else 'missed'}) |")


def _comparison(rec):
    """Generated sentence: which baselines beat the tuned DNA-TEQ on accuracy, and which on bits too."""
    ours = rec["dnateq"]
    better = [m for m in ("int8",) + tuple(BASELINES)[1:] if rec[m]["acc"] > ours["acc"]]
    dominating = [m for m in better if rec[m]["avg_bits"] <= ours["avg_bits"]]
    text = "More accurate than `dnateq` on the test split: " + (
        ", ".join(f"{m} ({100 * (rec[m]['acc'] - ours['acc']):+.2f} pt at {rec[m]['avg_bits']:.2f} bits)"
                  for m in better) if better else "none") + ". "
    return text + ("Also with no more average bits: " + ", ".join(dominating) + "." if dominating
                   else "None of them with as few average bits.")


def _partial_runs(models):
    """Generated sentence on the ``--methods`` runs merged into the records (their times are included above)."""
    runs = [(name, run) for name, rec in models.items() for run in rec.get("partial_runs", [])]
    if not runs:
        return ""
    return (" Some methods were computed later by `--methods` runs and merged into the full run's records (times "
            "included above; FP32 re-evaluated and identical): " + ", ".join(
                f"{name} {'/'.join(run['methods'])} {run['seconds'] / 60:.1f} / {run['cpu_seconds'] / 60:.1f} min"
                for name, run in runs) + ".")


def write_markdown(record):
    """The generated part of ``docs/results.md``; hand-written analysis below the marker is kept."""
    models = record["models"]
    lines = ["# Quality results: FP32, INT8, base-2 log, DQA and DNA-TEQ on real models", "",
             "Generated by `python bench/quality.py` (data: `bench/results/quality.json`) on "
             f"{record['machine']}: wall time {record['wall_seconds'] / 60:.1f} min, process CPU time "
             f"{record['cpu_seconds'] / 60:.1f} min (per model, wall / CPU: "
             + ", ".join(f"{n} {m['seconds'] / 60:.1f} / {m.get('cpu_seconds', float('nan')) / 60:.1f} min"
                         for n, m in models.items())
             + "). The machine was shared with other jobs during the full run, so its wall time overstates the "
             "cost; CPU time counts both BLAS threads." + _partial_runs(models) + " Do not edit above the analysis "
             "marker.",
             "", "## Definitions", "",
             "* Every weight layer (all Conv/Gemm/MatMul of the CNNs, the 36 encoder Linear layers of MiniLM; first "
             "and last included) has BOTH its weights and its input activations quantized; nothing is kept in higher "
             "precision except weight-free operations (pooling, normalisation, softmax, residual additions, "
             "attention's activation-by-activation products, MiniLM's embeddings).",
             "* `avg_bits`: mean over all quantized tensors -- each layer's weight tensor and its input-activation "
             "tensor count once each -- of the stored bits per element. `avg_w_bits` / `avg_a_bits`: the same mean "
             "over weight / activation tensors only. `weighted_w_bits`: weight bits averaged over weight elements "
             "(what the weight memory holds). Compression vs INT8 = `1 - avg_bits / 8`.",
             "* INT8: symmetric, per-channel weights, per-tensor activations (scale from the calibration maximum). "
             "log2-n: base-2 logarithmic code, n bits on weights and activations. dqa-n: DQA on activations (n bits; "
             "the 25 % most important channels get 3 more, Huffman-coded, bits; their measured average is counted); "
             "DQA quantizes activations only, so its weights are INT8 per channel and count as 8 bits.",
             "* DNA-TEQ: per-layer exponential codes `x = s*(alpha*b^u + beta)` with one base per layer, searched "
             "under RMAE thresholds, thresholds tuned for the fewest `avg_bits` within 0.5 pt of FP32 on the "
             "validation split (stage 1: common `Thr_w = Thr_act`; stage 2: per-layer loosening; see "
             "`quant/models/pipeline.py`). `dnateq` allows offsets `beta` (the paper's formula); `dnateq-beta0` "
             "forces `beta = 0` (no offset counters in hardware). `dnateq-output` allows offsets like `dnateq` but "
             "searches each tensor's code under the opt-in `output` error metric (`docs/search.md`: the "
             "importance-weighted relative RMS error the tensor's quantization adds to the layer output) instead "
             "of RMAE; tuning is otherwise identical (same grid, stages, validation split and budget).",
             f"* Calibration: {CALIB} training inputs. Validation (tuning only): 2,000 training images / "
             f"{VAL_LIMIT['minilm']} train tweets, disjoint from calibration. Test: the full 10,000 Fashion-MNIST test images; the 1,800 test "
             "tweets (frozen logistic-regression probe trained once on FP32 embeddings of the 4,200 train tweets).",
             "", "## Targets (tuned DNA-TEQ, test split)", "",
             "| model | variant | loss vs FP32 (target <= 0.5 pt) | avg bits (target <= 4.0) | smaller than INT8 (target) |",
             "|---|---|---|---|---|"]
    lines += [_target_line(name, rec, variant) for name, rec in models.items() for variant in VARIANTS
              if variant in rec]
    for name, rec in models.items():
        fp32 = rec["fp32"]["acc"]
        lines += ["", f"## {name}", "", "| method | test acc % | vs FP32 (pt) | avg bits | weight bits | act. bits "
                  "| weight bits (element-weighted) | smaller than INT8 |", "|---|---|---|---|---|---|---|---|"]
        lines += [_row(m, rec, fp32) for m in ("fp32", "int8") + tuple(BASELINES)[1:] + tuple(VARIANTS) if m in rec]
        lines += ["", _comparison(rec)]
        if "cos_mean" in rec["int8"]:
            lines += ["", "Cosine to the FP32 embeddings (mean / min): " + ", ".join(
                f"{m} {rec[m]['cos_mean']:.4f} / {rec[m]['cos_min']:.4f}"
                for m in ("int8",) + tuple(BASELINES)[1:] + tuple(VARIANTS) if m in rec) + "."]
        for variant in (v for v in VARIANTS if v in rec):
            tuning = rec[variant]["tuning"]
            common = tuning["threshold"]
            lines += ["", f"**{variant}** (validation FP32 {100 * tuning['reference_acc']:.2f} %, tuned "
                      f"{100 * tuning['acc']:.2f} %): " + (f"common threshold {common}, then per-layer loosening"
                                                          if common is not None else
                                                          "no threshold met the target; tightest grid point used")
                      + f"; {len(tuning['trials'])} validation evaluations."]
            for check in rec[variant].get("exact_check", []):
                lines += ["", f"Bit-exact hardware path (`quant.golden.dnateq_matmul`, {check['table_width']}-bit "
                          f"table) on the first {check['n']} test inputs: accuracy {100 * check['acc_exact']:.2f} % "
                          f"vs decode-and-float {100 * check['acc_float']:.2f} % "
                          f"({'equal' if check['equal'] else 'different'})."]
        variants = [v for v in VARIANTS if v in rec]
        lines += ["", "Per-layer bits of the tuned DNA-TEQ variants (weights / activations) and their thresholds "
                  "(Thr_w / Thr_act):", "",
                  "| layer | M x N | " + " | ".join(f"{v} w/a | {v} thresholds" for v in variants) + " |",
                  "|---|---|" + "---|---|" * len(variants)]
        tuned = {v: {r["name"]: r for r in rec[v]["layers"]} for v in variants}
        params = {v: json.loads((RESULTS / f"params_{name}{VARIANTS[v].suffix}.json").read_text())["layers"]
                  for v in variants}
        for layer in rec["dnateq"]["layers"]:
            cells = []
            for v in variants:
                bits, thr = tuned[v][layer["name"]], params[v][layer["name"]]
                cells.append(f"{bits['w_bits']:g} / {bits['a_bits']:g} | {thr['thr_w']:g} / {thr['thr_a']:g}")
            lines.append(f"| {layer['name']} | {layer['M']} x {layer['N']} | " + " | ".join(cells) + " |")
    lines += ["", "![accuracy against average bits](quality_tradeoff.png)", "",
              "![tuned DNA-TEQ bits per layer](quality_layer_bits.png)", ""]
    path = DOCS / "results.md"
    old = path.read_text() if path.is_file() else ""
    analysis = old[old.index(MARKER):] if MARKER in old else MARKER + "\n"
    path.write_text("\n".join(lines) + "\n" + analysis)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset (results are merged)")
    parser.add_argument("--methods", help="comma-separated subset of " + ",".join(METHODS[1:]) + ": compute only "
                        "these (and FP32, as a check) and merge them into each model's stored record")
    parser.add_argument("--report-only", action="store_true",
                        help="only regenerate the plots and docs/results.md from bench/results/quality.json")
    args = parser.parse_args()
    path = RESULTS / "quality.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = json.loads(path.read_text()) if path.is_file() else {"models": {}}
    methods = METHODS if args.methods is None else tuple(args.methods.split(","))
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; choose from {','.join(METHODS)}")
    names = [] if args.report_only else args.models.split(",")
    if args.methods is not None:
        missing = [n for n in names if n not in record["models"]]
        if missing:
            parser.error(f"--methods merges into stored records, but quality.json has none for {missing}")
    for name in names:
        result, params = run_model(name, methods, None if args.methods is None else record["models"][name])
        record = json.loads(path.read_text()) if path.is_file() else {"models": {}}   # merge: runs may overlap
        if args.methods is not None:
            stored = record["models"][name]
            run = {"methods": [m for m in methods if m != "fp32"], "seconds": result["seconds"],
                   "cpu_seconds": result["cpu_seconds"], "load_average_1min_at_end": result["load_average_1min_at_end"]}
            result = {**stored, **{m: result[m] for m in run["methods"]},
                      "seconds": stored["seconds"] + run["seconds"],
                      "cpu_seconds": stored.get("cpu_seconds", 0.0) + run["cpu_seconds"],
                      "partial_runs": stored.get("partial_runs", []) + [run]}
        for variant, tuned in params.items():
            (RESULTS / f"params_{name}{VARIANTS[variant].suffix}.json").write_text(json.dumps(tuned, indent=2) + "\n")
        record["models"][name] = result
        record["models"] = {m: record["models"][m] for m in MODELS if m in record["models"]}
        record.update(wall_seconds=sum(m["seconds"] for m in record["models"].values()),
                      cpu_seconds=sum(m.get("cpu_seconds", 0.0) for m in record["models"].values()),
                      machine=platform.platform(), numpy=np.__version__, max_loss=MAX_LOSS, calib_inputs=CALIB)
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"{name}: {result['seconds']:.0f} s", flush=True)
    plot(record["models"])
    write_markdown(record)
    print(f"wrote {path}, docs/results.md, docs/quality_*.png")


if __name__ == "__main__":
    main()
