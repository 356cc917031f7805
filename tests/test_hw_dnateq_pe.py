"""DnaTeqPe against quant.golden, bit for bit: random layers, corners, chunking, stalls, reset, timing."""

from dataclasses import replace

import numpy as np
import pytest

from hw import DnaTeqPe
from hw.perf_model import DnaTeqPeTiming
from hw.sim import (TRAFFIC, Layer, dnateq_lanes, pe_beats, random_codes, rejection, run_layers, run_with_reset,
                    table_memory)
from quant.arith import DnaTeqArith, compile_layer
from quant.golden import dnateq_matmul

ARITH = DnaTeqArith(exp_bits_w=2, exp_bits_a=3, table_width=16, max_vector_length=64, out_width=16)


def vector_beats(prog, w, a, lanes):
    return pe_beats(dnateq_lanes(prog.w_code, w, lanes), dnateq_lanes(prog.a_code, a, lanes))


def expected(prog, vectors):
    """Golden Y of every vector, with the layer's table and shift whatever the vector's length."""
    return [int(dnateq_matmul(replace(prog, vector_length=len(w)), w, a)) for w, a in vectors]


def run_pe(pe, layers, *, rng=None, idle=0.0, stall=0.0):
    """Run ``layers`` = [(prog, [(w, a), ...]), ...]; returns per layer (input edges, [(edge, Y)])."""
    table = np.zeros(pe.arith.n_bins, dtype=np.int64)

    def configure(prog):
        async def load(ctx, clock):
            table[:] = prog.table
            ctx.set(pe.shift, prog.shift)
        return load

    sim_layers = [Layer([beat for w, a in vectors for beat in vector_beats(prog, w, a, pe.lanes)], len(vectors),
                        configure(prog)) for prog, vectors in layers]
    results = run_layers(pe, sim_layers, rng=rng, idle=idle, stall=stall,
                         processes=[table_memory(pe.table, table)])
    return [(edges, [(edge, int(y)) for edge, y in outputs]) for edges, outputs in results]


def random_layer(rng, arith, lengths, **code_options):
    w_code, a_code = random_codes(rng, arith, **code_options)
    prog = compile_layer(arith, w_code, a_code, max(lengths))
    vectors = [(rng.integers(0, 1 << w_code.bits, n), rng.integers(0, 1 << a_code.bits, n)) for n in lengths]
    return prog, vectors


def assert_matches_golden(pe, layers, **traffic):
    for (prog, vectors), (_, outputs) in zip(layers, run_pe(pe, layers, **traffic)):
        assert [y for _, y in outputs] == expected(prog, vectors)


@pytest.mark.parametrize("traffic", TRAFFIC)
@pytest.mark.parametrize("lanes,offsets,double_buffer", [(1, False, True), (4, True, True), (3, False, False),
                                                         (4, True, False)])
def test_random_vectors_match_golden(rng, lanes, offsets, double_buffer, traffic):
    arith = replace(ARITH, offsets=offsets)
    pe = DnaTeqPe(arith=arith, lanes=lanes, double_buffer=double_buffer)
    layer = random_layer(rng, arith, rng.integers(1, 25, 6), a_signed=bool(rng.integers(2)))
    idle, stall = TRAFFIC[traffic]
    assert_matches_golden(pe, [layer], rng=rng, idle=idle, stall=stall)


def corner_vectors(w_code, a_code, n):
    """Named corner vectors of length ``n`` (every code pair needs ``2**(w_bits + a_bits)`` elements)."""
    w_max, a_max = w_code.n_exp - 1, a_code.n_exp - 1
    w_negative = (1 << w_code.exp_bits) | w_max
    pairs = np.arange(1 << (w_code.bits + a_code.bits))
    return {
        "all zero codes": (np.zeros(n, int), np.zeros(n, int)),
        "zero weights": (np.zeros(n, int), np.full(n, a_max)),
        "max exponents": (np.full(n, w_max), np.full(n, a_max)),
        "min exponents": (np.full(n, w_code.min_exp), np.full(n, a_code.min_exp)),
        "all negative products": (np.full(n, w_negative), np.full(n, a_max)),
        "every code pair, every bin": (pairs >> a_code.bits, pairs & ((1 << a_code.bits) - 1)),
    }


@pytest.mark.parametrize("offsets", [False, True])
@pytest.mark.parametrize("zero_code", [True, False])
def test_corner_vectors_match_golden(rng, offsets, zero_code):
    arith = replace(ARITH, offsets=offsets, max_vector_length=128)     # room for every code pair
    w_code, a_code = random_codes(rng, arith, a_signed=offsets, zero_code=zero_code)
    corners = corner_vectors(w_code, a_code, 13)
    prog = compile_layer(arith, w_code, a_code, max(len(w) for w, _ in corners.values()))
    pe = DnaTeqPe(arith=arith, lanes=4)
    (_, outputs), = run_pe(pe, [(prog, list(corners.values()))])
    assert dict(zip(corners, (y for _, y in outputs))) == dict(zip(corners, expected(prog, corners.values())))


@pytest.mark.parametrize("offsets,count_depth", [(False, None), (True, None), (True, 4)])
def test_max_length_vector_reaches_the_counter_and_accumulator_bounds(offsets, count_depth):
    """Every element of a max-length vector hits one bin with one sign: |C| = count_depth, |acc| at its bound."""
    arith = DnaTeqArith(exp_bits_w=2, exp_bits_a=2, table_width=8, max_vector_length=16, out_width=8,
                        offsets=offsets, count_depth=count_depth)
    w_code, a_code = random_codes(np.random.default_rng(0), arith)
    prog = compile_layer(arith, w_code, a_code, arith.max_vector_length)
    n, top_w, top_a = arith.max_vector_length, w_code.n_exp - 1, a_code.n_exp - 1
    negative_w = (1 << w_code.exp_bits) | top_w
    vectors = [(np.full(n, top_w), np.full(n, top_a)), (np.full(n, negative_w), np.full(n, top_a))]
    for shift in (prog.shift, 0):          # shift 0 saturates Y
        layer = replace(prog, shift=shift)
        assert_matches_golden(DnaTeqPe(arith=arith, lanes=4), [(layer, vectors)])


