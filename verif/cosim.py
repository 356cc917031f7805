"""Co-simulate one real layer of a tuned model on a generated accelerator: ``python -m verif.cosim``.

The layer's DNA-TEQ codes come from a ``python -m quant tune/search --out`` file, its activations
are real (im2col patches or token rows of calibration inputs).  The slice is written in the format
of ``verif/vectors`` (see ``verif/vectors/export.py``), the accelerator is generated with the given
``rtl_gen`` options and Verilated once per configuration (``verif/build/cosim-<digest>``), and the
``real_layers`` test of ``verif/tb_accelerator.py`` streams it through AXI4-Lite/AXI4-Stream with
10 % idle cycles and backpressure, checking every output bit for bit against ``quant.golden``.

    python -m verif.cosim --model lenet5 --params build/demo/params.json --pe-count 16 \\
        --exp-bits-w 6 --exp-bits-a 5 --out build/demo/cosim.json
"""

import hashlib
import json
import shlex
import sys
from pathlib import Path

from hw.driver import Driver
from quant.cli import ArgumentParser
from quant.errors import QuantError
from quant.models import load_task
from quant.models.pipeline import read_searches
from quant.toolchain import configure_environment

from .harness import Variant, build, run_bench
from .vectors.export import CALIB, write_vectors


def parse_args(argv):
    parser = ArgumentParser(prog="python -m verif.cosim", description=__doc__.split("\n\n")[0],
                     epilog="Any other option is passed to python -m rtl_gen (e.g. --exp-bits-w, --offsets, --lanes).")
    parser.add_argument("--model", required=True, help="minilm, lenet5, resnet8, minialex or an .onnx file")
    parser.add_argument("--params", required=True, type=Path, help="tune/search JSON of the model")
    parser.add_argument("--layer", help="layer to run (default: the convolution, else the layer, with the "
                                        "longest vectors that fit)")
    parser.add_argument("--rows", type=int, default=32, help="output rows M of the slice (default: 32)")
    parser.add_argument("--columns", type=int, default=16, help="activation columns K (default: 16)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the idle/backpressure pattern (default: 1)")
    parser.add_argument("--out", required=True, type=Path, help="JSON file for the result")
    args, rtl_gen_options = parser.parse_known_args(argv)
    if args.rows < 1 or args.columns < 1:
        parser.error("--rows and --columns must be positive")
    return args, rtl_gen_options


def _choose(task, name, max_n):
    """The layer named ``name``, else the convolution (else the layer) with the longest vectors up to ``max_n``."""
    if name is not None:
        for layer in task.layers:
            if layer.name == name:
                return layer
        raise QuantError(f"model {task.name} has no layer {name!r}")
    fitting = [layer for layer in task.layers if layer.in_features <= max_n]
    if not fitting:
        raise QuantError(f"no layer of {task.name} has vectors of at most {max_n} elements (the accelerator's MAX_N)")
    # A convolution gives many real columns (im2col patches) from few inputs; a linear layer one per input.
    return max(fitting, key=lambda layer: (layer.kind == "conv", layer.in_features))


def cosimulate(args, rtl_gen_options):
    """Generate, build and run; return the result record."""
    task = load_task(args.model)                        # bad model or parameter files fail before the build
    searches = read_searches(args.params, task.layers)
    options = shlex.join(rtl_gen_options)
    variant = Variant(f"cosim-{hashlib.sha256(options.encode()).hexdigest()[:12]}", "accelerator", "dnateq", options)
    manifest_path = build(variant)
    layer = _choose(task, args.layer, Driver(json.loads(manifest_path.read_text())).max_n)
    run_dir = variant.directory / "run"
    vectors = run_dir / "vectors"
    vectors.mkdir(parents=True, exist_ok=True)
    for stale in vectors.glob("*.npz"):
        stale.unlink()
    write_vectors(vectors / f"{task.name}_{layer.name}.npz", task, task.calibrate(CALIB), searches, layer,
                  args.rows, args.columns, str(args.params))
    report = run_bench(variant, manifest_path, "tb_accelerator", "real_layers", args.seed, run_dir,
                       vectors=str(vectors), idle=0.1, backpressure=0.1)
    if report["skipped_vectors"] or not report["layers"]:
        raise QuantError(f"the generated accelerator cannot run layer {layer.name}: {report['skipped_vectors']}")
    result = report["layers"][0]
    return {"variant": variant.id, "rtl_gen": " ".join(variant.rtl_gen_args()), "model": task.name, "layer": layer.name,
            "seed": report["seed"], "outputs": result["M"] * result["K"], "output_beats": report["outputs"], **result}


def main(argv=None):
    args, rtl_gen_options = parse_args(argv)
    configure_environment()
    try:
        result = cosimulate(args, rtl_gen_options)
    except QuantError as err:
        sys.exit(f"python -m verif.cosim: error: {err}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['layer']}: {result['outputs']} outputs ({result['elements']} elements) equal to quant.golden "
          f"bit for bit in {result['cycles']} cycles; wrote {args.out}")


if __name__ == "__main__":
    main()
