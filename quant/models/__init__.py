"""Real models for the quantizer: an ONNX interpreter, all-MiniLM-L6-v2, tasks and methods.

``load_task(model)`` resolves a model argument of the command line:

* ``minilm`` -- all-MiniLM-L6-v2 with the tweet-sentiment probe (:class:`SentenceTask`);
* ``lenet5`` / ``resnet8`` / ``minialex`` -- the bundled Fashion-MNIST CNNs in ``models/``;
* a path to an ``.onnx`` file -- an image classifier, evaluated on Fashion-MNIST unless a data
  file is given (``.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test``; inputs in the
  layout and normalisation the model expects).
"""

from pathlib import Path

import numpy as np

from ..errors import QuantError
from ..toolchain import REPO_ROOT
from .executors import CalibrationRecorder, ExactDnaTeqExecutor, LayerCodes, QuantizedExecutor
from .layers import GemmLayer, fp32_product
from .minilm import MiniLM
from .onnx_model import SUPPORTED_OPS, OnnxNetwork
from .tasks import ImageTask, SentenceTask

__all__ = ["load_task", "BUNDLED_CNNS", "MODEL_NAMES", "OnnxNetwork", "MiniLM", "GemmLayer",
           "ImageTask", "SentenceTask", "CalibrationRecorder", "QuantizedExecutor",
           "ExactDnaTeqExecutor", "LayerCodes", "fp32_product", "SUPPORTED_OPS", "model_path"]

#: CNNs shipped in ``models/`` (trained on Fashion-MNIST).
BUNDLED_CNNS = ("lenet5", "resnet8", "minialex")
#: Every model name the command line accepts besides a path.
MODEL_NAMES = BUNDLED_CNNS + ("minilm",)
_DATA_KEYS = ("x_train", "y_train", "x_test", "y_test")


def model_path(name):
    """Path of a bundled CNN's ONNX file."""
    return REPO_ROOT / "models" / f"{name}.onnx"


def _dataset(loader, *args):
    """Call a :mod:`quant.datasets` loader; its one-line errors become :class:`QuantError`."""
    try:
        return loader(*args)
    except RuntimeError as err:
        raise QuantError(str(err)) from None


def _image_data(data):
    if data is None:
        from ..datasets import load_fashion_mnist

        return _dataset(load_fashion_mnist, "train"), _dataset(load_fashion_mnist, "test")
    path = Path(data)
    if not path.is_file():
        raise QuantError(f"data file not found: {path}")
    try:
        arrays = np.load(path)
        missing = [k for k in _DATA_KEYS if k not in arrays]
    except (OSError, ValueError) as err:
        raise QuantError(f"cannot read data file {path}: {err}") from None
    if missing:
        raise QuantError(f"data file {path} lacks array(s) {', '.join(missing)}")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load_task(model, data=None):
    """The task of a model name or ``.onnx`` path (see the module docstring).

    Parameters
    ----------
    model : str or path-like
    data : path-like or None
        ``.npz`` data file for an ONNX image classifier (default: Fashion-MNIST).
    """
    model = str(model)
    if model == "minilm":
        if data is not None:
            raise QuantError("minilm uses its own tweet data; --data applies to ONNX image models")
        from ..datasets import load_tweets

        return SentenceTask(MiniLM(), _dataset(load_tweets))
    if model in BUNDLED_CNNS:
        path = model_path(model)
    elif model.endswith(".onnx") or Path(model).is_file():
        path = Path(model)
    else:
        raise QuantError(f"unknown model {model!r}: give an .onnx path or one of {', '.join(MODEL_NAMES)}")
    network = OnnxNetwork(path)
    train, test = _image_data(data)
    return ImageTask(network, train, test)
