"""Train the three Fashion-MNIST CNNs (LeNet-5, ResNet-8, MiniAlex) and export them to ONNX.

This is the only place in the project that uses torch. It runs in its own venv::

    python3 -m venv .venv-train
    .venv-train/bin/pip install torch==2.13.0 numpy onnx onnxruntime
    .venv-train/bin/python models/train_fashion_cnns.py --out models/

Data come from :mod:`quant.datasets` (Fashion-MNIST from Debian's ``dataset-fashion-mnist``).
After training, BatchNorm is folded into the preceding convolution (the model is in eval mode),
the model is exported with opset 17 and checked with ``onnx.checker``. Training metadata are
written to ``<out>/fp32_accuracy.json``; then ``models/eval_onnx_fp32.py`` is run with the
project's torch-free venv (``<repo>/.venv/bin/python``) to add the onnxruntime accuracy on the
full 10k test set and the sha256 of every ``.onnx`` file.
"""

import argparse
import copy
import json
import math
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.nn.utils.fusion import fuse_conv_bn_eval  # noqa: E402

from quant.datasets import load_fashion_mnist  # noqa: E402

SEED = 0
BATCH = 128
MAX_LR = 3e-3
THREADS = 2


class LeNet5(nn.Module):
    """LeNet-5: conv6-5x5(pad 2), pool, conv16-5x5, pool, fc120, fc84, fc10, ReLU."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2).flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class BasicBlock(nn.Module):
    """ResNet basic block: 2x (conv3x3, BN), ReLU; 1x1 conv + BN shortcut when the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short_conv = self.short_bn = None
        if stride != 1 or cin != cout:
            self.short_conv = nn.Conv2d(cin, cout, 1, stride, bias=False)
            self.short_bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.short_conv is None else self.short_bn(self.short_conv(x))
        return F.relu(y + s)


class ResNet8(nn.Module):
    """ResNet-8 (w=16): conv3x3(16)+BN+ReLU, blocks 16-16 s1, 16-32 s2, 32-64 s2, GAP, fc(64->10)."""

    def __init__(self, width=16):
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.layer1 = BasicBlock(width, width, 1)
        self.layer2 = BasicBlock(width, 2 * width, 2)
        self.layer3 = BasicBlock(2 * width, 4 * width, 2)
        self.fc = nn.Linear(4 * width, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean((2, 3)))


