"""The main job, end to end on one model: ``python demo.py`` (``make demo``, ``./run.sh demo``).

1. ``python -m quant tune --offsets``: per-layer DNA-TEQ codes with the fewest average bits within
   the accuracy-loss target (validation split), weights and activations of every layer quantized;
2. ``python -m quant evaluate``: test accuracy of FP32, INT8, DNA-TEQ (float decode) and
   DNA-TEQ through the bit-exact golden model of the hardware (``dnateq-exact``);
3. ``python -m rtl_gen``: the DNA-TEQ accelerator sized for those codes (exponent bits, offsets)
   and the INT8 accelerator from the same generator, with their manifests;
4. ``python -m verif.cosim``: one real layer of the tuned model (its codes and real activations)
   run through the generated DNA-TEQ accelerator in Verilator and compared bit for bit with the
   golden model, on a small build of the same configuration (``--cosim-pe-count``).

The default model is LeNet-5 on Fashion-MNIST (committed ONNX, data fetched by ``./run.sh``); any
model ``python -m quant`` accepts works (``--model minilm``, ``--model path/to/model.onnx``).
Everything lands in ``--out`` (default ``build/demo``), with ``summary.md`` and ``summary.json``.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

from quant.cli import ArgumentParser, positive_int
from quant.expcode import ExpCode


def parse_args(argv):
    parser = ArgumentParser(prog="python demo.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="lenet5", help="minilm, lenet5, resnet8, minialex or an .onnx file "
                                                          "(default: lenet5)")
    parser.add_argument("--pe-count", type=positive_int, default=64, help="PEs of the generated accelerators "
                                                                           "(default: 64)")
    parser.add_argument("--limit", type=positive_int, default=2000,
                        help="test inputs evaluated (default: 2000)")
    parser.add_argument("--cosim-pe-count", type=positive_int, default=16,
                        help="PEs of the build co-simulated in step 4 (default: 16)")
    parser.add_argument("--no-cosim", dest="cosim", action="store_false", help="skip step 4")
    parser.add_argument("--out", type=Path, default=Path("build/demo"), help="output folder (default: build/demo)")
    return parser.parse_args(argv)


def run(step, title, args):
    """Run ``python ARGS`` with its output shown; a failure ends the demo with one line naming the step."""
    print(f"\n=== {step}. {title}\n$ python {' '.join(map(str, args))}", flush=True)
    start = time.perf_counter()
    if subprocess.run([sys.executable, *map(str, args)]).returncode:
        sys.exit(f"demo: step {step} ({title}) failed, see the output above")
    return time.perf_counter() - start


def hardware_options(params):
    """rtl_gen datapath options that fit every layer's codes in ``params`` (a tune/search JSON)."""
    w_codes = [ExpCode.from_dict(layer["w_code"]) for layer in params["layers"].values()]
    a_codes = [ExpCode.from_dict(layer["a_code"]) for layer in params["layers"].values()]
    options = ["--exp-bits-w", max(code.exp_bits for code in w_codes),
               "--exp-bits-a", max(code.exp_bits for code in a_codes)]
    return options + (["--offsets"] if any(code.beta for code in w_codes + a_codes) else [])


def main(argv=None):
    args = parse_args(argv)
    out = args.out
    params, evaluation, cosim = out / "params.json", out / "evaluation.json", out / "cosim.json"
    seconds = {"tune": run(1, "tune the per-layer codes", ["-m", "quant", "tune", args.model, "--offsets", "--out", params])}
    seconds["evaluate"] = run(2, "evaluate FP32, INT8, DNA-TEQ and the bit-exact hardware model",
                              ["-m", "quant", "evaluate", args.model, "--params", params, "--limit", args.limit,
                               "--methods", "fp32,int8,dnateq,dnateq-exact", "--out", evaluation])
    tuned = json.loads(params.read_text())
    datapath = hardware_options(tuned)
    for kind in ("dnateq", "int8"):
        seconds[f"rtl_gen {kind}"] = run(3, f"generate the {kind} accelerator",
                                         ["-m", "rtl_gen", "--pe-kind", kind, "--pe-count", args.pe_count,
                                          *(datapath if kind == "dnateq" else []), "-o", out / "rtl" / kind])
    if args.cosim:
        seconds["cosim"] = run(4, "co-simulate a real layer of the tuned model on the generated RTL",
                               ["-m", "verif.cosim", "--model", args.model, "--params", params,
                                "--pe-count", args.cosim_pe_count, *datapath, "--out", cosim])
    write_summary(out, args, tuned, json.loads(evaluation.read_text()), datapath,
                  json.loads(cosim.read_text()) if args.cosim else None, seconds)


def write_summary(out, args, tuned, evaluation, datapath, cosim, seconds):
    manifests = {kind: json.loads((out / "rtl" / kind / "manifest.json").read_text()) for kind in ("dnateq", "int8")}
    lines = [f"# DNA-TEQ demo: {tuned['model']}", "",
             f"Tuned for at most {tuned['max_loss'] * 100:.1f} pt loss on the validation split "
             f"(FP32 {tuned['reference_acc']:.4f}, tuned {tuned['acc']:.4f}); test accuracy on "
             f"{evaluation['results'][0]['n']} inputs:", "",
             "| method | accuracy | avg bits | smaller than INT8 |", "|---|---|---|---|"]
    for row in evaluation["results"]:
        smaller = f"{row['compression_vs_int8']:.1%}" if row["avg_bits"] <= 8 else "-"
        lines.append(f"| {row['method']} | {row['acc']:.4f} | {row['avg_bits']:.2f} | {smaller} |")
    lines += ["", "| layer | M | N | w bits | a bits | base |", "|---|---|---|---|---|---|"]
    for layer in tuned["bits"]["layers"]:
        base = tuned["layers"][layer["name"]]["base"]
        lines.append(f"| {layer['name']} | {layer['M']} | {layer['N']} | {layer['w_bits']:g} | "
                     f"{layer['a_bits']:g} | {base:.4f} |")
    lines += ["", f"Generated accelerators ({args.pe_count} PEs, `{' '.join(map(str, datapath))}` for DNA-TEQ):", "",
              "| kind | Verilog files | latency (cycles) | generation (s) |", "|---|---|---|---|"]
    for kind, manifest in manifests.items():
        lines.append(f"| {kind} | {len(manifest['verilog'])} | {manifest['latency']['accelerator']} | "
                     f"{seconds[f'rtl_gen {kind}']:.1f} |")
    if cosim:
        lines += ["", f"Co-simulation ({cosim['variant']}): layer `{cosim['layer']}` "
                      f"(M={cosim['M']}, N={cosim['N']}, K={cosim['K']}), {cosim['elements']} elements, "
                      f"{cosim['outputs']} outputs equal to the golden model bit for bit in {cosim['cycles']} cycles "
                      f"({cosim['elements_per_cycle']:.1f} elements/cycle), seed {cosim['seed']}."]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    (out / "summary.json").write_text(json.dumps({"model": tuned["model"], "bits": tuned["bits"],
                                                  "evaluation": evaluation["results"], "datapath": datapath,
                                                  "cosim": cosim, "seconds": seconds}, indent=2, default=str) + "\n")
    print(f"\n=== summary ({out / 'summary.md'})\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
