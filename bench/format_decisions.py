"""Measure the open format decisions of the exponential code on real tensors.

For the weights and the calibration activations of every quantized layer of the real models, and
for 3, 4 and 5 bits, the best RMAE over the base grid is measured for each alternative of:

* zero code: ``u = 0`` reserved for exact zero, or not;
* rounding: nearest level in the linear domain, or in the log domain;
* offsets: ``beta = 0`` (pure exponential, no offset counters in hardware), or ``beta`` free;
* sign bit for activations that are never negative: unsigned (all bits to the exponent) or signed.

It also measures what the hardware's fixed-point table costs: for real layers with searched 4-bit
codes, the error of the bit-exact integer output against the float product of the decoded codes,
relative to the quantization error itself, for several table widths.

Writes ``bench/results/format_decisions.json``; ``docs/format.md`` quotes it.

    python bench/format_decisions.py [--models lenet5,resnet8,minialex,minilm] [--calib 256]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from quant.arith import DnaTeqArith, compile_layer
from quant.golden import dnateq_matmul, float_reference
from quant.models import load_task
from quant.search import SortedTensor, base_grid, fit_code, search_layer

RESULTS = Path(__file__).parent / "results" / "format_decisions.json"
BITS = (3, 4, 5)
TABLE_WIDTHS = (12, 16, 20, 24)
MINILM_LAYERS = 12          # every 3rd encoder linear: all six kinds, early and late blocks


def best_rmae(tensor, bits, **kwargs):
    """Lowest RMAE of a fitted code over the base grid."""
    return min(fit_code(tensor, bits, b, **kwargs)[1] for b in base_grid())


def tensor_decisions(x, signed):
    """RMAE of every alternative at every bit-width for one tensor."""
    tensor = SortedTensor(x, signed=signed, max_samples=1 << 16)
    rows = {}
    for bits in BITS:
        row = {
            "zero_code": best_rmae(tensor, bits, zero_code=True, offsets=False),
            "no_zero_code": best_rmae(tensor, bits, zero_code=False, offsets=False),
        }
        row["linear"] = min(row["zero_code"], row["no_zero_code"])
        row["log"] = min(best_rmae(tensor, bits, zero_code=z, offsets=False, rounding="log") for z in (True, False))
        row["offsets"] = min(best_rmae(tensor, bits, zero_code=z, offsets=True) for z in (True, False))
        if not signed:
            as_signed = SortedTensor(x, signed=True, max_samples=1 << 16)
            row["signed_code"] = min(best_rmae(as_signed, bits, zero_code=z, offsets=False) for z in (True, False))
        rows[bits] = row
    return rows


class ColumnGrabber:
    """FP32 executor that keeps the first activation columns (im2col patches) each layer sees."""

    def __init__(self, count=64):
        self.count = count
        self.columns = {}

    def __call__(self, layer, x, to_columns):
        columns = to_columns(x)
        self.columns.setdefault(layer.name, columns[:self.count])
        return columns @ layer.weight.T


def table_cost(layer, activations, columns):
    """Integer-vs-float output error over quantization error, per table width, at 4-bit codes."""
    search = search_layer(layer.weight, activations, thr_w=1.0, thr_a=1.0, bits_w=(4,), bits_a=(4, 5))
    w_codes = search.w_code.encode(layer.weight)
    a_codes = search.a_code.encode(columns.T)
    y_fp32 = layer.weight.astype(np.float64) @ columns.T.astype(np.float64)
    result = {}
    for width in TABLE_WIDTHS:
        arith = DnaTeqArith(exp_bits_w=search.w_code.exp_bits, exp_bits_a=search.a_code.exp_bits,
                            table_width=width, max_vector_length=max(layer.in_features, 1))
        prog = compile_layer(arith, search.w_code, search.a_code, layer.in_features)
        y_float = float_reference(prog, w_codes, a_codes)
        y_int = dnateq_matmul(prog, w_codes, a_codes) * prog.out_scale
        result[width] = {
            "table_error_over_quant_error": float(np.linalg.norm(y_int - y_float) / np.linalg.norm(y_float - y_fp32)),
            "table_error_over_output": float(np.linalg.norm(y_int - y_float) / np.linalg.norm(y_fp32)),
        }
    return result


def summarise(per_tensor):
    """Mean RMAE of each alternative, per tensor kind and bit-width, and how often it wins."""
    summary = {}
    for kind in ("weights", "activations", "nonneg_activations"):
        rows = [t for t in per_tensor if t["kind"] == kind or (kind == "activations" and t["kind"] == "nonneg_activations")]
        if not rows:
            continue
        summary[kind] = {"tensors": len(rows)}
        for bits in BITS:
            keys = rows[0]["rmae"][bits].keys() if kind == "nonneg_activations" else \
                [k for k in rows[0]["rmae"][bits] if k != "signed_code"]
            summary[kind][bits] = {k: float(np.mean([r["rmae"][bits][k] for r in rows])) for k in keys}
            summary[kind][bits]["zero_code_wins"] = int(sum(r["rmae"][bits]["zero_code"] < r["rmae"][bits]["no_zero_code"] for r in rows))
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lenet5,resnet8,minialex,minilm")
    parser.add_argument("--calib", type=int, default=256, help="calibration inputs per model")
    args = parser.parse_args()
    start = time.perf_counter()
    per_tensor, table = [], {}
    for model in args.models.split(","):
        task = load_task(model)
        activations = task.calibrate(min(args.calib, 64) if model == "minilm" else args.calib)
        layers = task.layers
        if model == "minilm":
            layers = layers[::max(1, len(layers) // MINILM_LAYERS)]
        for layer in layers:
            acts = activations[layer.name]
            nonneg = bool(acts.min() >= 0)
            for kind, x, signed in (("weights", layer.weight, True),
                                    ("nonneg_activations" if nonneg else "activations", acts, not nonneg)):
                per_tensor.append({"model": model, "layer": layer.name, "kind": kind,
                                   "zero_fraction": float(np.mean(x == 0)), "rmae": tensor_decisions(x, signed)})
            print(f"{model:9s} {layer.name:40s} {time.perf_counter() - start:6.1f} s", flush=True)
        grabber = ColumnGrabber()
        task.run(task.split_inputs("calib", 8), grabber)
        for layer in (layers[0], layers[len(layers) // 2]):
            table[f"{model}/{layer.name}"] = table_cost(layer, activations[layer.name], grabber.columns[layer.name])
    record = {"bits": BITS, "calibration_inputs": args.calib, "summary": summarise(per_tensor),
              "table_width": table, "tensors": per_tensor, "seconds": time.perf_counter() - start}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record["summary"], indent=1))
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
