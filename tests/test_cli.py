"""``python -m quant``: one-line errors with exit code 2, and the subcommands end to end on a tiny model."""

import json
import subprocess
import sys

import numpy as np
import pytest
from onnx import helper

from quant.__main__ import main
from test_models import save_graph, tiny_cnn


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "quant", *map(str, args)], capture_output=True, text=True)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("args, fragments", [
    ((), ("required",)),
    (("frobnicate", "lenet5"), ("invalid choice",)),
    (("search", "lenet5", "--calib", "0"), ("--calib", "positive integer")),
    (("search", "minilm", "--data", "x.npz"), ("--data applies to ONNX image models",)),
    (("search", "lenet5", "--thr-w", "-1"), ("--thr-w",)),
    (("tune", "lenet5", "--grid", "0.1,x"), ("--grid",)),
    (("search", "nosuchmodel"), ("unknown model 'nosuchmodel'",)),
    (("search", "missing.onnx"), ("ONNX model not found",)),
])
def test_bad_arguments_give_one_line_errors(args, fragments):
    assert_one_line_error(run_cli(*args), *fragments)


@pytest.fixture
def data_file(tmp_path, rng):
    path = tmp_path / "data.npz"
    np.savez(path, x_train=rng.normal(size=(2100, 1, 12, 12)).astype(np.float32),
             y_train=rng.integers(0, 3, 2100), x_test=rng.normal(size=(40, 1, 12, 12)).astype(np.float32),
             y_test=rng.integers(0, 3, 40))
    return path


def test_bad_files_give_one_line_errors(tmp_path, data_file):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00garbage")
    assert_one_line_error(run_cli("analyse", junk), "cannot read ONNX model")
    erf = save_graph(tmp_path / "erf.onnx", [helper.make_node("Erf", ["x"], ["y"], name="e")], {}, ["N", 4], ["N", 4])
    assert_one_line_error(run_cli("search", erf), "unsupported ONNX operator 'Erf'")
    model = tiny_cnn(tmp_path / "tiny.onnx", np.random.default_rng(0))
    assert_one_line_error(run_cli("search", model, "--data", tmp_path / "none.npz"), "data file not found")
    params = tmp_path / "params.json"
    params.write_text("{}")
    assert_one_line_error(run_cli("evaluate", model, "--data", data_file, "--calib", 16, "--methods", "dnateq",
                                  "--params", params), "malformed parameter file")
    assert_one_line_error(run_cli("evaluate", model, "--data", data_file, "--methods", "int9"),
                          "unknown method(s) int9")
    assert_one_line_error(run_cli("evaluate", model, "--data", data_file, "--calib", 5000),
                          "--calib must be in 1..1050, got 5000")


def test_search_evaluate_tune_and_analyse_on_a_tiny_model(tmp_path, data_file, capsys):
    model = tiny_cnn(tmp_path / "tiny.onnx", np.random.default_rng(0))
    common = [str(model), "--data", str(data_file), "--calib", "16"]
    params = tmp_path / "search.json"
    assert main(["search", *common, "--thr-w", "0.1", "--out", str(params)]) == 0
    record = json.loads(params.read_text())
    assert set(record["layers"]) == {"conv1", "conv2", "shortcut", "fc", "head"}
    results = tmp_path / "eval.json"
    assert main(["evaluate", *common, "--params", str(params), "--methods", "fp32,int8,dqa-4,dnateq,dnateq-exact",
                 "--out", str(results)]) == 0
    rows = {r["method"]: r for r in json.loads(results.read_text())["results"]}
    assert rows["int8"]["avg_bits"] == 8 and rows["fp32"]["avg_bits"] == 32
    assert 4 < rows["dqa-4"]["avg_a_bits"] < 7 and rows["dqa-4"]["avg_w_bits"] == 8
    assert rows["dnateq"]["acc"] == rows["dnateq-exact"]["acc"]
    assert rows["dnateq"]["avg_bits"] == record["bits"]["avg_bits"]
    tuned = tmp_path / "tune.json"
    assert main(["tune", *common, "--grid", "0.05,0.3", "--max-loss", "100", "--out", str(tuned)]) == 0
    record = json.loads(tuned.read_text())
    assert record["threshold"] == 0.3                               # any loss allowed: the loosest wins
    assert {r["thr_w"] for r in record["layers"].values()} == {0.3}
    assert record["metric"] == "rmae" and all("metric" not in r for r in record["layers"].values())
    weighted = tmp_path / "weighted.json"
    assert main(["tune", *common, "--grid", "0.05,0.3", "--max-loss", "100", "--metric", "output",
                 "--refine-budget", "1", "--out", str(weighted)]) == 0
    record = json.loads(weighted.read_text())
    assert record["metric"] == "output" and {r["metric"] for r in record["layers"].values()} == {"output"}
    assert len([t for t in record["trials"] if t["stage"] == 2]) <= 1
    analysis = tmp_path / "analysis"
    assert main(["analyse", *common, "--out", str(analysis)]) == 0
    assert len(list(analysis.glob("*.png"))) == 10 and (analysis / "analysis.json").is_file()
    assert "layer" in capsys.readouterr().out
