"""DnaTeqArith widths and layout; compile_layer tables, shifts and errors."""

import numpy as np
import pytest

from quant.arith import DnaTeqArith, LayerProgram, compile_layer, signed_width
from quant.errors import QuantError
from quant.expcode import ExpCode


def test_signed_width_holds_the_range_and_no_less():
    for magnitude in (1, 2, 3, 127, 128, 4096, 10**6):
        w = signed_width(magnitude)
        assert -(1 << (w - 1)) <= -magnitude and magnitude <= (1 << (w - 1)) - 1
        assert magnitude > (1 << (w - 2)) - 1, "one bit fewer would not hold it"


def test_bin_layout_is_contiguous():
    arith = DnaTeqArith(exp_bits_w=3, exp_bits_a=4, offsets=True)
    assert (arith.bins_wa, arith.base_w, arith.base_a, arith.base_0, arith.n_bins) == (23, 23, 31, 47, 48)
    assert DnaTeqArith(exp_bits_w=3, exp_bits_a=4).n_bins == 23


def test_counter_and_accumulator_widths_follow_the_lengths():
    arith = DnaTeqArith(max_vector_length=1000, count_depth=100, table_width=12, offsets=True)
    assert arith.count_width == signed_width(100)
    assert arith.acc_width == signed_width(4 * 1000 * (2**11 - 1))


def test_derived_fields_in_a_record_are_checked():
    record = DnaTeqArith().to_dict()
    assert DnaTeqArith.from_dict(record) == DnaTeqArith()
    with pytest.raises(QuantError, match="count_width"):
        DnaTeqArith.from_dict({**record, "count_width": 3})


@pytest.mark.parametrize("kwargs, message", [
    ({"exp_bits_w": 0}, "exp_bits_w"), ({"table_width": 40}, "table_width"),
    ({"count_depth": 0}, "count_depth"), ({"max_vector_length": 10, "count_depth": 11}, "count_depth"),
    ({"out_width": True}, "out_width"),
])
def test_bad_arith_parameters(kwargs, message):
    with pytest.raises(QuantError, match=message):
        DnaTeqArith(**kwargs)


def codes(beta=0.0, base=1.6):
    return (ExpCode(bits=4, base=base, alpha=0.02, beta=beta),
            ExpCode(bits=4, base=base, alpha=0.1, beta=beta, signed=False))


@pytest.mark.parametrize("offsets", [False, True])
def test_table_uses_the_full_width_and_matches_the_values(offsets):
    arith = DnaTeqArith(offsets=offsets, table_width=16)
    w, a = codes(beta=0.01 if offsets else 0.0)
    prog = compile_layer(arith, w, a, vector_length=100)
    assert np.abs(prog.table).max() == arith.table_max
    q = prog.out_scale / 2**prog.shift
    t = 3 + 5                                  # u_w = 3, u_a = 5
    assert abs(prog.table[t] * q - w.alpha * a.alpha * w.base**t) <= q / 2
    if offsets:
        assert abs(prog.table[arith.base_0] * q - w.beta * a.beta) <= q / 2
    assert prog.table[0] == 0, "bin 0 is unreachable when both codes reserve u=0 for zero"


def test_shift_keeps_the_worst_case_inside_the_output():
    arith = DnaTeqArith(out_width=16, table_width=20, max_vector_length=4096)
    prog = compile_layer(arith, *codes(), vector_length=4096)
    worst = 4096 * int(np.abs(prog.table).max())
    assert prog.shift > 0
    assert (worst >> prog.shift) < (1 << 15)


def test_program_round_trip():
    prog = compile_layer(DnaTeqArith(offsets=True), *codes(beta=0.003), vector_length=7)
    back = LayerProgram.from_dict(prog.to_dict())
    np.testing.assert_array_equal(back.table, prog.table)
    assert (back.shift, back.out_scale, back.w_code, back.a_code) == (prog.shift, prog.out_scale, prog.w_code, prog.a_code)


@pytest.mark.parametrize("change, message", [
    (lambda w, a: (w, ExpCode(**{**a.to_dict(), "base": 1.7})), "share the base"),
    (lambda w, a: (ExpCode(**{**w.to_dict(), "bits": 6}), a), "weight code has 5 exponent bits"),
    (lambda w, a: (w, ExpCode(**{**a.to_dict(), "beta": 0.1})), "no offset counters"),
])
def test_compile_errors(change, message):
    with pytest.raises(QuantError, match=message):
        compile_layer(DnaTeqArith(), *change(*codes()), vector_length=10)


def test_vector_length_must_fit():
    with pytest.raises(QuantError, match="vector_length must be in 1..64"):
        compile_layer(DnaTeqArith(max_vector_length=64), *codes(), vector_length=65)