class MiniAlex(nn.Module):
    """VGG/AlexNet-style: [conv3x3(32)+BN+ReLU]x2, pool, [conv3x3(64)+BN+ReLU]x2, pool,
    dropout 0.3, fc(3136->256), ReLU, dropout 0.3, fc(256->10)."""

    def __init__(self):
        super().__init__()

        def cbr(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(*cbr(1, 32), *cbr(32, 32), nn.MaxPool2d(2),
                                      *cbr(32, 64), *cbr(64, 64), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, 256),
                                        nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


#: name -> (constructor, default number of epochs)
MODELS = {"lenet5": (LeNet5, 10), "resnet8": (ResNet8, 6), "minialex": (MiniAlex, 5)}


def fold_batchnorm(model):
    """Return an eval-mode copy of ``model`` with every BatchNorm folded into its preceding conv.

    Each ``nn.BatchNorm2d`` directly follows its ``nn.Conv2d`` (same Sequential, or the
    ``conv``/``bn`` attribute pairs of ResNet-8), so the conv gets the folded weight and bias
    and the BN becomes ``nn.Identity``.
    """
    model = copy.deepcopy(model).eval()
    pairs = [("conv", "bn"), ("conv1", "bn1"), ("conv2", "bn2"), ("short_conv", "short_bn")]
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                if isinstance(module[i], nn.Conv2d) and isinstance(module[i + 1], nn.BatchNorm2d):
                    module[i] = fuse_conv_bn_eval(module[i], module[i + 1])
                    module[i + 1] = nn.Identity()
        for conv_name, bn_name in pairs:
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(module, bn_name, nn.Identity())
    left = [n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    if left:
        raise RuntimeError(f"BatchNorm not folded: {left}")
    return model


@torch.no_grad()
def accuracy(model, x, y, batch=1000):
    """Top-1 accuracy of ``model`` (eval mode) on tensors ``x``, ``y``."""
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def train(name, epochs, data):
    """Train one model with Adam + OneCycle; return (model, per-epoch test accuracies, seconds)."""
    xtr, ytr, xte, yte = data
    torch.manual_seed(SEED)
    model = MODELS[name][0]()
    steps = math.ceil(len(xtr) / BATCH)
    opt = torch.optim.Adam(model.parameters(), lr=MAX_LR)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=MAX_LR, epochs=epochs, steps_per_epoch=steps)
    gen = torch.Generator().manual_seed(SEED)
    history = []
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        total = 0.0
        for i in range(0, len(xtr), BATCH):
            idx = perm[i:i + BATCH]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        acc = accuracy(model, xte, yte)
        history.append(acc)
        print(f"{name} epoch {epoch}/{epochs}: loss {total / len(xtr):.4f}  test top-1 {100 * acc:.2f} %"
              f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    return model, history, time.perf_counter() - t0


def export(model, path, x_check):
    """Fold BN, export to ONNX (opset 17), run onnx.checker, and check onnxruntime against torch."""
    folded = fold_batchnorm(model)
    with torch.no_grad():
        ref = model.eval()(x_check)
        diff = (folded(x_check) - ref).abs().max().item()
    if diff > 1e-3:
        raise RuntimeError(f"{path.name}: BN folding changed logits by {diff}")
    dummy = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(folded, dummy, str(path), opset_version=17, dynamo=False,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    ops = sorted({n.op_type for n in proto.graph.node})
    if "BatchNormalization" in ops:
        raise RuntimeError(f"{path.name}: BatchNormalization left in the graph")
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"input": x_check.numpy()})[0]
    ort_diff = float(np.abs(out - ref.numpy()).max())
    print(f"exported {path} ({path.stat().st_size} bytes, ops {ops}); "
          f"max |logit diff| BN fold {diff:.2e}, onnxruntime vs torch {ort_diff:.2e}", flush=True)
    return ops


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs-scale", type=float, default=1.0,
                        help="multiply the default epochs (lenet5 10, resnet8 6, minialex 5)")
    parser.add_argument("--out", type=Path, default=REPO / "models", help="output directory")
    parser.add_argument("--only", default=",".join(MODELS),
                        help="comma-separated subset of " + ",".join(MODELS))
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="torch.set_num_threads (1 is faster when other jobs share the cores)")
    parser.add_argument("--eval-python", default=str(REPO / ".venv" / "bin" / "python"),
                        help="torch-free python that runs eval_onnx_fp32.py ('' to skip)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown or not names:
        parser.error(f"unknown model(s) {unknown}; choose from {','.join(MODELS)}")

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    xtr, ytr = (torch.from_numpy(a) for a in load_fashion_mnist("train"))
    xte, yte = (torch.from_numpy(a) for a in load_fashion_mnist("test"))
    meta_path = args.out / "fp32_accuracy.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    for name in names:
        epochs = max(1, round(MODELS[name][1] * args.epochs_scale))
        model, history, seconds = train(name, epochs, (xtr, ytr, xte, yte))
        recipe = {"optimizer": "Adam", "schedule": "OneCycleLR", "max_lr": MAX_LR, "batch": BATCH,
                  "seed": SEED, "threads": args.threads, "augmentation": None,
                  "epochs_scale": args.epochs_scale}
        path = args.out / f"{name}.onnx"
        ops = export(model, path, xte[:256])
        meta[name] = {
            "file": path.name,
            "epochs": epochs,
            "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "train_seconds": round(seconds, 1),
            "torch_test_top1_per_epoch": [round(a, 4) for a in history],
            "torch_version": torch.__version__,
            "onnx_opset": 17,
            "batchnorm_folded": True,
            "onnx_ops": ops,
            "recipe": recipe,
        }
        meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    evaluator = Path(__file__).resolve().parent / "eval_onnx_fp32.py"
    cmd = [args.eval_python, str(evaluator), "--dir", str(args.out)]
    if args.eval_python and Path(args.eval_python).is_file():
        subprocess.run(cmd, check=True)
    else:
        print("skipped onnxruntime evaluation; run: " + " ".join(cmd[1:] if not args.eval_python else cmd))


if __name__ == "__main__":
    main()
