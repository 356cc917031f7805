"""Baseline quantizers in the same encode/decode API as :class:`quant.expcode.ExpCode`.

* :class:`Int8Code` — symmetric INT8, per tensor or per channel (the hardware baseline).
* :func:`fit_log2` — base-2 logarithmic code (sign + power-of-two exponent): an ``ExpCode`` with
  ``base = 2``, a power-of-two scale and log-domain rounding.
* :class:`DqaCode` — DQA (Hu, Henderson, Cano; arXiv 2412.09687) for activations: important
  channels get ``n + m`` bits, stored as ``n`` high bits plus Huffman-coded ``m`` low bits;
  the other channels get plain ``n``-bit quantization.
"""

import heapq
from dataclasses import dataclass

import numpy as np

from .errors import QuantError, check_bits, check_finite
from .expcode import ExpCode
from .search import SortedTensor

__all__ = ["Int8Code", "fit_int8", "fit_log2", "DqaCode", "fit_dqa", "huffman_code_lengths"]

INT8_MAX = 127


@dataclass(frozen=True)
class Int8Code:
    """Symmetric INT8 code: ``value = q * scale`` with ``q`` in ``[-127, 127]``.

    Parameters
    ----------
    scale : float or numpy.ndarray
        One scale, or one per channel along ``axis``.
    axis : int or None
        Channel axis of per-channel scales (None: per tensor).
    """

    scale: object
    axis: int = None

    bits = 8

    def _scale(self, ndim):
        scale = np.asarray(self.scale, dtype=np.float64)
        if self.axis is None:
            return scale
        shape = [1] * ndim
        shape[self.axis] = -1
        return scale.reshape(shape)

    def encode(self, x):
        """Round to the nearest integer multiple of the scale, saturated to ``[-127, 127]`` (int8)."""
        x = np.asarray(x, dtype=np.float64)
        check_finite("tensor to encode", x)
        return np.clip(np.rint(x / self._scale(x.ndim)), -INT8_MAX, INT8_MAX).astype(np.int8)

    def decode(self, codes):
        """Values of int8 codes, as float64."""
        codes = np.asarray(codes)
        return codes.astype(np.float64) * self._scale(codes.ndim)

    def quantize(self, x):
        """``decode(encode(x))``."""
        return self.decode(self.encode(x))

    def to_dict(self):
        """JSON-serialisable record."""
        return {"kind": "int8", "scale": np.asarray(self.scale).tolist(), "axis": self.axis}


def fit_int8(x, axis=None):
    """Symmetric INT8 code whose scale maps ``max|x|`` (per tensor, or per channel of ``axis``) to 127."""
    x = np.asarray(x, dtype=np.float64)
    check_finite("tensor", x)
    if axis is None:
        peak = np.abs(x).max()
    else:
        if not -x.ndim <= axis < x.ndim:
            raise QuantError(f"channel axis {axis} out of range for a {x.ndim}-D tensor")
        axis = axis % x.ndim
        peak = np.abs(x).max(axis=tuple(i for i in range(x.ndim) if i != axis))
    scale = np.where(peak > 0, peak / INT8_MAX, 1.0)
    return Int8Code(scale=float(scale) if axis is None else scale, axis=axis)


def fit_log2(x, bits, signed=None):
    """Base-2 logarithmic code: the power-of-two scale with the lowest RMAE on ``x``.

    Levels are ``2**k * 2**u`` (``u`` = exponent code, ``u = 0`` reserved for zero), the encoder
    rounds in the log domain, as classic logarithmic quantizers do.
    """
    check_bits("bits", bits)
    tensor = SortedTensor(x, signed=signed)
    n_exp = 1 << (bits - 1 if tensor.signed else bits)
    peak = tensor.quantile(1.0)
    if peak <= 0:
        return ExpCode(bits=bits, base=2.0, alpha=1.0, signed=tensor.signed, rounding="log")
    top_exp = int(np.ceil(np.log2(peak)))
    candidates = [ExpCode(bits=bits, base=2.0, alpha=2.0 ** (k - (n_exp - 1)), signed=tensor.signed,
                          rounding="log")
                  for k in range(top_exp - 8, top_exp + 2)]
    return min(candidates, key=lambda c: tensor.l1_error(c.levels(), c.thresholds()))


def huffman_code_lengths(symbols):
    """Code length in bits of every distinct symbol under an optimal Huffman code.

    Parameters
    ----------
    symbols : array_like of int

    Returns
    -------
    dict
        ``{symbol: length}``; a single distinct symbol gets length 1.
    """
    values, freq = np.unique(np.asarray(symbols).ravel(), return_counts=True)
    if values.size == 0:
        raise QuantError("no symbols to code")
    counts = dict(zip(values.tolist(), freq.tolist()))
    if len(counts) == 1:
        return {next(iter(counts)): 1}
    heap = [(n, i, (sym,)) for i, (sym, n) in enumerate(sorted(counts.items()))]
    heapq.heapify(heap)
    lengths = dict.fromkeys(counts, 0)
    tie = len(heap)
    while len(heap) > 1:
        n1, _, group1 = heapq.heappop(heap)
        n2, _, group2 = heapq.heappop(heap)
        for sym in group1 + group2:
            lengths[sym] += 1
        heapq.heappush(heap, (n1 + n2, tie, group1 + group2))
        tie += 1
    return lengths


