"""Command line of the quantizer: ``python -m quant {analyse,search,evaluate,tune} MODEL``.

MODEL is ``minilm``, a bundled CNN (``lenet5``, ``resnet8``, ``minialex``) or a path to an ONNX
image classifier (see ``docs/models.md``).  Results go to stdout as tables and, with ``--out``, to
JSON (``analyse`` writes PNG plots and ``analysis.json`` into a folder).  Bad arguments and bad
files give a one-line error and exit code 2.
"""

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

from .cli import ArgumentParser, positive_int
from .errors import QuantError
from .models.pipeline import THRESHOLD_GRID
from .search import METRICS

DEFAULT_CALIB = 256


def _threshold(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _threshold_list(text):
    return tuple(_threshold(part) for part in text.split(","))


def _write_json(path, record):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")


def _table(rows, columns):
    """Print ``rows`` (dicts) as an aligned text table of ``columns`` ``(key, header, format)``."""
    cells = [[header for _, header, _ in columns]]
    cells += [[fmt.format(row[key]) if row.get(key) is not None else "-" for key, _, fmt in columns]
              for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for r in cells:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))


_LAYER_COLUMNS = [("name", "layer", "{}"), ("M", "M", "{}"), ("N", "N", "{}"), ("thr_w", "Thr_w", "{:g}"),
                  ("thr_a", "Thr_act", "{:g}"), ("base", "base", "{:.3f}"),
                  ("w_bits", "w bits", "{:g}"), ("a_bits", "a bits", "{:g}"), ("w_rmae", "w error", "{:.3f}"),
                  ("a_rmae", "a error", "{:.3f}")]


def _layer_rows(task, searches):
    return [{"name": layer.name, "M": layer.out_features, "N": layer.in_features,
             **searches[layer.name].to_dict()} for layer in task.layers]


def _print_bits(bits):
    print(f"average bits {bits['avg_bits']:.3f} (weights {bits['avg_w_bits']:.3f}, activations "
          f"{bits['avg_a_bits']:.3f}; element-weighted weights {bits['weighted_w_bits']:.3f}); "
          f"{bits['compression_vs_int8']:.1%} smaller than INT8")


def _load(args):
    from .models import load_task

    return load_task(args.model, args.data)


def _calibrate(task, args):
    return task.calibrate(args.calib, progress=True)


def cmd_analyse(args):
    """Distribution fits of every layer's weights and calibration activations (PNG + JSON)."""
    from .analysis import plot_fits

    task = _load(args)
    activations = _calibrate(task, args)
    out = Path(args.out or f".data/out/{task.name}/analysis")
    out.mkdir(parents=True, exist_ok=True)
    record, rows = {"model": task.name, "calib": args.calib, "layers": {}}, []
    for layer in task.layers:
        entry = {}
        for kind, tensor in (("weights", layer.weight), ("activations", activations[layer.name])):
            png = out / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', layer.name)}_{kind}.png"
            fits = plot_fits(tensor, png, title=f"{layer.name} {kind}")
            entry[kind] = {"best": fits[0].name, "zero_fraction": float(np.mean(tensor == 0)),
                           "fits": [f.to_dict() for f in fits], "plot": str(png)}
        record["layers"][layer.name] = entry
        rows.append({"name": layer.name, "w": entry["weights"]["best"], "a": entry["activations"]["best"],
                     "z": entry["activations"]["zero_fraction"]})
    _table(rows, [("name", "layer", "{}"), ("w", "weights fit", "{}"), ("a", "activations fit", "{}"),
                  ("z", "act. zeros", "{:.1%}")])
    _write_json(out / "analysis.json", record)


def _search(task, activations, args):
    from .models.pipeline import search_model

    return search_model(task.layers, activations, thr_w=args.thr_w, thr_a=args.thr_a, offsets=args.offsets,
                        metric=args.metric, progress=True)


def cmd_search(args):
    """Per-layer DNA-TEQ parameters under the thresholds."""
    from .models.pipeline import bits_summary, dnateq_codes

    task = _load(args)
    activations = _calibrate(task, args)
    start = time.perf_counter()
    searches = _search(task, activations, args)
    seconds = time.perf_counter() - start
    _table(_layer_rows(task, searches), _LAYER_COLUMNS)
    bits = bits_summary(task.layers, dnateq_codes(searches))
    _print_bits(bits)
    print(f"searched {len(searches)} layers in {seconds:.1f} s")
    if args.out:
        _write_json(args.out, {"model": task.name, "calib": args.calib, "thr_w": args.thr_w, "thr_a": args.thr_a,
                               "offsets": args.offsets, "metric": args.metric, "seconds": seconds, "bits": bits,
                               "layers": {n: r.to_dict() for n, r in searches.items()}})


def cmd_evaluate(args):
    """Accuracy under each method."""
    from .models.pipeline import METHODS, evaluate_method, read_searches

    methods = args.methods.split(",") if args.methods else list(METHODS)
    unknown = [m for m in methods if m not in METHODS and m != "dnateq-exact"]
    if unknown:
        raise QuantError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}, dnateq-exact")
    task = _load(args)
    searches = read_searches(args.params, task.layers) if args.params and any(m.startswith("dnateq") for m in methods) \
        else None
    activations = _calibrate(task, args)
    if searches is None and any(m.startswith("dnateq") for m in methods):
        searches = _search(task, activations, args)
    rows = []
    for method in methods:
        result = evaluate_method(task, method.removesuffix("-exact"), activations, searches, split=args.split,
                                 n=args.limit, exact=method.endswith("-exact"), progress=True)
        rows.append({"method": method, **result})
    _table(rows, [("method", "method", "{}"), ("acc", "accuracy", "{:.4f}"), ("avg_bits", "avg bits", "{:.3f}"),
                  ("weighted_w_bits", "w bits (elem.)", "{:.3f}"), ("compression_vs_int8", "vs INT8", "{:.1%}"),
                  ("cos_mean", "cos mean", "{:.4f}"), ("n", "n", "{}"), ("seconds", "s", "{:.1f}")])
    if args.out:
        _write_json(args.out, {"model": task.name, "split": args.split, "calib": args.calib, "results": rows})


