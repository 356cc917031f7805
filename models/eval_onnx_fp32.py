"""Measure the FP32 top-1 accuracy of the Fashion-MNIST ONNX models with onnxruntime (no torch).

Runs in the project's torch-free venv::

    .venv/bin/python models/eval_onnx_fp32.py --dir models/

For every model listed in ``<dir>/fp32_accuracy.json`` (written by ``train_fashion_cnns.py``)
it evaluates ``<dir>/<name>.onnx`` on the full 10,000-image Fashion-MNIST test set and adds
``onnxruntime_test_top1``, ``sha256``, ``size_bytes`` and the onnxruntime version to its entry.
With ``--check`` it only verifies the stored accuracies and hashes and exits non-zero on a mismatch.
"""

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from quant.datasets import load_fashion_mnist  # noqa: E402


def sha256(path):
    """Hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def onnx_top1(path, images, labels, batch=1000):
    """Top-1 accuracy of the ONNX model at ``path`` on ``images`` [N,1,28,28] float32."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    pred = np.concatenate([sess.run(None, {name: images[i:i + batch]})[0].argmax(1)
                           for i in range(0, len(images), batch)])
    return float((pred == labels).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=REPO / "models")
    parser.add_argument("--check", action="store_true", help="verify instead of writing")
    args = parser.parse_args(argv)
    meta_path = args.dir / "fp32_accuracy.json"
    meta = json.loads(meta_path.read_text())
    images, labels = load_fashion_mnist("test")
    bad = []
    for name, entry in sorted(meta.items()):
        path = args.dir / entry["file"]
        t0 = time.perf_counter()
        acc = onnx_top1(path, images, labels)
        seconds = time.perf_counter() - t0
        digest = sha256(path)
        print(f"{name}: onnxruntime top-1 {100 * acc:.2f} % on {len(labels)} test images "
              f"({seconds:.2f} s), {path.stat().st_size} bytes, sha256 {digest[:16]}...")
        if args.check:
            if digest != entry.get("sha256") or acc != entry.get("onnxruntime_test_top1"):
                bad.append(name)
            continue
        entry.update({
            "onnxruntime_test_top1": acc,
            "test_images": int(len(labels)),
            "onnxruntime_version": ort.__version__,
            "sha256": digest,
            "size_bytes": path.stat().st_size,
        })
    if args.check:
        if bad:
            sys.exit(f"mismatch with {meta_path.name}: {', '.join(bad)}")
        return
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(f"wrote {meta_path}")


if __name__ == "__main__":
    main()
