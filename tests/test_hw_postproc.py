"""PostProcessor: Y from drained counts equals quant.golden.dnateq_postprocess, across chunked drains."""

from dataclasses import replace

import numpy as np
import pytest

from hw import PostProcessor
from hw.sim import Layer, random_codes, rejection, run_layers, table_memory
from quant.arith import DnaTeqArith, compile_layer
from quant.golden import dnateq_counts, dnateq_postprocess

ARITH = DnaTeqArith(exp_bits_w=2, exp_bits_a=3, table_width=16, max_vector_length=64, count_depth=16,
                    out_width=16, offsets=True)


def drain_beats(chunk_counts):
    """The bins of every chunk's drain; ``last`` on the final bin of the final chunk."""
    beats = []
    for index, counts in enumerate(chunk_counts):
        final = index == len(chunk_counts) - 1
        beats += [{"count": int(c), "bin": k, "last": int(final and k == len(counts) - 1)}
                  for k, c in enumerate(counts)]
    return beats


def chunked_counts(prog, w, a):
    """Golden counts of every ``count_depth`` chunk of one vector."""
    depth = prog.arith.count_depth
    return [dnateq_counts(replace(prog, vector_length=len(w[s:s + depth])), w[s:s + depth], a[s:s + depth])
            for s in range(0, len(w), depth)]


def golden(prog, vectors):
    """Golden Y of every vector from its counts, with the layer's table and shift."""
    return [int(dnateq_postprocess(prog, dnateq_counts(replace(prog, vector_length=len(w)), w, a)))
            for w, a in vectors]


def random_vectors(rng, prog, lengths):
    return [(rng.integers(0, 1 << prog.w_code.bits, n), rng.integers(0, 1 << prog.a_code.bits, n))
            for n in lengths]


def run_postproc(postproc, prog, vectors, **traffic):
    """Drain every vector's chunks through ``postproc``; returns (input edges, [(edge, Y)])."""
    async def configure(ctx, clock):
        ctx.set(postproc.shift, prog.shift)

    beats = [(beat,) for w, a in vectors for beat in drain_beats(chunked_counts(prog, w, a))]
    (edges, outputs), = run_layers(postproc, [Layer(beats, len(vectors), configure)], **traffic,
                                   processes=[table_memory(postproc.table, prog.table)])
    return edges, [(edge, int(y)) for edge, y in outputs]


@pytest.mark.parametrize("idle,stall", [(0.0, 0.0), (0.3, 0.0), (0.0, 0.7), (0.3, 0.7)])
def test_chunked_drains_accumulate_to_the_golden_output(rng, idle, stall):
    w_code, a_code = random_codes(rng, ARITH, a_signed=True)
    prog = compile_layer(ARITH, w_code, a_code, ARITH.max_vector_length)
    vectors = random_vectors(rng, prog, [64, 1, 17, 16, 40])
    _, outputs = run_postproc(PostProcessor(arith=ARITH), prog, vectors, rng=rng, idle=idle, stall=stall)
    assert [y for _, y in outputs] == golden(prog, vectors)


def test_every_shift_rounds_and_saturates_like_golden(rng):
    w_code, a_code = random_codes(rng, ARITH)
    base = compile_layer(ARITH, w_code, a_code, 16)
    largest = (np.full(16, w_code.n_exp - 1), np.full(16, a_code.n_exp - 1))
    vectors = random_vectors(rng, base, [16, 16, 5]) + [largest]
    postproc = PostProcessor(arith=ARITH)
    for shift in range(0, ARITH.acc_width, 3):      # small shifts saturate, large ones round to 0 or -1
        prog = replace(base, shift=shift)
        _, outputs = run_postproc(postproc, prog, vectors)
        assert [y for _, y in outputs] == golden(prog, vectors), f"shift {shift}"
    assert golden(replace(base, shift=0), [largest]) == [(1 << ARITH.out_width - 1) - 1]     # it did saturate


def test_output_comes_latency_cycles_after_the_last_bin(rng):
    w_code, a_code = random_codes(rng, ARITH)
    prog = compile_layer(ARITH, w_code, a_code, 8)
    postproc = PostProcessor(arith=ARITH)
    edges, outputs = run_postproc(postproc, prog, random_vectors(rng, prog, [8, 8]))
    assert edges == list(range(edges[0], edges[0] + 2 * ARITH.n_bins))        # no bubble between vectors
    assert [edge for edge, _ in outputs] == [edges[k * ARITH.n_bins - 1] + postproc.latency for k in (1, 2)]


def test_constructor_arguments_are_validated():
    assert rejection(lambda: PostProcessor(arith=np.int64(3))) == \
        "arith must be a quant.arith.DnaTeqArith, got int64"
