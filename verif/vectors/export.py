"""Export real-layer test vectors for co-simulation: ``verif/vectors/<name>.npz``.

Each file holds one slice of a real layer -- ``M`` weight rows, all ``N`` inputs, ``K`` activation
columns of real calibration data (a convolution's columns are its im2col patches) -- quantized with
the layer's DNA-TEQ codes from the tuned model (``bench/results/params_<model>.json``, written by
``bench/quality.py``; the default thresholds when it is missing) and with INT8:

=================  =========================================================================
``w_codes``        uint8 ``[M, N]`` DNA-TEQ weight codes (``ExpCode.encode``)
``a_codes``        uint8 ``[N, K]`` DNA-TEQ activation codes
``w_code``         ``ExpCode`` of the weights, JSON string (``ExpCode.to_dict``)
``a_code``         ``ExpCode`` of the activations, JSON string
``w_int8``         int8 ``[M, N]`` the same weights, INT8 per output channel (``fit_int8(W, axis=0)``)
``a_int8``         int8 ``[N, K]`` the same activations, INT8 per tensor (scale from calibration)
``exp_bits_w/a``   the ``DnaTeqArith`` exponent widths the golden output was computed with
``program``        JSON string of the compiled ``LayerProgram`` (``compile_layer``)
``y``              int64 ``[M, K]`` ``quant.golden.dnateq_matmul`` of the codes
``y_int8``         int64 ``[M, K]`` ``quant.golden.int8_matmul`` of the INT8 operands
``meta``           JSON string: model, layer, slice, bits, scales, parameter source
=================  =========================================================================

Consumers recompile the program for their own hardware parameters from the codes and the two
``ExpCode`` records.  Layers are chosen to fit 3 weight exponent bits (4-bit signed weights) and
at most 4 activation exponent bits when the tuned model has such a layer.

    python verif/vectors/export.py
"""

import json
import sys
from pathlib import Path

import numpy as np

from quant.arith import compile_layer
from quant.baselines import fit_int8
from quant.golden import dnateq_matmul, int8_matmul
from quant.models import load_task
from quant.models.executors import hardware_arith
from quant.models.pipeline import read_searches, search_model

HERE = Path(__file__).resolve().parent
PARAMS = HERE.parent.parent / "bench" / "results"
#: name -> (model, layer kind, layer index among that kind to prefer, rows M, columns K)
TARGETS = {"lenet5_conv": ("lenet5", "conv", 1, 16, 32),
           "resnet8_conv": ("resnet8", "conv", 1, 16, 32),
           "minialex_conv": ("minialex", "conv", 1, 32, 32),
           "minilm_linear": ("minilm", "linear", 0, 64, 32)}
CALIB = 256
DEFAULT_THRESHOLDS = {"thr_w": 0.2, "thr_a": 0.2}


def layer_parameters(task, activations):
    """Per-layer searches of the tuned model (or the default thresholds) and where they came from."""
    path = PARAMS / f"params_{task.name}.json"
    if path.is_file():
        return read_searches(path, task.layers), str(path.relative_to(HERE.parent.parent))
    return search_model(task.layers, activations, **DEFAULT_THRESHOLDS), f"search {DEFAULT_THRESHOLDS}"


def choose_layer(layers, searches, kind, preferred):
    """The preferred layer of ``kind`` if it fits 3/4 exponent bits, else the first that does."""
    of_kind = [layer for layer in layers if layer.kind == kind]
    fits = [layer for layer in of_kind
            if searches[layer.name].w_code.exp_bits <= 3 and searches[layer.name].a_code.exp_bits <= 4]
    ordered = ([of_kind[preferred]] if of_kind[preferred] in fits else []) + fits
    return ordered[0] if ordered else of_kind[preferred]


def capture_columns(task, layer, n_inputs):
    """Real activation columns ``[N, K]`` of ``layer`` on the first calibration inputs."""
    captured = {}

    def executor(current, x, to_columns):
        columns = to_columns(x)
        if current is layer:
            captured["columns"] = columns.T
        return columns @ current.weight.T

    task.forward(task.split_inputs("calib", n_inputs), executor)
    return captured["columns"]


def write_vectors(path, task, activations, searches, layer, rows, cols, source):
    """Write one slice of ``layer`` (``rows`` outputs, ``cols`` real activation columns) to ``path``; return its meta."""
    w_code, a_code = searches[layer.name].w_code, searches[layer.name].a_code
    columns = capture_columns(task, layer, 2)
    cols = min(cols, columns.shape[1])
    picks = np.random.default_rng(0).choice(columns.shape[1], size=cols, replace=False)
    weights, acts = layer.weight[:rows], columns[:, np.sort(picks)]
    w_int8_code, a_int8_code = fit_int8(layer.weight, axis=0), fit_int8(activations[layer.name])
    w_codes, a_codes = w_code.encode(weights), a_code.encode(acts)
    w_int8 = w_int8_code.encode(layer.weight)[:rows]
    a_int8 = a_int8_code.encode(acts)
    arith = hardware_arith(w_code, a_code, layer.in_features)
    program = compile_layer(arith, w_code, a_code, layer.in_features)
    meta = {"model": task.name, "layer": layer.name, "kind": layer.kind, "M": len(weights), "N": layer.in_features,
            "K": cols, "layer_shape": list(layer.weight.shape), "w_bits": w_code.bits, "a_bits": a_code.bits,
            "w_int8_scale": np.asarray(w_int8_code.scale)[:rows].tolist(), "a_int8_scale": a_int8_code.scale,
            "params": source, "calib_inputs": CALIB,
            "columns": "im2col patches of 2 calibration images, rows (kh, kw, C)" if layer.kind == "conv"
                       else "token rows of 2 calibration inputs"}
    np.savez_compressed(
        path, w_codes=w_codes, a_codes=a_codes, w_code=json.dumps(w_code.to_dict()),
        a_code=json.dumps(a_code.to_dict()), w_int8=w_int8, a_int8=a_int8,
        exp_bits_w=arith.exp_bits_w, exp_bits_a=arith.exp_bits_a, program=json.dumps(program.to_dict()),
        y=dnateq_matmul(program, w_codes, a_codes), y_int8=int8_matmul(w_int8, a_int8), meta=json.dumps(meta))
    return {**meta, "exp_bits_w": arith.exp_bits_w, "exp_bits_a": arith.exp_bits_a}


def export(name, model, kind, preferred, rows, cols):
    """Write ``<name>.npz`` and return its summary."""
    task = load_task(model)
    activations = task.calibrate(CALIB)
    searches, source = layer_parameters(task, activations)
    layer = choose_layer(task.layers, searches, kind, preferred)
    path = HERE / f"{name}.npz"
    meta = write_vectors(path, task, activations, searches, layer, rows, cols, source)
    summary = {"file": path.name, "bytes": path.stat().st_size, **{k: meta[k] for k in
               ("model", "layer", "M", "N", "K", "w_bits", "a_bits", "params", "exp_bits_w", "exp_bits_a")}}
    print(json.dumps(summary))
    return summary


def main(names):
    summaries = [export(name, *TARGETS[name]) for name in (names or TARGETS)]
    index = HERE / "index.json"
    existing = json.loads(index.read_text()) if index.is_file() else {}
    existing.update({s["file"]: s for s in summaries})
    index.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
