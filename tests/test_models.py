"""Real-model machinery: ONNX interpreter, MiniLM, executors, bit accounting, tuning."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from quant.errors import QuantError
from quant.expcode import ExpCode
from quant.models import (BUNDLED_CNNS, CalibrationRecorder, ExactDnaTeqExecutor, GemmLayer, LayerCodes,
                          OnnxNetwork, QuantizedExecutor, fp32_product, model_path)
from quant.models.pipeline import bits_summary, layer_curves, search_model, tune_thresholds
from quant.search import output_error, search_layer

ort = pytest.importorskip("onnxruntime")


def save_graph(path, nodes, initializers, in_shape, out_shape, out_name="y"):
    """Write a one-input, one-output opset-17 model."""
    graph = helper.make_graph(
        nodes, "test", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(v if np.asarray(v).dtype.kind == "i" else np.asarray(v, np.float32), k)
         for k, v in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def tiny_cnn(path, rng):
    """Conv+BN+ReLU, max pool, strided conv with a 1x1 shortcut, average pools, Flatten, Gemm."""
    init = {"w1": rng.normal(size=(4, 1, 3, 3)) * 0.5, "b1": rng.normal(size=4),
            "g": rng.uniform(0.5, 1.5, 4), "be": rng.normal(size=4), "mu": rng.normal(size=4),
            "var": rng.uniform(0.5, 2, 4), "w2": rng.normal(size=(6, 4, 3, 3)) * 0.3,
            "w3": rng.normal(size=(6, 4, 1, 1)) * 0.3, "wf": rng.normal(size=(5, 6)), "bf": rng.normal(size=5),
            "wm": rng.normal(size=(5, 3)), "shape": np.array([-1, 5])}
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g", "be", "mu", "var"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w3"], ["c3"], name="shortcut", strides=[2, 2]),
        helper.make_node("Add", ["c2", "c3"], ["s"]),
        helper.make_node("Relu", ["s"], ["r2"]),
        helper.make_node("AveragePool", ["r2"], ["ap"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("ReduceMean", ["ap"], ["gap"], axes=[2, 3], keepdims=1),
        helper.make_node("GlobalAveragePool", ["gap"], ["gap2"]),
        helper.make_node("Flatten", ["gap2"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["g1"], name="fc", transB=1),
        helper.make_node("Dropout", ["g1"], ["d"]),
        helper.make_node("Reshape", ["d", "shape"], ["rs"]),
        helper.make_node("MatMul", ["rs", "wm"], ["y"], name="head"),
    ]
    return save_graph(path, nodes, init, ["N", 1, 12, 12], ["N", 3])


@pytest.fixture
def tiny(tmp_path, rng):
    return OnnxNetwork(tiny_cnn(tmp_path / "tiny.onnx", rng))


def test_interpreter_matches_onnxruntime_on_a_hand_made_graph(tiny, rng):
    x = rng.normal(size=(5, 1, 12, 12)).astype(np.float32)
    expected = ort.InferenceSession(str(tiny.path)).run(None, {"x": x})[0]
    np.testing.assert_allclose(tiny.forward(x), expected, rtol=1e-4, atol=1e-5)
    assert [(layer.name, layer.kind, layer.weight.shape) for layer in tiny.layers] == [
        ("conv1", "conv", (4, 9)), ("conv2", "conv", (6, 36)), ("shortcut", "conv", (6, 4)),
        ("fc", "linear", (5, 6)), ("head", "linear", (3, 5))]


@pytest.mark.parametrize("name", BUNDLED_CNNS)
def test_interpreter_matches_onnxruntime_on_the_bundled_cnns(name):
    if not model_path(name).is_file():
        pytest.skip(f"models/{name}.onnx is not there yet")
    from quant.datasets import load_fashion_mnist

    images = load_fashion_mnist("test")[0][:8]
    network = OnnxNetwork(model_path(name))
    session = ort.InferenceSession(str(network.path))
    expected = session.run(None, {session.get_inputs()[0].name: images})[0]
    np.testing.assert_allclose(network.forward(images), expected, rtol=1e-4, atol=1e-4)


def test_bad_files_and_unsupported_operators_give_one_line_errors(tmp_path):
    with pytest.raises(QuantError, match="not found"):
        OnnxNetwork(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(QuantError, match="cannot read ONNX model") as err:
        OnnxNetwork(tmp_path / "junk.onnx")
    assert "\n" not in str(err.value)
    path = save_graph(tmp_path / "erf.onnx", [helper.make_node("Erf", ["x"], ["y"], name="gelu_part")],
                      {}, ["N", 4], ["N", 4])
    with pytest.raises(QuantError, match="unsupported ONNX operator 'Erf' \\(node 'gelu_part'\\)"):
        OnnxNetwork(path)


def record_calls(executor, log):
    def wrapped(layer, x, to_columns):
        log.append(layer.name)
        return executor(layer, x, to_columns)
    return wrapped


def fitted_codes(network, rng, bits=5):
    """Exponential codes fitted by the real search (one shared base per layer)."""
    recorder = CalibrationRecorder(calls=1)
    network.forward(rng.normal(size=(16, 1, 12, 12)).astype(np.float32), recorder)
    searches = search_model(network.layers, recorder.activations(), thr_w=0.05, thr_a=0.05)
    return recorder.activations(), {n: LayerCodes(s.w_code, s.a_code) for n, s in searches.items()}


def test_every_layer_is_quantized_and_exact_path_equals_decode_and_float(tiny, rng):
    _, codes = fitted_codes(tiny, rng)
    x = rng.normal(size=(6, 1, 12, 12)).astype(np.float32)
    log = []
    floats = tiny.forward(x, record_calls(QuantizedExecutor(tiny.layers, codes), log))
    assert log == [layer.name for layer in tiny.layers]
    exact = tiny.forward(x, ExactDnaTeqExecutor(tiny.layers, codes))
    np.testing.assert_allclose(exact, floats, rtol=1e-4, atol=1e-4 * np.abs(floats).max())
    assert not np.allclose(floats, tiny.forward(x), rtol=1e-3)       # quantization does change the output


def test_calibration_rows_keep_channels_and_the_budget(tiny, rng):
    recorder = CalibrationRecorder(calls=2, max_elements=400)
    for _ in range(2):
        tiny.forward(rng.normal(size=(4, 1, 12, 12)).astype(np.float32), recorder)
    rows = recorder.activations()
    assert set(rows) == {layer.name for layer in tiny.layers}
    for layer in tiny.layers:
        assert rows[layer.name].shape[1] == layer.channels
        assert rows[layer.name].size <= 400 + 2 * layer.channels
    assert (rows["conv2"] >= 0).all()                      # post-ReLU (and pool) input


def test_bits_summary_definitions():
    layers = [GemmLayer("a", "linear", np.zeros((2, 3), np.float32), None, 3),
              GemmLayer("b", "linear", np.zeros((10, 3), np.float32), None, 3)]
    codes = {"a": LayerCodes(ExpCode(bits=3, base=2.0, alpha=1.0), ExpCode(bits=5, base=2.0, alpha=1.0)),
             "b": LayerCodes(ExpCode(bits=5, base=2.0, alpha=1.0), ExpCode(bits=7, base=2.0, alpha=1.0))}
    bits = bits_summary(layers, codes)
    assert bits["avg_bits"] == pytest.approx((3 + 5 + 5 + 7) / 4)
    assert bits["weighted_w_bits"] == pytest.approx((3 * 6 + 5 * 30) / 36)
    assert bits["compression_vs_int8"] == pytest.approx(1 - 5 / 8)


def test_tuning_keeps_the_target_and_loosens_layers_one_by_one(tiny, rng):
    activations, _ = fitted_codes(tiny, rng)
    layers, grid = tiny.layers[:2], (0.03, 0.12, 0.4)
    sensitive = layers[0].name

    def accuracy(searches):                                # a stand-in: only the first layer's bits matter
        return 1.0 - 0.1 * (searches[sensitive].w_code.bits < 5)

    result = tune_thresholds(layers, activations, accuracy, reference=1.0, max_loss=0.05, grid=grid,
                             refine_budget=6)
    assert result.accuracy == 1.0 and result.searches[sensitive].w_code.bits >= 5
    stage1 = [t for t in result.trials if t["stage"] == 1]
    assert len(stage1) <= 3
    other = result.searches[layers[1].name]
    loosest = search_model(layers[1:], activations, thr_w=0.4, thr_a=0.4)[layers[1].name]
    assert other.w_code.bits + other.a_code.bits == loosest.w_code.bits + loosest.a_code.bits
    assert len(result.trials) <= len(stage1) + 6


def test_output_metric_weighs_each_element_by_its_share_of_the_layer_output(tiny, rng):
    activations, _ = fitted_codes(tiny, rng)
    layer = next(layer for layer in tiny.layers if layer.kind == "conv" and layer.taps > 1)
    x = activations[layer.name]
    result = search_model([layer], activations, thr_w=0.1, thr_a=0.1, metric="output")[layer.name]
    assert result.metric == "output" and result.met
    # the activation importance is the squared norm of the weights reading each channel, over all taps
    assert result.a_rmae == pytest.approx(output_error(x, result.a_code.quantize(x), layer.channel_weight()),
                                          rel=1e-6)
    power = np.tile((x.astype(np.float64) ** 2).mean(axis=0), layer.taps)
    assert result.w_rmae == pytest.approx(output_error(layer.weight, result.w_code.quantize(layer.weight), power),
                                          rel=1e-6)
    # the default is the paper's metric, exactly the plain RMAE search
    paper = search_model([layer], activations, thr_w=0.1, thr_a=0.1)[layer.name]
    plain = search_layer(layer.weight, x, thr_w=0.1, thr_a=0.1)
    assert (paper.w_code, paper.a_code, paper.metric) == (plain.w_code, plain.a_code, "rmae")
    with pytest.raises(QuantError, match="metric must be one of"):
        layer_curves(layer, x, metric="mse")


def test_search_model_reuses_curves_across_thresholds(tiny, rng):
    activations, _ = fitted_codes(tiny, rng)
    curves = {}
    for thr in (0.05, 0.2, 0.05):
        kept = search_model(tiny.layers, activations, thr_w=thr, thr_a=thr, metric="output", curves=curves)
        fresh = search_model(tiny.layers, activations, thr_w=thr, thr_a=thr, metric="output")
        assert all(kept[n].w_code == fresh[n].w_code and kept[n].a_code == fresh[n].a_code for n in kept)
    assert set(curves) == {layer.name for layer in tiny.layers}


def test_minilm_has_36_quantizable_linears_and_unit_embeddings():
    from quant.models import MiniLM

    model = MiniLM()
    assert len(model.layers) == 36
    assert {layer.weight.shape for layer in model.layers} == {(384, 384), (1536, 384), (384, 1536)}
    texts = ["the flight was late again", "great service, thanks!", "ok"]
    embeddings = model.forward(texts)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    # the packed (padding-free) batch equals running each text alone
    alone = np.concatenate([model.forward([t]) for t in texts])
    np.testing.assert_allclose(embeddings, alone, atol=1e-5)
    log = []
    model.forward(texts[:1], record_calls(fp32_product, log))
    assert log == [layer.name for layer in model.layers]
