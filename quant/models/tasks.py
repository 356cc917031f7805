"""Tasks: a network together with its data splits and its accuracy metric.

=============  =============================================================================
split          use
=============  =============================================================================
``calib``      calibration inputs for activation codes (``n`` of them, from the training data)
``val``        tuning of the DNA-TEQ thresholds (held out from calibration and from test)
``test``       final numbers
=============  =============================================================================

:class:`ImageTask` (ONNX classifiers, Fashion-MNIST by default): ``calib`` and ``val`` are disjoint
seeded subsets of the training images (``val``: 2,000 images, or half of a smaller set; the model has seen them in training,
so its accuracy there is higher, but the *loss* under quantization is what tuning compares), and
``test`` is the full test set.

:class:`SentenceTask` (all-MiniLM-L6-v2 with a frozen logistic-regression probe, see
``docs/models.md``): the probe is trained once on FP32 embeddings of the train tweets; ``calib``
and ``val`` are disjoint seeded subsets of the 4,200 train tweets (``val``: 1,000; the probe is
fitted on all train tweets as the protocol says, so ``val`` accuracy is optimistic, but again the
loss is what tuning compares), ``test`` the 1,800 test tweets.
"""

import hashlib

import numpy as np

from ..errors import QuantError
from .executors import CalibrationRecorder
from .layers import fp32_product
from .pipeline import cache_dir

__all__ = ["ImageTask", "SentenceTask", "VAL_IMAGES", "VAL_TWEETS"]

#: Training images held out for threshold tuning.
VAL_IMAGES = 2000
#: Train tweets used for threshold tuning.
VAL_TWEETS = 1000
_SEED = 0


class _Task:
    """Batching, splits and calibration shared by the tasks (subclasses define data and metric)."""

    batch_size = 100

    def forward(self, inputs, executor):
        raise NotImplementedError

    def _batches(self, inputs):
        return [inputs[i:i + self.batch_size] for i in range(0, len(inputs), self.batch_size)]

    def run(self, inputs, executor=fp32_product, progress=False, desc="eval"):
        """Model outputs for ``inputs``, in batches (optionally with a tqdm bar)."""
        from tqdm import tqdm

        batches = self._batches(inputs)
        return np.concatenate([self.forward(b, executor)
                               for b in tqdm(batches, desc=desc, unit="batch", disable=not progress)])

    def split_inputs(self, split, n=None):
        """Inputs of a split (``calib``: the first ``n`` of the calibration pool)."""
        if split == "calib":
            if not 1 <= n <= len(self._calib_pool):
                raise QuantError(f"--calib must be in 1..{len(self._calib_pool)}, got {n}")
            return self._calib_pool[:n]
        return self._splits[split][0][:n]

    def calibrate(self, n, progress=False):
        """``{layer name: activation rows}`` recorded on ``n`` calibration inputs."""
        inputs = self.split_inputs("calib", n)
        recorder = CalibrationRecorder(calls=len(self._batches(inputs)), seed=_SEED)
        self.run(inputs, recorder, progress, desc="calibrate")
        return recorder.activations()

    def fingerprint(self, n_calib):
        """Identifies model, data and calibration set size (for cached search results)."""
        return f"{self.name}-{self._model_hash}-calib{n_calib}"


