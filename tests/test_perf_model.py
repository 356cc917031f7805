"""hw.perf_model against the CYCLES the accelerator counts in amaranth.sim: exact for streams that never stall,
a lower bound (flagged) when the output stream is the bottleneck."""

import json

import numpy as np
import pytest

from hw.axi_sim import run_accelerator
from hw.driver import Driver
from hw.perf_model import PerfModel
from hw.sim import random_codes
from quant.arith import compile_layer
from rtl_gen.cli import config_from_args, main
from rtl_gen.generate import MANIFEST

SMALL = ["--pe-count", "6", "--pes-per-tile", "3", "--lanes", "2", "--exp-bits-w", "2", "--exp-bits-a", "3",
         "--max-vector-length", "32", "--table-width", "12", "--out-width", "24", "--weight-buffer-depth", "16",
         "--activation-buffer-depth", "4", "--output-buffer-depth", "3"]
VARIANTS = {
    "dnateq-two-banks": SMALL,
    "dnateq-one-bank-chunked": [*SMALL, "--no-double-buffer", "--count-depth", "4"],
    "dnateq-two-banks-chunked": [*SMALL, "--count-depth", "6"],
    "int8": [*SMALL, "--pe-kind", "int8"],
}
#: (M, N, K): row blocks full and partial, vectors shorter and longer than a drain, one-beat layers.
SHAPES = [(8, 7, 3), (3, 1, 2), (13, 20, 2), (6, 5, 1), (1, 32, 2), (12, 3, 4)]


def generated(tmp_path, args):
    assert main([*args, "-o", str(tmp_path)]) == 0
    return json.loads((tmp_path / MANIFEST).read_text())


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The model of the SMALL DNA-TEQ accelerator."""
    return PerfModel.from_manifest(generated(tmp_path_factory.mktemp("small"), SMALL))


def measured(rng, args, manifest, shapes):
    """CYCLES of each layer in amaranth.sim, inputs always valid and output always ready."""
    config = config_from_args(args)
    driver = Driver(manifest)
    layers = []
    for m, n, k in shapes:
        if config.pe_kind == "int8":
            layers.append(driver.int8_layer(rng.integers(-128, 128, (m, n)), rng.integers(-128, 128, (n, k))))
        else:
            w_code, a_code = random_codes(rng, config.arith)
            layers.append(driver.dnateq_layer(compile_layer(config.arith, w_code, a_code, n),
                                              rng.integers(0, 1 << w_code.bits, (m, n)),
                                              rng.integers(0, 1 << a_code.bits, (n, k))))
    return [run.cycles for run in run_accelerator(config.make_accelerator(), driver, layers)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_cycles_match_the_simulated_accelerator_exactly(rng, tmp_path, variant):
    manifest = generated(tmp_path, VARIANTS[variant])
    model = PerfModel.from_manifest(manifest)
    predictions = [model.layer(*shape) for shape in SHAPES]
    assert all(prediction.exact for prediction in predictions)
    assert measured(rng, VARIANTS[variant], manifest, SHAPES) == [prediction.cycles for prediction in predictions]


def test_an_output_bound_layer_is_flagged_and_bounded_from_below(rng, tmp_path):
    """Four tiles of one PE and one-beat vectors: four output beats per column, one column per cycle."""
    args = [*SMALL, "--pe-count", "4", "--pes-per-tile", "1", "--pe-kind", "int8"]
    manifest = generated(tmp_path, args)
    model = PerfModel.from_manifest(manifest)
    prediction = model.layer(4, 2, 12)
    assert not prediction.exact
    (cycles,) = measured(rng, args, manifest, [(4, 2, 12)])
    assert cycles >= prediction.cycles
    assert cycles - prediction.cycles <= 12        # the held PEs cost at most a cycle per column here


def test_figures_add_up(model):
    layer = model.layer(13, 20, 2)
    assert (model.rows_per_block, model.peak_elements_per_cycle) == (6, 12)
    assert layer.elements == 13 * 20 * 2 and layer.beat_cycles == 3 * 2 * 10
    assert layer.load_cycles == (2 + 2 + 1) * 10             # active tiles per block x beats
    assert layer.cycles >= layer.load_cycles + layer.beat_cycles + layer.stall_cycles
    assert layer.utilization == pytest.approx(layer.elements / (12 * layer.cycles))
    assert (layer.row_occupancy, layer.lane_occupancy) == (pytest.approx(13 / 18), 1.0)


def test_long_layers_approach_the_occupancy_bound(model):
    """Many columns of vectors longer than a drain: the array is busy but for the first load and the tail."""
    layer = model.layer(6, 32, 400)
    assert layer.stall_cycles == 0 and layer.utilization > 0.98
    short = model.layer(6, 8, 400)                          # 4 beats per vector, 11 bins: drain bound
    assert short.utilization == pytest.approx(4 / 11, rel=0.02)


def test_layers_the_hardware_refuses_are_refused(model):
    with pytest.raises(ValueError, match=r"N = 33 is above the accelerator's MAX_N \(32\)"):
        model.layer(1, 33, 1)
    with pytest.raises(ValueError, match="K must be at least 1, got 0"):
        model.layer(1, 1, 0)
    with pytest.raises(ValueError, match="describes no accelerator"):
        PerfModel.from_manifest({"pe_kind": "int8"})
    assert np.isclose(model.layer(6, 32, 1).row_occupancy, 1.0)
