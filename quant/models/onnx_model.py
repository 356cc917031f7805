"""A small NumPy interpreter for ONNX image classifiers, with every weight layer quantizable.

Operators (ONNX semantics, float32): ``Conv`` (group 1), ``Gemm``, ``MatMul``, ``Add``, ``Sub``,
``Mul``, ``Div``, ``Relu``, ``Sigmoid``, ``Tanh``, ``Clip``, ``Softmax``, ``MaxPool``,
``AveragePool``, ``GlobalAveragePool``, ``ReduceMean``, ``BatchNormalization`` (inference), ``Flatten``,
``Reshape``, ``Transpose``, ``Squeeze``, ``Unsqueeze``, ``Concat``, ``Constant``, ``Identity``,
``Dropout`` (inference: identity).  Anything else is refused when the model is loaded, with a
one-line :class:`~quant.errors.QuantError` naming the operator and the file.

Weight layers -- ``Conv`` with a constant weight, ``Gemm`` with a constant ``B``, ``MatMul`` with a
constant 2-D right operand -- become :class:`~quant.models.layers.GemmLayer` objects and run
through the caller's executor.  A convolution is computed as **im2col + GEMM**, which is also how
the accelerator sees it (``docs/architecture.md``): the input is padded, moved to channel-last,
handed to the executor (which may quantize or encode it element by element), and unfolded into
patch rows ``[B*OH*OW, kh*kw*C]`` that multiply the weight matrix ``[M, kh*kw*C]``.
"""

from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import QuantError
from .layers import GemmLayer, fp32_product, im2col

__all__ = ["OnnxNetwork", "SUPPORTED_OPS"]


def _layer_name(node, index):
    """Readable layer name: torch's ``/layer1/conv1/Conv`` becomes ``layer1.conv1``."""
    parts = [p for p in node.name.split("/") if p]
    if len(parts) > 1 and parts[-1].split("_")[0] == node.op_type:
        parts = parts[:-1]
    # nn.Sequential repeats its name: /features/features.0 -> features.0
    parts = [p for p, after in zip(parts, parts[1:] + [""]) if not after.startswith(p + ".")]
    return ".".join(parts) or f"{node.op_type}_{index}"


def _attrs(node):
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _spatial(attrs, name, default, rank=2):
    return tuple(attrs.get(name, (default,) * rank))


def _check_pads(attrs, op):
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise QuantError(f"{op}: auto_pad={attrs['auto_pad']!r} is not supported (use explicit pads)")
    if attrs.get("ceil_mode", 0):
        raise QuantError(f"{op}: ceil_mode=1 is not supported")


