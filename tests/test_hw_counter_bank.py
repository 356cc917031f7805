"""CounterBank: drained counts equal quant.golden.dnateq_counts; banks count and drain independently."""

from dataclasses import replace

import numpy as np
import pytest

from hw import CounterBank
from hw.sim import Clock, Harness, random_codes, rejection
from quant.arith import DnaTeqArith, compile_layer
from quant.golden import bin_indices, dnateq_counts, element_fields

ARITH = DnaTeqArith(exp_bits_w=2, exp_bits_a=3, table_width=16, max_vector_length=64, out_width=16)
IDLE_LANE = {"live": 0, "neg": 0, "exp_sum": 0, "w_exp": 0, "a_exp": 0}


def product_beats(prog, w, a, lanes):
    """Per beat, the stage-1 lanes of a vector: live, product sign, and the exponent-sum bin of quant.golden."""
    (w_zero, w_sign, w_exp), (a_zero, a_sign, a_exp) = element_fields(prog, w, a)
    exp_sum = bin_indices(prog, w_exp, a_exp)[0]
    fields = ["live", "neg", "exp_sum"] + (["w_exp", "a_exp"] if prog.arith.offsets else [])
    lanes_of = [dict(zip(fields, map(int, values)))
                for values in zip(~(w_zero | a_zero), w_sign ^ a_sign, exp_sum, w_exp, a_exp)]
    idle = {field: IDLE_LANE[field] for field in fields}
    lanes_of += [idle] * (-len(lanes_of) % lanes)
    return [lanes_of[start:start + lanes] for start in range(0, len(lanes_of), lanes)], [idle] * lanes


def run_bank(bank, schedule):
    """Drive ``schedule``: per cycle ``(products, count mask, shift mask)``; returns the heads seen each cycle."""
    heads = []

    async def bench(ctx):
        clock = Clock()
        for products, count, shift in schedule:
            ctx.set(bank.products, products)
            ctx.set(bank.count, count)
            ctx.set(bank.shift, shift)
            heads.append([int(head) for head in ctx.get(bank.heads)])
            await clock.tick(ctx)

    Harness(bank).run(bench)
    return np.array(heads)


@pytest.mark.parametrize("lanes", [1, 4])
@pytest.mark.parametrize("offsets", [False, True])
def test_one_bank_drains_while_the_other_counts(rng, lanes, offsets):
    arith = replace(ARITH, offsets=offsets)
    w_code, a_code = random_codes(rng, arith, a_signed=offsets)
    vectors = [(rng.integers(0, 1 << w_code.bits, n), rng.integers(0, 1 << a_code.bits, n)) for n in (40, 23)]
    progs = [compile_layer(arith, w_code, a_code, len(w)) for w, _ in vectors]
    beats = [product_beats(prog, w, a, lanes) for prog, (w, a) in zip(progs, vectors)]
    idle_beat, bins = beats[0][1], arith.n_bins
    second = beats[1][0] + [idle_beat] * max(0, bins - len(beats[1][0]))
    schedule = [(beat, 0b01, 0b00) for beat in beats[0][0]]                            # count vector 0 in bank 0
    schedule += [(beat, 0b10, 0b01 if k < bins else 0) for k, beat in enumerate(second)]  # drain 0, count 1 in 1
    schedule += [(idle_beat, 0, 0b10)] * bins + [(idle_beat, 0, 0b11)] * bins      # drain 1, drain the empties
    heads = run_bank(CounterBank(arith=arith, lanes=lanes, banks=2), schedule)
    drain_0, drain_1 = len(beats[0][0]), len(beats[0][0]) + len(second)
    np.testing.assert_array_equal(heads[drain_0:drain_0 + bins, 0], dnateq_counts(progs[0], *vectors[0]))
    np.testing.assert_array_equal(heads[drain_1:drain_1 + bins, 1], dnateq_counts(progs[1], *vectors[1]))
    assert not heads[drain_1 + bins:].any()


def test_a_single_bank_counts_then_drains(rng):
    w_code, a_code = random_codes(rng, ARITH)
    w, a = rng.integers(0, 1 << w_code.bits, 30), rng.integers(0, 1 << a_code.bits, 30)
    prog = compile_layer(ARITH, w_code, a_code, len(w))
    beats, idle_beat = product_beats(prog, w, a, 3)
    schedule = [(beat, 1, 0) for beat in beats] + [(idle_beat, 0, 1)] * (2 * ARITH.n_bins)
    heads = run_bank(CounterBank(arith=ARITH, lanes=3, banks=1), schedule)
    np.testing.assert_array_equal(heads[len(beats):len(beats) + ARITH.n_bins, 0], dnateq_counts(prog, w, a))
    assert not heads[len(beats) + ARITH.n_bins:].any()


@pytest.mark.parametrize("options,message", [
    ({"banks": 3}, "banks must be an integer in 1..2, got 3"),
    ({"lanes": 257}, "lanes must be an integer in 1..256, got 257"),
])
def test_constructor_arguments_are_validated(options, message):
    assert rejection(lambda: CounterBank(**{"arith": ARITH, "lanes": 4, **options})) == message
