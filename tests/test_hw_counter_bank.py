"""CounterBank: drained counts equal quant.golden.dnateq_counts; the shadow bank drains while the bank counts."""

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
    """Drive ``schedule``: per cycle ``(products, clear, load, addr)``; returns ``head`` as seen each cycle."""
    heads = []

    async def bench(ctx):
        clock = Clock()
        for products, clear, load, addr in schedule:
            ctx.set(bank.products, products)
            ctx.set(bank.clear, clear)
            if hasattr(bank, "load"):      # only a shadow bank has the port
                ctx.set(bank.load, load)
            ctx.set(bank.addr, addr)
            heads.append(int(ctx.get(bank.head)))
            await clock.tick(ctx)

    Harness(bank).run(bench)
    return np.array(heads)


def read_bins(beats, idle_beat, bins):
    """Cycles that present ``beats`` (then idle beats) while ``addr`` walks bins 0..bins-1 once."""
    padded = beats + [idle_beat] * max(0, bins - len(beats))
    return [(beat, 0, 0, k % bins) for k, beat in enumerate(padded)]


@pytest.mark.parametrize("lanes", [1, 4])
@pytest.mark.parametrize("offsets", [False, True])
def test_the_shadow_bank_drains_while_the_bank_counts(rng, lanes, offsets):
    arith = replace(ARITH, offsets=offsets)
    w_code, a_code = random_codes(rng, arith, a_signed=offsets)
    vectors = [(rng.integers(0, 1 << w_code.bits, n), rng.integers(0, 1 << a_code.bits, n)) for n in (40, 23)]
    progs = [compile_layer(arith, w_code, a_code, len(w)) for w, _ in vectors]
    beats = [product_beats(prog, w, a, lanes)[0] for prog, (w, a) in zip(progs, vectors)]
    idle_beat, bins = product_beats(progs[0], *vectors[0], lanes)[1], arith.n_bins
    # Vector 0: its last beat loads the shadow bank and clears the bank in the same cycle.
    schedule = [(beat, 0, 0, 0) for beat in beats[0][:-1]] + [(beats[0][-1], 1, 1, 0)]
    drain_0 = len(schedule)
    schedule += read_bins(beats[1], idle_beat, bins)            # count vector 1, drain vector 0
    schedule += [(idle_beat, 1, 1, 0)]                          # a transfer in an idle cycle
    drain_1 = len(schedule)
    schedule += read_bins([], idle_beat, bins) + [(idle_beat, 1, 1, 0)] + read_bins([], idle_beat, bins)
    heads = run_bank(CounterBank(arith=arith, lanes=lanes, shadow=True), schedule)
    np.testing.assert_array_equal(heads[drain_0:drain_0 + bins], dnateq_counts(progs[0], *vectors[0]))
    np.testing.assert_array_equal(heads[drain_1:drain_1 + bins], dnateq_counts(progs[1], *vectors[1]))
    assert not heads[drain_1 + bins + 1:].any(), "a cleared bank loaded into the shadow bank must read zero"


def test_without_a_shadow_bank_the_bank_drains_itself(rng):
    w_code, a_code = random_codes(rng, ARITH)
    w, a = rng.integers(0, 1 << w_code.bits, 30), rng.integers(0, 1 << a_code.bits, 30)
    prog = compile_layer(ARITH, w_code, a_code, len(w))
    beats, idle_beat = product_beats(prog, w, a, 3)
    bins = ARITH.n_bins
    schedule = [(beat, 0, 0, 0) for beat in beats] + read_bins([], idle_beat, bins)
    schedule[-1] = (idle_beat, 1, 0, bins - 1)                 # clear in the drain's last cycle
    schedule += read_bins([], idle_beat, bins)
    heads = run_bank(CounterBank(arith=ARITH, lanes=3, shadow=False), schedule)
    np.testing.assert_array_equal(heads[len(beats):len(beats) + bins], dnateq_counts(prog, w, a))
    assert not heads[len(beats) + bins:].any()


@pytest.mark.parametrize("options,message", [
    ({"shadow": 2}, "shadow must be True or False, got 2"),
    ({"lanes": 257}, "lanes must be an integer in 1..256, got 257"),
])
def test_constructor_arguments_are_validated(options, message):
    assert rejection(lambda: CounterBank(**{"arith": ARITH, "lanes": 4, **options})) == message
