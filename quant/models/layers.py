"""Quantizable layers: every weight layer of a model is one GEMM ``Y[K, M] = A[K, N] @ W[M, N].T``.

A :class:`GemmLayer` holds the weight matrix ``W`` (one row per output channel / neuron, the
accelerator's ``[M, N]``) and its bias.  Its input arrives as a *channel-last* activation tensor
``x[..., C]``; a ``to_columns`` function turns a tensor of that shape (floats or integer codes
alike) into the activation rows ``A[K, N]`` -- the transpose of the accelerator's ``[N, K]``
columns.  For a linear layer ``to_columns`` is a reshape (``C = N``); for a convolution it is
im2col over the (already padded) input, with ``N`` ordered as ``(kernel row, kernel column,
channel)``, so ``N = taps * C``.

Who computes the product is an *executor* (:mod:`quant.models.executors`), a callable
``executor(layer, x, to_columns) -> Y[K, M]`` (float32, no bias).  That single hook is where
calibration records activations and where each quantization method quantizes the weights and
the activations of every layer.
"""

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["GemmLayer", "im2col", "fp32_product"]


@dataclass(eq=False)
class GemmLayer:
    """One quantizable weight layer.

    Parameters
    ----------
    name : str
        Unique name within the model.
    kind : {"conv", "linear"}
    weight : numpy.ndarray
        ``[M, N]`` float32; columns in the order of the activation rows ``to_columns`` builds.
    bias : numpy.ndarray or None
        ``[M]`` float32.
    channels : int
        ``C``, the size of the activation tensor's last axis (``N = taps * C``).
    """

    name: str
    kind: str
    weight: np.ndarray
    bias: np.ndarray
    channels: int

    @property
    def out_features(self):
        """``M``: output channels (rows of ``W``)."""
        return self.weight.shape[0]

    @property
    def in_features(self):
        """``N``: dot-product length (columns of ``W``)."""
        return self.weight.shape[1]

    @property
    def taps(self):
        """Kernel positions per channel (1 for a linear layer)."""
        return self.in_features // self.channels

    def channel_weight(self):
        """Squared norm of the weights that read each input channel, ``[C]`` (DQA's channel weight)."""
        w = self.weight.astype(np.float64).reshape(self.out_features, self.taps, self.channels)
        return (w ** 2).sum(axis=(0, 1))

    def apply(self, x, executor, to_columns):
        """Run the layer on a channel-last input: ``executor`` product plus bias, ``[K, M]`` float32."""
        y = executor(self, x, to_columns)
        return y if self.bias is None else y + self.bias

    def linear(self, x, executor):
        """Apply a linear layer to ``x[..., N]``; the result has shape ``x.shape[:-1] + (M,)``."""
        y = self.apply(x, executor, _rows_of(self.in_features))
        return y.reshape(x.shape[:-1] + (self.out_features,))


def _rows_of(width):
    def to_columns(t):
        return t.reshape(-1, width)
    return to_columns


def im2col(x, kernel, strides, dilations):
    """Patches of a padded channel-last tensor ``x[B, H, W, C]`` as rows ``[B*OH*OW, kh*kw*C]``.

    Works for any dtype (float activations or integer codes), so codes can be encoded once per
    element and then gathered, exactly as the host does for the accelerator.
    """
    kh, kw = kernel
    sh, sw = strides
    dh, dw = dilations
    batch, _, _, channels = x.shape
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    windows = sliding_window_view(x, (span_h, span_w), axis=(1, 2))[:, ::sh, ::sw, :, ::dh, ::dw]
    out_h, out_w = windows.shape[1:3]
    # windows: [B, OH, OW, C, kh, kw] -> rows ordered (kh, kw, C)
    return np.ascontiguousarray(windows.transpose(0, 1, 2, 4, 5, 3)).reshape(
        batch * out_h * out_w, kh * kw * channels)


def fp32_product(layer, x, to_columns):
    """The unquantized executor: ``to_columns(x) @ W.T`` in float32."""
    return to_columns(x) @ layer.weight.T