@pytest.mark.parametrize("double_buffer", [True, False])
@pytest.mark.parametrize("traffic", ["steady", "both"])
def test_chunked_counting_matches_golden(rng, double_buffer, traffic):
    lanes = 2
    arith = replace(ARITH, count_depth=2 * lanes, offsets=True)
    pe = DnaTeqPe(arith=arith, lanes=lanes, double_buffer=double_buffer)
    assert pe.chunked
    lengths = [4, 5, 19, 1, 8, 64, 3]            # chunk ends inside, at and before a vector's end
    idle, stall = TRAFFIC[traffic]
    assert_matches_golden(pe, [random_layer(rng, arith, lengths)], rng=rng, idle=idle, stall=stall)


def test_two_layers_with_different_tables_and_bit_widths(rng):
    arith = replace(ARITH, offsets=True)
    layers = [random_layer(rng, arith, [7, 30, 2]),
              random_layer(rng, arith, [11, 1, 40], w_bits=2, a_bits=4, a_signed=True, zero_code=False)]
    assert not np.array_equal(layers[0][0].table, layers[1][0].table)
    assert_matches_golden(DnaTeqPe(arith=arith, lanes=3), layers, rng=rng, idle=0.2, stall=0.3)


def predicted_timing(pe, lengths):
    """Accept cycle of every beat and output cycle of every vector, from the stall rule as the performance
    model states it (hw.perf_model.DnaTeqPeTiming), with a source that is always valid and a sink that is
    always ready, both built from the component's properties."""
    timing = DnaTeqPeTiming(n_bins=pe.drain_cycles, shadow=pe.double_buffer,
                            chunk_beats=pe.arith.count_depth // pe.lanes if pe.chunked else None,
                            bank_latency=pe.counter_bank.latency, postproc_latency=pe.postproc.latency)
    accepts, outputs, present = [], [], 0
    for n in lengths:
        beats, output = timing.vector(-(-n // pe.lanes), present)
        accepts += beats
        outputs.append(output)
        present = beats[-1] + 1
    return accepts, outputs


@pytest.mark.parametrize("double_buffer", [True, False])
@pytest.mark.parametrize("count_depth", [None, 8])
def test_timing_follows_the_stall_rule_and_latency(rng, double_buffer, count_depth):
    arith = replace(ARITH, count_depth=count_depth)
    pe = DnaTeqPe(arith=arith, lanes=4, double_buffer=double_buffer)
    assert (pe.arith, pe.lanes, pe.double_buffer, pe.drain_cycles) == (arith, 4, double_buffer, arith.n_bins)
    with pytest.raises(AttributeError):
        pe.lanes = 8
    lengths = [6, 30, 2, 3, 64, 40, 1, 1, 17]       # some vectors are shorter than a drain
    prog, vectors = random_layer(rng, arith, lengths)
    (edges, outputs), = run_pe(pe, [(prog, vectors)])
    accepts, out_cycles = predicted_timing(pe, lengths)
    # A handshake in cycle c is sampled at edge c + 1.
    assert [edge - 1 for edge in edges] == accepts
    assert [edge - 1 for edge, _ in outputs] == out_cycles
    first_vector_beats = -(-lengths[0] // pe.lanes)          # one chunk, drained by an idle post-processor
    assert outputs[0][0] - edges[first_vector_beats - 1] == pe.latency
    assert [y for _, y in outputs] == expected(prog, vectors)


def test_reset_mid_vector_returns_to_idle_with_empty_banks(rng):
    arith = replace(ARITH, offsets=True)
    pe = DnaTeqPe(arith=arith, lanes=2)
    prog, vectors = random_layer(rng, arith, [9, 12, 6, 20])

    async def configure(ctx, clock):
        ctx.set(pe.shift, prog.shift)

    # A whole vector (its output is blocked) and half of the next, then two fresh vectors: they
    # count into both banks, so any count left over from before the reset would show.
    doomed = vector_beats(prog, *vectors[0], pe.lanes) + vector_beats(prog, *vectors[1], pe.lanes)[:3]
    fresh = [beat for w, a in vectors[2:] for beat in vector_beats(prog, w, a, pe.lanes)]
    after_reset, log = run_with_reset(pe, doomed, fresh, 2, {"ready": pe.i.ready, "valid": pe.o.valid},
                                      configure=configure, rng=rng, idle=0.3, stall=0.3,
                                      processes=[table_memory(pe.table, prog.table)])
    assert after_reset == {"ready": 1, "valid": 0}
    assert [int(y) for _, y in log] == expected(prog, vectors[2:])


@pytest.mark.parametrize("options,message", [
    ({"lanes": 0}, "lanes must be an integer in 1..256, got 0"),
    ({"double_buffer": "yes"}, "double_buffer must be True or False, got 'yes'"),
    ({"arith": {"exp_bits_w": 3}}, "arith must be a quant.arith.DnaTeqArith, got dict"),
    ({"arith": replace(ARITH, count_depth=6), "lanes": 4},
     "count_depth (6) must be a multiple of lanes (4) when it is below max_vector_length (64)"),
])
def test_constructor_arguments_are_validated(options, message):
    assert rejection(lambda: DnaTeqPe(**{"arith": ARITH, "lanes": 4, **options})) == message