@dataclass(frozen=True)
class DqaCode:
    """DQA activation code fitted to one tensor (see :func:`fit_dqa`).

    Attributes
    ----------
    bits : int
        ``n``: bits of every channel's stored high part.
    extra_bits : int
        ``m``: low bits kept (Huffman-coded) for important channels.
    scale : float
        Step of the ``n + m``-bit grid; the ``n``-bit grid step is ``scale * 2**m``.
    signed : bool
    axis : int
        Channel axis.
    important : numpy.ndarray of bool
        Per channel: quantized with ``n + m`` bits.
    huffman_bits : float
        Average Huffman code length of the low bits of important-channel elements.
    """

    bits: int
    extra_bits: int
    scale: float
    signed: bool
    axis: int
    important: np.ndarray
    huffman_bits: float

    def _grid(self, x, bits):
        top = (1 << (bits - 1)) - 1 if self.signed else (1 << bits) - 1
        lo = -top if self.signed else 0
        return lo, top

    def quantize(self, x):
        """Reconstruction of ``x``: ``n + m``-bit grid on important channels, ``n``-bit elsewhere."""
        x = np.asarray(x, dtype=np.float64)
        check_finite("tensor to quantize", x)
        fine_lo, fine_hi = self._grid(x, self.bits + self.extra_bits)
        fine = np.clip(np.rint(x / self.scale), fine_lo, fine_hi) * self.scale
        coarse_step = self.scale * (1 << self.extra_bits)
        lo, hi = self._grid(x, self.bits)
        coarse = np.clip(np.rint(x / coarse_step), lo, hi) * coarse_step
        shape = [1] * x.ndim
        shape[self.axis] = -1
        return np.where(self.important.reshape(shape), fine, coarse)

    def average_bits(self):
        """Stored bits per element, counting the real Huffman code length of the low bits."""
        share = float(self.important.mean())
        return self.bits + share * self.huffman_bits


def fit_dqa(x, bits, *, extra_bits=3, important_fraction=0.25, axis=1, signed=None,
            channel_weight=None):
    """Fit DQA to an activation tensor.

    Channels are ranked greedily by how much quantization error the ``n + m``-bit grid removes
    from them (optionally weighted by ``channel_weight``, e.g. the squared column norms of the
    next layer's weights, so that error is measured where it reaches the output); the top
    ``important_fraction`` get ``n + m`` bits.  Because the per-channel gains are independent,
    the greedy ranking is a sort.

    Parameters
    ----------
    x : array_like
        Calibration activations with channels on ``axis``.
    bits : int
        ``n`` (2..8).
    extra_bits : int
        ``m``.
    important_fraction : float
        Share of channels quantized with ``n + m`` bits.
    axis : int
    signed : bool or None
        None: unsigned exactly when ``x >= 0``.
    channel_weight : array_like or None
        Per-channel error weight.
    """
    check_bits("bits", bits)
    check_bits("bits + extra_bits", bits + extra_bits, 2, 16)
    x = np.asarray(x, dtype=np.float64)
    check_finite("tensor", x)
    if not 0.0 <= important_fraction <= 1.0:
        raise QuantError(f"important_fraction must be in [0, 1], got {important_fraction!r}")
    axis = axis % x.ndim
    signed = bool(x.min() < 0) if signed is None else bool(signed)
    peak = np.abs(x).max() or 1.0
    fine_top = (1 << (bits + extra_bits - 1)) - 1 if signed else (1 << (bits + extra_bits)) - 1
    scale = peak / fine_top
    channels = x.shape[axis]
    trial = DqaCode(bits=bits, extra_bits=extra_bits, scale=scale, signed=signed, axis=axis,
                    important=np.ones(channels, dtype=bool), huffman_bits=0.0)
    fine_err = np.abs(x - trial.quantize(x))
    coarse_err = np.abs(x - DqaCode(**{**trial.__dict__, "important": np.zeros(channels, dtype=bool)}).quantize(x))
    reduce_axes = tuple(i for i in range(x.ndim) if i != axis)
    gain = (coarse_err ** 2 - fine_err ** 2).sum(axis=reduce_axes)
    if channel_weight is not None:
        channel_weight = np.asarray(channel_weight, dtype=np.float64)
        if channel_weight.shape != (channels,):
            raise QuantError(f"channel_weight must have {channels} entries, got {channel_weight.shape}")
        gain = gain * channel_weight
    important = np.zeros(channels, dtype=bool)
    important[np.argsort(-gain, kind="stable")[:int(round(important_fraction * channels))]] = True
    if important.any():
        fine_codes = np.rint(np.take(x, np.flatnonzero(important), axis=axis) / scale).astype(np.int64)
        low = np.clip(fine_codes, -fine_top, fine_top) & ((1 << extra_bits) - 1)
        table = np.zeros(1 << extra_bits)
        for symbol, length in huffman_code_lengths(low).items():
            table[symbol] = length
        huffman_bits = float(table[low].mean())
    else:
        huffman_bits = 0.0
    return DqaCode(bits=bits, extra_bits=extra_bits, scale=scale, signed=signed, axis=axis,
                   important=important, huffman_bits=huffman_bits)
