"""PEs and tiles of both kinds against quant.golden, through cocotb on Verilator (bench: tb_array.py).

The default variants are few (each is a ~15-40 s cold Verilator build) but differ in every
parameter that changes the hardware's structure: lanes (odd, power of two), one PE or a 16-PE
tile, offsets on and off, chunked counting without a shadow bank (the input stalls during every
drain) and with one, whole-vector counting with one, and clock gating (``--clock-gating``: the
counters, the shadow bank and the pipeline registers on gated clocks, which Verilator simulates
as the derived clocks they are).  The ``slow`` sweep adds more shapes and widths.
"""

import json
import re

import pytest

from quant.arith import DnaTeqArith
from verif.harness import Variant, variant_params

PE_DNATEQ = Variant("pe-dnateq-l3-exp5x4-offsets-chunk24-noshadow", "pe", "dnateq",
                    "--pe-count 1 --lanes 3 --offsets --exp-bits-w 5 --exp-bits-a 4 --max-vector-length 384 "
                    "--count-depth 24 --no-double-buffer")
#: Gated clocks (hw/clock_gate.py) on every counter, the shadow bank and the pipeline registers.
PE_DNATEQ_GATED = Variant("pe-dnateq-l4-exp4x4-offsets-chunk24-shadow-cg", "pe", "dnateq",
                          "--pe-count 1 --lanes 4 --offsets --exp-bits-w 4 --exp-bits-a 4 --max-vector-length 384 "
                          "--count-depth 24 --clock-gating")
PE_INT8 = Variant("pe-int8-l3", "pe", "int8", "--pe-count 1 --lanes 3 --max-vector-length 384")
TILE_DNATEQ = Variant("tile-dnateq-p16-l8", "tile", "dnateq",
                      "--pe-count 16 --lanes 8 --exp-bits-w 3 --exp-bits-a 4 --max-vector-length 1024")
TILE_INT8 = Variant("tile-int8-p16-l8", "tile", "int8", "--pe-count 16 --lanes 8 --max-vector-length 1024")
DEFAULT = [PE_DNATEQ, PE_DNATEQ_GATED, PE_INT8, TILE_DNATEQ, TILE_INT8]

SLOW = [
    Variant("tile-dnateq-p4-l1-offsets-narrow", "tile", "dnateq",
            "--pe-count 4 --lanes 1 --offsets --exp-bits-w 2 --exp-bits-a 2 --table-width 8 "
            "--max-vector-length 64 --out-width 8"),
    Variant("tile-dnateq-p8-l4-offsets-wide-chunk64", "tile", "dnateq",
            "--pe-count 8 --lanes 4 --offsets --exp-bits-w 5 --exp-bits-a 6 --table-width 32 "
            "--max-vector-length 512 --count-depth 64"),
    Variant("pe-dnateq-l16-exp7x8-chunk256", "pe", "dnateq",
            "--pe-count 1 --lanes 16 --exp-bits-w 7 --exp-bits-a 8 --max-vector-length 4096 --count-depth 256 "
            "--out-width 16"),
    Variant("tile-int8-p4-l5", "tile", "int8", "--pe-count 4 --lanes 5 --max-vector-length 4096"),
]

#: Per top: random layers (the tiles' make the default set check > 1e6 elements) and real-layer slices.
LOAD = {"pe": {"random": dict(layers=8, row_blocks=1, columns=6), "real": dict(row_blocks=1, columns=8)},
        "tile": {"random": dict(layers=4, row_blocks=2, columns=8), "real": dict(row_blocks=4, columns=32)}}


ALL = variant_params(DEFAULT, SLOW)


@pytest.mark.parametrize("variant", ALL)
def test_random_traffic(bench, variant, traffic):
    report = bench(variant, "tb_array", "random_traffic", **traffic, **LOAD[variant.top]["random"])
    assert report["elements"] > 0


@pytest.mark.parametrize("variant", ALL)
def test_corners(bench, variant):
    bench(variant, "tb_array", "corners", idle=0.1, backpressure=0.1, row_blocks=2)


@pytest.mark.parametrize("variant", ALL)
def test_reconfiguration(bench, variant):
    bench(variant, "tb_array", "reconfiguration", idle=0.2, backpressure=0.2)


@pytest.mark.parametrize("variant", ALL)
def test_reset_mid_vector(bench, variant):
    bench(variant, "tb_array", "reset_mid_vector", idle=0.2, backpressure=0.2)


#: Every exported layer (verif/vectors) has codes with beta != 0, so it needs offset counters, which
#: the default DNA-TEQ tile does not have: it would only ever skip (the 8 x 4 slow tile runs them).
REAL_LAYERS = variant_params([v for v in DEFAULT if v is not TILE_DNATEQ], SLOW)


@pytest.mark.parametrize("variant", REAL_LAYERS)
def test_real_layers(real_layers, variant):
    real_layers(variant, "tb_array", idle=0.1, backpressure=0.1, **LOAD[variant.top]["real"])


@pytest.mark.parametrize("variant", variant_params([v for v in DEFAULT if v.pe_kind == "dnateq"],
                                                   [v for v in SLOW if v.pe_kind == "dnateq"]))
def test_variant_structure(built, variant):
    """The Verilog under test has the counter structure the variant's id names: a shadow bank unless
    ``--no-double-buffer``, and with ``--clock-gating`` a clock gate per counter, one for the shadow
    bank, and only gated registers in the counter bank (so the gated variant is not silently ungated)."""
    manifest_path = built(variant)
    manifest = json.loads(manifest_path.read_text())
    shadow, gated = "--no-double-buffer" not in variant.options, "--clock-gating" in variant.options
    assert manifest["parameters"]["double_buffer"] == shadow and manifest["drain"]["double_buffer"] == shadow
    assert manifest["parameters"]["clock_gating"] == gated
    assert ("dnateq_clock_gate.v" in manifest["verilog"]) == gated, manifest["verilog"]
    bank = (manifest_path.parent / "dnateq_counter_bank.v").read_text()
    n_bins = DnaTeqArith.from_dict(manifest["arith"]).n_bins
    gates = len(re.findall(r"^\s*dnateq_clock_gate\s+\w+\s*\(", bank, re.MULTILINE))
    clocks = set(re.findall(r"always @\(posedge (\w+)\)", bank))
    if gated:
        assert gates == n_bins + shadow, (gates, n_bins)
        assert "clk" not in clocks and len(clocks) == n_bins + shadow, sorted(clocks)
    else:
        assert gates == 0 and clocks == {"clk"}, sorted(clocks)


@pytest.mark.parametrize("variant", variant_params([PE_INT8, TILE_DNATEQ]))
def test_checker_fails_on_a_flipped_bit(bench, variant, tmp_path):
    """The checker is not vacuous: one golden bit flipped per layer must fail the run, naming each output."""
    with pytest.raises(SystemExit):
        bench(variant, "tb_array", "reconfiguration", flip_expected_bit=True)
    failure = (tmp_path / "results.xml").read_text()
    assert "4 mismatches against quant.golden" in failure, failure
    assert all(f"layer 'layer{index}' rows 0.." in failure for index in range(4)), failure
