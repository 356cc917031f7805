"""Int8Pe against quant.golden.int8_matmul, bit for bit: random vectors, extremes, stalls, reset, timing."""

import numpy as np
import pytest

from hw import Int8Pe
from hw.sim import TRAFFIC, Layer, int8_lanes, pe_beats, rejection, run_layers, run_with_reset
from quant.golden import int8_acc_width, int8_matmul


def beats_of(vectors, lanes):
    return [beat for w, a in vectors for beat in pe_beats(int8_lanes(w, lanes), int8_lanes(a, lanes))]


def expected(vectors):
    return [int(int8_matmul(w, a)) for w, a in vectors]


def run_pe(pe, vectors, **traffic):
    """Returns (input edges, [(edge, Y)]) of one run of ``vectors``."""
    (edges, outputs), = run_layers(pe, [Layer(beats_of(vectors, pe.lanes), len(vectors))], **traffic)
    return edges, [(edge, int(y)) for edge, y in outputs]


def random_vectors(rng, lengths):
    return [(rng.integers(-128, 128, n), rng.integers(-128, 128, n)) for n in lengths]


@pytest.mark.parametrize("traffic", TRAFFIC)
@pytest.mark.parametrize("lanes", [1, 3, 8])
def test_random_vectors_match_golden(rng, lanes, traffic):
    pe = Int8Pe(lanes=lanes, max_vector_length=64)
    vectors = random_vectors(rng, rng.integers(1, 65, 6))
    idle, stall = TRAFFIC[traffic]
    _, outputs = run_pe(pe, vectors, rng=rng, idle=idle, stall=stall)
    assert [y for _, y in outputs] == expected(vectors)


def test_extreme_operands_at_max_length_fill_the_accumulator():
    n = 32
    pe = Int8Pe(lanes=4, max_vector_length=n, out_width=int8_acc_width(n))
    vectors = [(np.full(n, -128), np.full(n, -128)), (np.full(n, 127), np.full(n, -128)),
               (np.zeros(n, int), np.full(n, -128)), (np.full(5, -128), np.full(5, 127))]
    _, outputs = run_pe(pe, vectors)
    assert [y for _, y in outputs] == expected(vectors)


def test_vectors_follow_without_bubble_and_outputs_come_latency_cycles_after_last(rng):
    pe = Int8Pe(lanes=4, max_vector_length=64)
    lengths = [9, 1, 4, 30, 2]
    vectors = random_vectors(rng, lengths)
    edges, outputs = run_pe(pe, vectors)
    assert edges == list(range(edges[0], edges[0] + len(edges)))
    last_beats = np.cumsum([-(-n // pe.lanes) for n in lengths]) - 1
    assert [edge for edge, _ in outputs] == [edges[b] + pe.latency for b in last_beats]
    assert [y for _, y in outputs] == expected(vectors)


def test_reset_mid_vector_returns_to_idle_with_a_clear_accumulator(rng):
    pe = Int8Pe(lanes=2, max_vector_length=64)
    vectors = random_vectors(rng, [9, 12, 6, 20])
    doomed = beats_of(vectors[:1], pe.lanes) + beats_of(vectors[1:2], pe.lanes)[:3]
    after_reset, log = run_with_reset(pe, doomed, beats_of(vectors[2:], pe.lanes), 2,
                                      {"ready": pe.i.ready, "valid": pe.o.valid}, rng=rng, idle=0.3,
                                      stall=0.3)
    assert after_reset == {"ready": 1, "valid": 0}
    assert [int(y) for _, y in log] == expected(vectors[2:])


@pytest.mark.parametrize("options,message", [
    ({"lanes": 0}, "lanes must be an integer in 1..256, got 0"),
    ({"max_vector_length": 0}, "max_vector_length must be an integer in 1..16777216, got 0"),
    ({"out_width": 16}, f"out_width (16) must be at least the INT8 accumulator width ({int8_acc_width(64)} bits "
                        "for max_vector_length=64)"),
])
def test_constructor_arguments_are_validated(options, message):
    assert rejection(lambda: Int8Pe(**{"lanes": 4, "max_vector_length": 64, **options})) == message