def cmd_tune(args):
    """Thresholds with the smallest average bits within the accuracy-loss target (validation split)."""
    from .models.pipeline import bits_summary, dnateq_codes, evaluate_method, tune_thresholds

    task = _load(args)
    activations = _calibrate(task, args)
    reference = evaluate_method(task, "fp32", split="val", n=args.val_limit, progress=True)["acc"]

    def accuracy(searches):
        return evaluate_method(task, "dnateq", activations, searches, split="val", n=args.val_limit,
                               progress=True)["acc"]

    result = tune_thresholds(task.layers, activations, accuracy, reference=reference,
                             max_loss=args.max_loss / 100, grid=args.grid, offsets=args.offsets,
                             metric=args.metric, refine_budget=args.refine_budget, fingerprint=task.fingerprint(args.calib), progress=True)
    _table(result.trials, [("stage", "stage", "{}"), ("layer", "layer", "{}"), ("thr_w", "Thr_w", "{:g}"),
                           ("thr_a", "Thr_act", "{:g}"), ("avg_bits", "avg bits", "{:.3f}"),
                           ("acc", "val acc", "{:.4f}"), ("loss", "loss", "{:+.4f}")])
    if result.threshold is None:
        print(f"no threshold keeps the loss within {args.max_loss} points; the tightest configuration is reported")
    else:
        print(f"common threshold {result.threshold} met the target; after per-layer loosening: val accuracy "
              f"{result.accuracy:.4f} (FP32 {reference:.4f})")
    _table(_layer_rows(task, result.searches), _LAYER_COLUMNS)
    bits = bits_summary(task.layers, dnateq_codes(result.searches))
    _print_bits(bits)
    if args.out:
        _write_json(args.out, {"model": task.name, "calib": args.calib, "max_loss": args.max_loss / 100,
                               "offsets": args.offsets, "metric": args.metric, "bits": bits, **result.to_dict()})


def _parser():
    parser = ArgumentParser(prog="python -m quant", description="DNA-TEQ quantization of real models.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    def command(name, func, help_text):
        sub = commands.add_parser(name, help=help_text, description=func.__doc__)
        sub.set_defaults(func=func)
        sub.add_argument("model", help="minilm, lenet5, resnet8, minialex, or a path to an .onnx image classifier")
        sub.add_argument("--calib", type=positive_int, default=DEFAULT_CALIB,
                         help=f"calibration inputs (default {DEFAULT_CALIB})")
        sub.add_argument("--data", help="ONNX models only: .npz with x_train, y_train, x_test, y_test "
                                        "(default Fashion-MNIST)")
        return sub

    def search_options(sub):
        sub.add_argument("--offsets", action="store_true", help="allow beta != 0 (offset counters in hardware)")
        sub.add_argument("--metric", choices=METRICS, default="rmae",
                         help="error the thresholds bound: rmae (default; the paper's RMAE of each tensor) or "
                              "output (importance-weighted error of the layer output)")

    def thresholds(sub):
        sub.add_argument("--thr-w", type=_threshold, default=0.2, help="weight error threshold (default 0.2)")
        sub.add_argument("--thr-a", type=_threshold, default=0.2, help="activation error threshold (default 0.2)")
        search_options(sub)

    command("analyse", cmd_analyse, "per-layer distribution fits (PNG plots + JSON)").add_argument(
        "--out", help="output folder (default .data/out/MODEL/analysis)")
    sub = command("search", cmd_search, "per-layer DNA-TEQ parameters to JSON")
    thresholds(sub)
    sub.add_argument("--out", help="JSON file for the per-layer parameters")
    sub = command("evaluate", cmd_evaluate, "accuracy under each method")
    thresholds(sub)
    sub.add_argument("--methods", help="comma-separated subset of fp32,int8,log2-4,log2-5,dqa-3,dqa-4,dqa-5,"
                                       "dnateq,dnateq-exact (default: all but dnateq-exact)")
    sub.add_argument("--params", help="DNA-TEQ parameters from 'search --out' or 'tune --out' "
                                      "(default: search with --thr-w/--thr-a)")
    sub.add_argument("--split", choices=("test", "val"), default="test")
    sub.add_argument("--limit", type=positive_int, help="evaluate on the first N inputs only")
    sub.add_argument("--out", help="JSON file for the results")
    sub = command("tune", cmd_tune, "tune Thr_w/Thr_act for the smallest average bits within a loss target")
    sub.add_argument("--max-loss", type=_threshold, default=0.5,
                     help="allowed accuracy loss in points on the validation split (default 0.5)")
    sub.add_argument("--val-limit", type=positive_int, help="use only the first N validation inputs")
    sub.add_argument("--refine-budget", type=positive_int,
                     help="validation evaluations of the per-layer stage (default: two per layer)")
    sub.add_argument("--grid", type=_threshold_list, default=THRESHOLD_GRID,
                     help="comma-separated thresholds tried for both Thr_w and Thr_act "
                          f"(default {','.join(map(str, THRESHOLD_GRID))})")
    search_options(sub)
    sub.add_argument("--out", help="JSON file for the tuned parameters")
    return parser


def main(argv=None):
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        args.func(args)
    except QuantError as err:
        print(f"python -m quant {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"python -m quant {args.command}: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