def _pad_spatial(x, pads, value=0.0):
    """Pad the last two axes of NCHW ``x`` with ONNX ``pads = [top, left, bottom, right]``."""
    top, left, bottom, right = pads
    if not any(pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def _pool_windows(x, attrs, fill):
    _check_pads(attrs, "pooling")
    kernel = _spatial(attrs, "kernel_shape", 1)
    strides = _spatial(attrs, "strides", 1)
    if any(d != 1 for d in _spatial(attrs, "dilations", 1)):
        raise QuantError("pooling with dilations is not supported")
    padded = _pad_spatial(x, _spatial(attrs, "pads", 0, 4), fill)
    return sliding_window_view(padded, kernel, axis=(2, 3))[:, :, ::strides[0], ::strides[1]]


def _max_pool(x, attrs):
    return _pool_windows(x, attrs, -np.inf).max(axis=(-2, -1))


def _average_pool(x, attrs):
    total = _pool_windows(x, attrs, 0.0).sum(axis=(-2, -1))
    if attrs.get("count_include_pad", 0):
        return total / np.prod(_spatial(attrs, "kernel_shape", 1))
    ones = np.ones((1, 1) + x.shape[2:], dtype=x.dtype)
    return total / _pool_windows(ones, attrs, 0.0).sum(axis=(-2, -1))


def _batch_norm(x, scale, bias, mean, var, attrs):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    inv = scale / np.sqrt(var + attrs.get("epsilon", 1e-5))
    return (x - mean.reshape(shape)) * inv.reshape(shape) + bias.reshape(shape)


def _reshape(x, shape, attrs):
    shape = [int(s) for s in shape]
    if not attrs.get("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _axes(node_inputs, attrs):
    """Axes of Squeeze/Unsqueeze/ReduceMean: an input in newer opsets, an attribute before."""
    if len(node_inputs) > 1 and node_inputs[1] is not None:
        return tuple(int(a) for a in node_inputs[1])
    return tuple(attrs.get("axes", ()))


def _softmax(x, attrs):
    axis = attrs.get("axis", -1)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _clip(x, lo=None, hi=None, attrs=None):
    lo = attrs.get("min", -np.inf) if lo is None else lo
    hi = attrs.get("max", np.inf) if hi is None else hi
    return np.clip(x, lo, hi)


#: Operators without weights: ``name -> f(*inputs, attrs)`` returning one array.
_ELEMENTARY = {
    "Add": lambda a, b, attrs: a + b,
    "Sub": lambda a, b, attrs: a - b,
    "Mul": lambda a, b, attrs: a * b,
    "Div": lambda a, b, attrs: a / b,
    "Relu": lambda x, attrs: np.maximum(x, 0),
    "Sigmoid": lambda x, attrs: 1 / (1 + np.exp(-x)),
    "Tanh": lambda x, attrs: np.tanh(x),
    "Clip": lambda x, lo=None, hi=None, attrs=None: _clip(x, lo, hi, attrs),
    "Softmax": _softmax,
    "MaxPool": _max_pool,
    "AveragePool": _average_pool,
    "GlobalAveragePool": lambda x, attrs: x.mean(axis=tuple(range(2, x.ndim)), keepdims=True),
    "ReduceMean": lambda x, *axes, attrs: x.mean(axis=_axes((x,) + axes, attrs) or None,
                                                 keepdims=bool(attrs.get("keepdims", 1))),
    "BatchNormalization": _batch_norm,
    "Flatten": lambda x, attrs: x.reshape(int(np.prod(x.shape[:attrs.get("axis", 1)])), -1),
    "Reshape": _reshape,
    "Transpose": lambda x, attrs: np.transpose(x, attrs.get("perm")),
    "Squeeze": lambda x, *axes, attrs: np.squeeze(x, axis=_axes((x,) + axes, attrs) or None),
    "Unsqueeze": lambda x, *axes, attrs: np.expand_dims(x, axis=_axes((x,) + axes, attrs)),
    "Concat": lambda *xs, attrs: np.concatenate(xs, axis=attrs["axis"]),
    "Identity": lambda x, attrs: x,
    "Dropout": lambda x, *rest, attrs: x,
}

#: Every operator the interpreter runs.
SUPPORTED_OPS = frozenset(_ELEMENTARY) | {"Conv", "Gemm", "MatMul", "Constant"}


class OnnxNetwork:
    """An ONNX classifier run by NumPy, with its weight layers exposed as :class:`GemmLayer`.

    Parameters
    ----------
    path : path-like
        The ``.onnx`` file.  Missing, unreadable or malformed files and unsupported operators
        raise a one-line :class:`QuantError`.
    name : str or None
        Display name (default: the file's stem).
    """

    def __init__(self, path, name=None):
        import onnx
        from onnx import numpy_helper

        path = Path(path)
        if not path.is_file():
            raise QuantError(f"ONNX model not found: {path}")
        try:
            model = onnx.load(str(path))
            onnx.checker.check_model(model)
        except Exception as err:                   # onnx raises many types; report them in one line
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise QuantError(f"cannot read ONNX model {path}: {first}") from None
        graph = model.graph
        for index, node in enumerate(graph.node):
            if node.op_type not in SUPPORTED_OPS or node.domain not in ("", "ai.onnx"):
                raise QuantError(f"{path}: unsupported ONNX operator {node.op_type!r} "
                                 f"(node {node.name or '#' + str(index)!r})")
        self.name = name or path.stem
        self.path = path
        self._constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        inputs = [i.name for i in graph.input if i.name not in self._constants]
        if len(inputs) != 1 or not graph.output:
            raise QuantError(f"{path}: expected one data input and an output, got inputs {inputs}")
        self.input_name = inputs[0]
        self.input_shape = tuple(d.dim_value or None for d in graph.input[0].type.tensor_type.shape.dim)
        self.output_name = graph.output[0].name
        self._nodes = [(node, _attrs(node)) for node in graph.node]
        self._layers_by_node = {}
        for index, (node, attrs) in enumerate(self._nodes):
            layer = self._weight_layer(node, attrs, index)
            if layer is not None:
                self._layers_by_node[index] = layer
        self.layers = list(self._layers_by_node.values())
        if len({layer.name for layer in self.layers}) < len(self.layers):
            for index, layer in self._layers_by_node.items():
                layer.name = f"{layer.name}#{index}"

    # ---- weight layers ------------------------------------------------------------------------
    def _const(self, name):
        return self._constants.get(name) if name else None

    def _weight_layer(self, node, attrs, index):
        """The :class:`GemmLayer` of a Conv/Gemm/MatMul node with constant weights, else None."""
        name = _layer_name(node, index)
        if node.op_type == "Conv":
            w = self._const(node.input[1])
            if w is None or w.ndim != 4:
                raise QuantError(f"Conv {name!r}: only 2-D convolutions with constant weights are supported")
            if attrs.get("group", 1) != 1:
                raise QuantError(f"Conv {name!r}: grouped convolution (group={attrs['group']}) is not supported")
            _check_pads(attrs, f"Conv {name!r}")
            attrs.setdefault("kernel_shape", w.shape[2:])              # optional in ONNX: W's shape
            matrix = w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)     # columns (kh, kw, C)
            bias = self._const(node.input[2]) if len(node.input) > 2 else None
            return GemmLayer(name, "conv", np.ascontiguousarray(matrix, dtype=np.float32),
                             None if bias is None else bias.astype(np.float32), w.shape[1])
        if node.op_type == "Gemm":
            b = self._const(node.input[1])
            if b is None or attrs.get("transA", 0):
                raise QuantError(f"Gemm {name!r}: needs a constant B and transA=0")
            matrix = (b if attrs.get("transB", 0) else b.T) * attrs.get("alpha", 1.0)
            c = self._const(node.input[2]) if len(node.input) > 2 else None
            if len(node.input) > 2 and node.input[2] and c is None:
                raise QuantError(f"Gemm {name!r}: the bias C must be a constant")
            bias = None if c is None else np.broadcast_to(c.ravel() * attrs.get("beta", 1.0), matrix.shape[:1])
            return GemmLayer(name, "linear", np.ascontiguousarray(matrix, dtype=np.float32),
                             None if bias is None else bias.astype(np.float32), matrix.shape[1])
        if node.op_type == "MatMul":
            b = self._const(node.input[1])
            if b is not None and b.ndim == 2:
                return GemmLayer(name, "linear", np.ascontiguousarray(b.T, dtype=np.float32), None, b.shape[0])
        return None

    # ---- execution ----------------------------------------------------------------------------
    def forward(self, x, executor=fp32_product):
        """Output of the graph's first output for the input batch ``x`` (float32)."""
        values = dict(self._constants)
        values[self.input_name] = np.asarray(x, dtype=np.float32)
        for index, (node, attrs) in enumerate(self._nodes):
            args = [values[i] if i else None for i in node.input]
            layer = self._layers_by_node.get(index)
            if layer is not None:
                out = self._run_layer(node.op_type, layer, args[0], attrs, executor)
            elif node.op_type == "Constant":
                out = self._constant_value(node, attrs)
            elif node.op_type == "MatMul":
                out = np.matmul(*args)
            else:
                out = _ELEMENTARY[node.op_type](*args, attrs=attrs)
            out = np.asarray(out)
            values[node.output[0]] = out.astype(np.float32, copy=False) if out.dtype.kind == "f" else out
        return values[self.output_name]

    @staticmethod
    def _constant_value(node, attrs):
        from onnx import numpy_helper

        if "value" not in attrs:
            raise QuantError(f"Constant {node.name!r}: only the 'value' attribute is supported")
        return numpy_helper.to_array(attrs["value"])

    @staticmethod
    def _run_layer(op, layer, x, attrs, executor):
        if op != "Conv":
            return layer.linear(x, executor)
        kernel = _spatial(attrs, "kernel_shape", 1)
        strides = _spatial(attrs, "strides", 1)
        dilations = _spatial(attrs, "dilations", 1)
        padded = _pad_spatial(x, _spatial(attrs, "pads", 0, 4)).transpose(0, 2, 3, 1)   # NHWC
        batch, height, width, _ = padded.shape
        out_h = (height - (kernel[0] - 1) * dilations[0] - 1) // strides[0] + 1
        out_w = (width - (kernel[1] - 1) * dilations[1] - 1) // strides[1] + 1
        y = layer.apply(padded, executor, lambda t: im2col(t, kernel, strides, dilations))
        return y.reshape(batch, out_h, out_w, layer.out_features).transpose(0, 3, 1, 2)
