"""Unpackers: every code of every layer format gives ExpCode.split's fields; padding lanes are zero lanes."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw import ExpCodeUnpacker, Int8Unpacker
from hw.sim import rejection
from quant.expcode import ExpCode


def formats(exp_bits):
    """Every code format an unpacker with ``exp_bits`` exponent bits takes that ExpCode can express."""
    return [ExpCode(bits=e + signed, base=2.0, alpha=1.0, signed=bool(signed), zero_code=bool(zero))
            for e in range(1, exp_bits + 1) for signed in (0, 1) for zero in (0, 1) if 2 <= e + signed <= 8]


def unpack(dut, batches, *, live_lanes=None, code_format=None):
    """The lanes the combinational ``dut`` gives for each batch of ``rows * lanes`` slot values."""
    results = []

    async def testbench(ctx):
        if code_format is not None:
            ctx.set(dut.format, {"bits": code_format.bits, "signed": int(code_format.signed),
                                 "zero_code": int(code_format.zero_code)})
        for batch in batches:
            ctx.set(dut.codes, sum(int(code) << (index * dut.code_bits) for index, code in enumerate(batch)))
            ctx.set(dut.live_lanes, dut.lanes if live_lanes is None else live_lanes)
            fields = ctx.get(dut.fields)
            results.append([fields[row][lane] for row in range(dut.rows) for lane in range(dut.lanes)])

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()
    return results


def batches_of(codes, size):
    codes = list(codes)
    codes += [0] * (-len(codes) % size)
    return [codes[start:start + size] for start in range(0, len(codes), size)]


@pytest.mark.parametrize("exp_bits,operand,rows,lanes", [(1, "activation", 1, 3), (3, "weight", 2, 4),
                                                         (4, "activation", 1, 8), (8, "weight", 3, 5)])
def test_every_code_of_every_format_unpacks_like_expcode_split(rng, exp_bits, operand, rows, lanes):
    slots = rows * lanes
    for code in formats(exp_bits):
        codes = np.arange(1 << code.bits)
        # Slot bits above the code are not part of it: fill them with noise.
        noise = rng.integers(0, 1 << (exp_bits + 1 - code.bits), len(codes)) << code.bits
        dut = ExpCodeUnpacker(exp_bits=exp_bits, operand=operand, rows=rows, lanes=lanes)
        lanes_out = [lane for batch in unpack(dut, batches_of(codes | noise, slots), code_format=code)
                     for lane in batch][:len(codes)]
        zero, sign, exp = code.split(codes)
        expected = [(int(z), int(s), int(e)) for z, s, e in zip(zero, sign, exp)]
        assert [(lane.zero, lane.sign, lane.exp) for lane in lanes_out] == expected, code


@pytest.mark.parametrize("live_lanes", range(5))
def test_lanes_past_live_lanes_are_zero_lanes_in_every_row(rng, live_lanes):
    code = ExpCode(bits=4, base=2.0, alpha=1.0, zero_code=False)     # no zero code: a 0 slot is a live lane
    dut = ExpCodeUnpacker(exp_bits=3, operand="weight", rows=2, lanes=4)
    codes = rng.integers(0, 16, 8)
    (lanes_out,) = unpack(dut, [codes], live_lanes=live_lanes, code_format=code)
    zero, sign, exp = code.split(codes)
    for index, lane in enumerate(lanes_out):
        padding = index % 4 >= live_lanes
        expected = (1, 0, 0) if padding else (int(zero[index]), int(sign[index]), int(exp[index]))
        assert (lane.zero, lane.sign, lane.exp) == expected


@pytest.mark.parametrize("live_lanes", [3, 1])
def test_int8_lanes_are_the_signed_bytes_and_padding_is_zero(live_lanes):
    dut = Int8Unpacker(operand="activation", rows=1, lanes=3)
    values = np.arange(-128, 128)
    results = [lane for batch in unpack(dut, batches_of(values & 0xFF, 3), live_lanes=live_lanes) for lane in batch]
    expected = [int(v) if index % 3 < live_lanes else 0 for index, v in enumerate(values)]
    assert results[:len(values)] == expected


def test_names_and_figures():
    dut = ExpCodeUnpacker(exp_bits=3, operand="weight", rows=1, lanes=8)
    assert (dut.role, dut.module_name, dut.code_bits, dut.latency) == ("weight_unpacker", "dnateq_weight_unpacker",
                                                                      4, 0)
    assert dut.parameters == {"operand": "weight", "rows": 1, "lanes": 8, "exp_bits": 3}
    assert Int8Unpacker(operand="activation", rows=1, lanes=2).module_name == "int8_activation_unpacker"


@pytest.mark.parametrize("make,message", [
    (lambda: ExpCodeUnpacker(exp_bits=9, operand="weight", rows=1, lanes=2),
     "exp_bits must be an integer in 1..8, got 9"),
    (lambda: Int8Unpacker(operand="bias", rows=1, lanes=2), "operand must be one of weight, activation, got 'bias'"),
    (lambda: Int8Unpacker(operand="weight", rows=0, lanes=2), "rows must be an integer in 1..4096, got 0"),
])
def test_constructor_arguments_are_validated(make, message):
    assert rejection(make) == message