class ImageTask(_Task):
    """Top-1 accuracy of an image classifier.

    Parameters
    ----------
    network : OnnxNetwork
    train : tuple of arrays
        ``(images, labels)`` the calibration and tuning subsets are drawn from.
    test : tuple of arrays
        ``(images, labels)``.
    """

    def __init__(self, network, train, test):
        self.network = network
        self.name = network.name
        self.layers = network.layers
        self._model_hash = hashlib.sha256(network.path.read_bytes()).hexdigest()[:12]
        order = np.random.default_rng(_SEED).permutation(len(train[0]))
        n_val = min(VAL_IMAGES, len(order) // 2)
        val = order[:n_val]
        self._calib_pool = train[0][order[n_val:]]
        self._splits = {"val": (train[0][val], train[1][val]), "test": test}

    def forward(self, inputs, executor):
        return self.network.forward(inputs, executor)

    def evaluate(self, executor=fp32_product, split="test", n=None, progress=False):
        """``{"acc", "n"}`` on the first ``n`` inputs of ``split`` (all by default)."""
        images, labels = self._splits[split]
        logits = self.run(images[:n], executor, progress, desc=f"{self.name} {split}")
        labels = labels[:len(logits)]
        return {"acc": float((logits.argmax(axis=1) == labels).mean()), "n": int(len(labels))}


class SentenceTask(_Task):
    """Sentiment accuracy of a frozen linear probe on quantized MiniLM embeddings.

    Parameters
    ----------
    encoder : MiniLM
    tweets : dict
        :func:`quant.datasets.load_tweets`'s ``train_texts``, ``train_labels``, ``test_texts``,
        ``test_labels``.
    val_size : int
        Train tweets used for tuning (the others are the calibration pool).
    """

    batch_size = 64

    def __init__(self, encoder, tweets, val_size=VAL_TWEETS):
        self.encoder = encoder
        self.name = encoder.name
        self.layers = encoder.layers
        self._model_hash = "all-MiniLM-L6-v2"
        texts, labels = tweets["train_texts"], np.asarray(tweets["train_labels"])
        order = np.random.default_rng(_SEED).permutation(len(texts))
        self._splits = {"train": (list(texts), labels),
                        "val": ([texts[i] for i in order[:val_size]], labels[order[:val_size]]),
                        "test": (list(tweets["test_texts"]), np.asarray(tweets["test_labels"]))}
        self._calib_pool = [texts[i] for i in order[val_size:]]
        self._fp32 = {}
        self._probe = None

    def forward(self, inputs, executor):
        return self.encoder.forward(inputs, executor)

    def run(self, inputs, executor=fp32_product, progress=False, desc="eval"):
        """Embeddings of ``inputs``, batched by length (padding is wasted work), in input order."""
        order = np.argsort([len(t) for t in inputs], kind="stable")
        embeddings = super().run([inputs[i] for i in order], executor, progress, desc)
        result = np.empty_like(embeddings)
        result[order] = embeddings
        return result

    def fp32_embeddings(self, split, progress=False):
        """FP32 embeddings of a split, computed once and cached on disk."""
        if split not in self._fp32:
            path = cache_dir() / f"minilm_fp32_{split}_{len(self._splits[split][0])}.npy"
            if path.is_file():
                self._fp32[split] = np.load(path)
            else:
                self._fp32[split] = self.run(self._splits[split][0], progress=progress, desc=f"fp32 {split}")
                np.save(path, self._fp32[split])
        return self._fp32[split]

    def probe(self, progress=False):
        """``(coef [classes, 384], intercept [classes])`` of the probe, trained once on FP32 embeddings."""
        if self._probe is None:
            from sklearn.linear_model import LogisticRegression

            features = self.fp32_embeddings("train", progress)
            model = LogisticRegression(C=2.0, max_iter=2000).fit(features, self._splits["train"][1])
            self._probe = (model.coef_.astype(np.float32), model.intercept_.astype(np.float32), model.classes_)
        return self._probe

    def evaluate(self, executor=fp32_product, split="test", n=None, progress=False):
        """``{"acc", "n", "cos_mean", "cos_min"}``: probe accuracy and cosine to FP32 embeddings."""
        texts, labels = self._splits[split]
        coef, intercept, classes = self.probe(progress)
        reference = self.fp32_embeddings(split, progress)[:n]
        embeddings = reference if executor is fp32_product else self.run(texts[:n], executor, progress,
                                                                         desc=f"minilm {split}")
        predictions = classes[(embeddings @ coef.T + intercept).argmax(axis=1)]
        cosine = (embeddings * reference).sum(axis=1)
        return {"acc": float((predictions == labels[:len(predictions)]).mean()), "n": int(len(predictions)),
                "cos_mean": float(cosine.mean()), "cos_min": float(cosine.min())}
