"""Benchmark: accuracy and average bits of FP32, INT8, base-2 log, DQA and DNA-TEQ on real models.

For every model (LeNet-5, ResNet-8, MiniAlex on the full 10k Fashion-MNIST test set; all-MiniLM-L6-v2
on the 1,800 test tweets with the frozen FP32 probe) this calibrates activation codes on training
inputs, evaluates every baseline, tunes DNA-TEQ's thresholds on the validation split (with offsets
``beta``, as in the paper, and with ``beta = 0``, the cheaper hardware), and evaluates the tuned
codes on the test split.  On LeNet-5 it also runs the tuned model through the bit-exact hardware
model (``quant.golden.dnateq_matmul``) and compares with the decode-and-float path.

Writes ``bench/results/quality.json``, ``bench/results/params_<model>.json`` (tuned per-layer
parameters, usable with ``python -m quant evaluate MODEL --params``), the plots
``docs/quality_*.png`` and the generated part of ``docs/results.md`` (text below its
``<!-- analysis -->`` marker is kept).

    python bench/quality.py [--models lenet5,resnet8,minialex,minilm]
"""

import argparse
import json
import os
import platform
import time
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
#: DNA-TEQ variants: name -> offsets (beta != 0 allowed).
VARIANTS = {"dnateq": True, "dnateq-beta0": False}
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
MARKER = "<!-- analysis -->"
METRIC_KEYS = ("acc", "n", "cos_mean", "cos_min", "avg_bits", "avg_w_bits", "avg_a_bits", "weighted_w_bits",
               "compression_vs_int8", "seconds")


def summary(result):
    """The JSON fields of one method's result (per-layer bits only where they vary)."""
    return {k: result[k] for k in METRIC_KEYS if k in result}


def run_model(name):
    """Every method on one model; returns its JSON record and the tuned parameters per variant."""
    start, cpu_start = time.perf_counter(), time.process_time()
    task = load_task(name)
    activations = task.calibrate(CALIB, progress=True)
    record = {"calib_inputs": CALIB}
    for method in ("fp32",) + tuple(BASELINES):
        record[method] = summary(evaluate_method(task, method, activations, progress=True))
        print(f"{name} {method}: acc {record[method]['acc']:.4f}", flush=True)
    val_n = VAL_LIMIT.get(name)
    reference = evaluate_method(task, "fp32", split="val", n=val_n, progress=True)["acc"]
    params = {}

    def accuracy(searches):
        return evaluate_method(task, "dnateq", activations, searches, split="val", n=val_n, progress=True)["acc"]

    for variant, offsets in VARIANTS.items():
        tuned = tune_thresholds(task.layers, activations, accuracy, reference=reference, max_loss=MAX_LOSS,
                                offsets=offsets, refine_budget=REFINE_BUDGET.get(name, len(task.layers)),
                                fingerprint=task.fingerprint(CALIB))
        result = evaluate_method(task, "dnateq", activations, tuned.searches, progress=True)
        record[variant] = {**summary(result), "offsets": offsets, "layers": result["layers"],
                           "tuning": {k: v for k, v in tuned.to_dict().items() if k != "layers"}}
        params[variant] = {"model": name, "calib": CALIB, "max_loss": MAX_LOSS, "offsets": offsets,
                           **tuned.to_dict()}
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
        layers = models[name]["dnateq"]["layers"]
        x = np.arange(len(layers))
        ax.bar(x - 0.2, [r["w_bits"] for r in layers], 0.4, label="weights")
        ax.bar(x + 0.2, [r["a_bits"] for r in layers], 0.4, label="activations")
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


def write_markdown(record):
    """The generated part of ``docs/results.md``; hand-written analysis below the marker is kept."""
    models = record["models"]
    lines = ["# Quality results: FP32, INT8, base-2 log, DQA and DNA-TEQ on real models", "",
             "Generated by `python bench/quality.py` (data: `bench/results/quality.json`) on "
             f"{record['machine']}: wall time {record['wall_seconds'] / 60:.1f} min, process CPU time "
             f"{record['cpu_seconds'] / 60:.1f} min (per model, wall / CPU: "
             + ", ".join(f"{n} {m['seconds'] / 60:.1f} / {m.get('cpu_seconds', float('nan')) / 60:.1f} min"
                         for n, m in models.items())
             + "). The machine was shared with other jobs, so wall time overstates the cost; CPU time "
             "counts both BLAS threads. Do not edit above the analysis marker.",
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
             "forces `beta = 0` (no offset counters in hardware).",
             f"* Calibration: {CALIB} training inputs. Validation (tuning only): 2,000 training images / "
             f"{VAL_LIMIT['minilm']} train tweets, disjoint from calibration. Test: the full 10,000 Fashion-MNIST test images; the 1,800 test "
             "tweets (frozen logistic-regression probe trained once on FP32 embeddings of the 4,200 train tweets).",
             "", "## Targets (tuned DNA-TEQ, test split)", "",
             "| model | variant | loss vs FP32 (target <= 0.5 pt) | avg bits (target <= 4.0) | smaller than INT8 (target) |",
             "|---|---|---|---|---|"]
    lines += [_target_line(name, rec, variant) for name, rec in models.items() for variant in VARIANTS]
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
        for variant in VARIANTS:
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
        lines += ["", "Per-layer bits of the tuned DNA-TEQ (weights / activations; Thr_w / Thr_act):", "",
                  "| layer | M x N | dnateq w/a | thresholds | dnateq-beta0 w/a |", "|---|---|---|---|---|"]
        tuned = {v: {r["name"]: r for r in rec[v]["layers"]} for v in VARIANTS}
        params = json.loads((RESULTS / f"params_{name}.json").read_text())["layers"]
        for layer in rec["dnateq"]["layers"]:
            beta0 = tuned["dnateq-beta0"][layer["name"]]
            p = params[layer["name"]]
            lines.append(f"| {layer['name']} | {layer['M']} x {layer['N']} | {layer['w_bits']:g} / {layer['a_bits']:g} "
                         f"| {p['thr_w']:g} / {p['thr_a']:g} | {beta0['w_bits']:g} / {beta0['a_bits']:g} |")
    lines += ["", "![accuracy against average bits](quality_tradeoff.png)", "",
              "![tuned DNA-TEQ bits per layer](quality_layer_bits.png)", ""]
    path = DOCS / "results.md"
    old = path.read_text() if path.is_file() else ""
    analysis = old[old.index(MARKER):] if MARKER in old else MARKER + "\n"
    path.write_text("\n".join(lines) + "\n" + analysis)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset (results are merged)")
    parser.add_argument("--report-only", action="store_true",
                        help="only regenerate the plots and docs/results.md from bench/results/quality.json")
    args = parser.parse_args()
    path = RESULTS / "quality.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = json.loads(path.read_text()) if path.is_file() else {"models": {}}
    for name in [] if args.report_only else args.models.split(","):
        result, params = run_model(name)
        for variant, tuned in params.items():
            suffix = "" if variant == "dnateq" else "_beta0"
            (RESULTS / f"params_{name}{suffix}.json").write_text(json.dumps(tuned, indent=2) + "\n")
        record = json.loads(path.read_text()) if path.is_file() else {"models": {}}   # merge: runs may overlap
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
