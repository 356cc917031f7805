"""Executors: who computes a weight layer's product, and how its operands are quantized.

An executor is a callable ``executor(layer, x, to_columns) -> Y[K, M]`` (float32, no bias); see
:mod:`quant.models.layers`.  Three kinds exist:

* :class:`CalibrationRecorder` -- FP32 product, and a seeded sample of the activation rows every
  layer sees (the im2col rows for a convolution), for the searches and baseline fits.
* :class:`QuantizedExecutor` -- BOTH operands quantized with the layer's codes
  (``code.quantize`` = ``decode(encode(.))`` of :class:`~quant.expcode.ExpCode`, or the INT8 /
  base-2 log / DQA codes of :mod:`quant.baselines`), then a float32 product ("decode and float").
* :class:`ExactDnaTeqExecutor` -- DNA-TEQ layers through the bit-exact hardware model:
  ``ExpCode.encode`` on both operands, :func:`quant.golden.dnateq_matmul` on the integer codes
  with the program of :func:`quant.arith.compile_layer`, times the program's ``out_scale``.

Activations are quantized element by element (per channel for DQA) *before* the convolution's
im2col gathers them; since im2col only copies elements (the zero padding is added before
quantization too), this equals quantizing the im2col matrix the accelerator receives, at a
fraction of the cost.
"""

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ..arith import DnaTeqArith, compile_layer
from ..golden import dnateq_matmul

__all__ = ["CalibrationRecorder", "LayerCodes", "QuantizedExecutor", "ExactDnaTeqExecutor",
           "hardware_arith", "code_bits"]


class CalibrationRecorder:
    """FP32 executor that keeps a seeded random sample of every layer's activation rows.

    A row holds the ``C`` channel values of one activation position (for a convolution, one
    kernel tap of one im2col patch), so samples keep the channel structure DQA needs.

    Parameters
    ----------
    calls : int
        Batches the model will be run on (the per-layer budget is split evenly between them).
    max_elements : int
        Elements kept per layer in all (about; at least one row per batch).
    seed : int
    """

    def __init__(self, calls, max_elements=1 << 20, seed=0):
        self._per_call = max(1, max_elements // max(1, calls))
        self._rng = np.random.default_rng(seed)
        self._rows = defaultdict(list)

    def __call__(self, layer, x, to_columns):
        columns = to_columns(x)
        rows = columns.reshape(-1, layer.channels)
        take = min(rows.shape[0], max(1, self._per_call // layer.channels))
        keep = np.sort(self._rng.choice(rows.shape[0], size=take, replace=False))
        self._rows[layer.name].append(rows[keep])
        return columns @ layer.weight.T

    def activations(self):
        """``{layer name: rows [R, C] float32}`` recorded so far."""
        return {name: np.concatenate(parts) for name, parts in self._rows.items()}


def code_bits(code):
    """Stored bits per element of a code (DQA counts its Huffman-coded low bits)."""
    average = getattr(code, "average_bits", None)
    return float(average()) if average is not None else float(code.bits)


@dataclass(frozen=True)
class LayerCodes:
    """The weight code and the activation code of one layer (any objects with ``quantize``)."""

    w_code: object
    a_code: object

    @property
    def w_bits(self):
        """Bits per weight."""
        return code_bits(self.w_code)

    @property
    def a_bits(self):
        """Bits per activation."""
        return code_bits(self.a_code)


def _quantize_channels(code, x, channels):
    """``code.quantize`` applied to ``x[..., C]`` viewed as rows ``[R, C]`` (float32 result)."""
    return code.quantize(x.reshape(-1, channels)).reshape(x.shape).astype(np.float32)


class QuantizedExecutor:
    """Weights and activations of every layer quantized with its :class:`LayerCodes`.

    Parameters
    ----------
    layers : sequence of GemmLayer
    codes : dict
        ``{layer name: LayerCodes}``; every layer must have an entry.
    """

    def __init__(self, layers, codes):
        self.codes = codes
        self._weights = {layer.name: codes[layer.name].w_code.quantize(layer.weight).astype(np.float32)
                         for layer in layers}

    def __call__(self, layer, x, to_columns):
        activations = _quantize_channels(self.codes[layer.name].a_code, x, layer.channels)
        return to_columns(activations) @ self._weights[layer.name].T


def hardware_arith(w_code, a_code, vector_length, table_width=None):
    """The default :class:`~quant.arith.DnaTeqArith`, widened where a layer needs it.

    Exponent fields grow to the codes' (at least the defaults), offset counters exist exactly
    when a code has ``beta != 0``, and ``max_vector_length`` covers the layer.  ``table_width``
    overrides the default table width when given.
    """
    default = DnaTeqArith()
    return DnaTeqArith(exp_bits_w=max(default.exp_bits_w, w_code.exp_bits),
                       exp_bits_a=max(default.exp_bits_a, a_code.exp_bits),
                       offsets=bool(w_code.beta or a_code.beta),
                       table_width=table_width or default.table_width,
                       max_vector_length=max(default.max_vector_length, int(vector_length)))


class ExactDnaTeqExecutor:
    """DNA-TEQ layers computed by the bit-exact hardware model (integer codes in, ``Y`` out).

    Parameters
    ----------
    layers : sequence of GemmLayer
    codes : dict
        ``{layer name: LayerCodes}`` whose codes are :class:`~quant.expcode.ExpCode` sharing a base.
    table_width : int or None
        Table width of the datapath (default: ``DnaTeqArith``'s).
    """

    def __init__(self, layers, codes, table_width=None):
        self.codes = codes
        self.programs = {}
        self._weight_codes = {}
        for layer in layers:
            w_code, a_code = codes[layer.name].w_code, codes[layer.name].a_code
            arith = hardware_arith(w_code, a_code, layer.in_features, table_width)
            self.programs[layer.name] = compile_layer(arith, w_code, a_code, layer.in_features)
            self._weight_codes[layer.name] = w_code.encode(layer.weight)

    def __call__(self, layer, x, to_columns):
        program = self.programs[layer.name]
        a_codes = program.a_code.encode(x.reshape(-1, layer.channels)).reshape(x.shape)
        y = dnateq_matmul(program, self._weight_codes[layer.name], to_columns(a_codes).T)
        return (y.T * program.out_scale).astype(np.float32)
