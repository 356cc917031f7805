"""Real-layer co-simulation vectors (``verif/vectors/*.npz``) reproduce their golden outputs."""

import json

import numpy as np
import pytest

from quant.arith import DnaTeqArith, compile_layer
from quant.expcode import ExpCode
from quant.golden import dnateq_matmul, float_reference, int8_matmul
from quant.toolchain import REPO_ROOT

VECTORS = sorted((REPO_ROOT / "verif" / "vectors").glob("*.npz"))


def test_a_convolution_and_a_minilm_linear_are_exported():
    kinds = {json.loads(str(np.load(path)["meta"]))["kind"] for path in VECTORS}
    assert {"conv", "linear"} <= kinds


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_vectors_reproduce_their_golden_outputs(path):
    assert path.stat().st_size < 300_000
    v = np.load(path)
    w_code = ExpCode.from_dict(json.loads(str(v["w_code"])))
    a_code = ExpCode.from_dict(json.loads(str(v["a_code"])))
    m, n = v["w_codes"].shape
    k = v["a_codes"].shape[1]
    assert v["a_codes"].shape[0] == n and v["w_codes"].dtype == v["a_codes"].dtype == np.uint8
    assert v["w_int8"].dtype == v["a_int8"].dtype == np.int8
    assert v["w_int8"].shape == (m, n) and v["a_int8"].shape == (n, k) and v["y"].shape == v["y_int8"].shape == (m, k)
    stored = json.loads(str(v["program"]))
    arith = DnaTeqArith(**stored["arith"])            # the parameters the golden output was computed with
    assert (arith.exp_bits_w, arith.exp_bits_a) == (int(v["exp_bits_w"]), int(v["exp_bits_a"]))
    program = compile_layer(arith, w_code, a_code, n)
    assert program.to_dict() == stored
    np.testing.assert_array_equal(dnateq_matmul(program, v["w_codes"], v["a_codes"]), v["y"])
    np.testing.assert_array_equal(int8_matmul(v["w_int8"], v["a_int8"]), v["y_int8"])
    # Worst case: every counted term carries half a table LSB (q), plus half an output LSB of rounding.
    table_lsb = program.out_scale / 2.0 ** program.shift
    bound = n * arith.terms_per_element * 0.5 * table_lsb + 0.5 * program.out_scale
    reference = float_reference(program, v["w_codes"], v["a_codes"])
    assert np.abs(v["y"] * program.out_scale - reference).max() <= bound
