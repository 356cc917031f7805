"""The accelerator of both kinds through AXI4-Lite and AXI4-Stream against quant.golden (bench: tb_accelerator.py).

Two tiles of eight PEs, so layers span row blocks and tiles; random layers have random ``M``
and ``K``, the other scenarios one row block plus three rows, so that the last block is partial.
Every layer's cycles go to ``verif/results/cycles.json`` (see verif/conftest.py).
"""

import pytest

from verif.harness import Variant, variant_params

ACC_DNATEQ = Variant("acc-dnateq-t2x8-l4-exp5x4-offsets", "accelerator", "dnateq",
                     "--pe-count 16 --pes-per-tile 8 --lanes 4 --offsets --exp-bits-w 5 --exp-bits-a 4 "
                     "--max-vector-length 1024")
ACC_INT8 = Variant("acc-int8-t2x8-l4", "accelerator", "int8",
                   "--pe-count 16 --pes-per-tile 8 --lanes 4 --max-vector-length 1024")
VARIANTS = variant_params([ACC_DNATEQ, ACC_INT8])
#: One full row block plus a partial one.
SHAPE = dict(row_blocks=1, extra_rows=3)


@pytest.mark.parametrize("variant", VARIANTS)
def test_random_traffic(bench, variant, traffic):
    report = bench(variant, "tb_accelerator", "random_traffic", **traffic, layers=4, max_n=256)
    assert len(report["layers"]) == 4


@pytest.mark.parametrize("scenario", ["corners", "reconfiguration", "reset_mid_layer", "refused_starts",
                                      "framing_error"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_scenario(bench, variant, scenario):
    bench(variant, "tb_accelerator", scenario, idle=0.1, backpressure=0.1, **SHAPE)


@pytest.mark.parametrize("variant", VARIANTS)
def test_real_layers(real_layers, variant):
    real_layers(variant, "tb_accelerator", idle=0.1, backpressure=0.1)
