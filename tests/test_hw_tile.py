"""Tiles of both kinds against quant.golden: P outputs per vector, table loading, stalls, reset, latency."""

import re
from dataclasses import replace

import pytest

from hw import DnaTeqTile, Int8Tile
from hw.hierarchy import MAX_PORT_BITS
from hw.sim import (Layer, dnateq_lanes, int8_lanes, random_codes, rejection, run_layers, run_with_reset,
                    tile_beats, write_table)
from quant.arith import DnaTeqArith, compile_layer
from quant.golden import dnateq_matmul, int8_matmul

ARITH = DnaTeqArith(exp_bits_w=2, exp_bits_a=3, table_width=16, max_vector_length=48, out_width=16)


def dnateq_layer(rng, arith, pes, lengths, **code_options):
    """A layer program and its vectors: weights [pes, n] and activations [n] per vector."""
    w_code, a_code = random_codes(rng, arith, **code_options)
    prog = compile_layer(arith, w_code, a_code, max(lengths))
    return prog, [(rng.integers(0, 1 << w_code.bits, (pes, n)), rng.integers(0, 1 << a_code.bits, n))
                  for n in lengths]


def dnateq_beats(prog, vectors, lanes):
    return [beat for w, a in vectors
            for beat in tile_beats([dnateq_lanes(prog.w_code, row, lanes) for row in w],
                                   dnateq_lanes(prog.a_code, a, lanes))]


def dnateq_expected(prog, vectors):
    return [[int(y) for y in dnateq_matmul(replace(prog, vector_length=len(a)), w, a)] for w, a in vectors]


def loader(tile, prog):
    """Configure a DNA-TEQ tile for ``prog``: table through the write port, then the shift."""
    async def load(ctx, clock):
        await write_table(ctx, tile.table_write, prog.table, clock)
        ctx.set(tile.shift, prog.shift)
    return load


def outputs_of(results):
    return [[[int(y) for y in payload] for _, payload in outputs] for _, outputs in results]


@pytest.mark.parametrize("pes,lanes,offsets,idle,stall", [(3, 2, True, 0.3, 0.5), (2, 4, False, 0.0, 0.0),
                                                          (4, 1, True, 0.0, 0.6)])
def test_dnateq_tile_runs_two_layers_like_golden(rng, pes, lanes, offsets, idle, stall):
    arith = replace(ARITH, offsets=offsets)
    tile = DnaTeqTile(arith=arith, lanes=lanes, pes=pes)
    layers = [dnateq_layer(rng, arith, pes, [13, 2, 30]),
              dnateq_layer(rng, arith, pes, [7, 48], w_bits=2, a_bits=4, a_signed=True, zero_code=False)]
    sim_layers = [Layer(dnateq_beats(prog, vectors, lanes), len(vectors), loader(tile, prog))
                  for prog, vectors in layers]
    results = run_layers(tile, sim_layers, rng=rng, idle=idle, stall=stall)
    assert outputs_of(results) == [dnateq_expected(prog, vectors) for prog, vectors in layers]


def test_dnateq_tile_latency_is_the_pe_latency(rng):
    tile = DnaTeqTile(arith=ARITH, lanes=4, pes=2)
    prog, vectors = dnateq_layer(rng, ARITH, 2, [10])
    (edges, outputs), = run_layers(tile, [Layer(dnateq_beats(prog, vectors, 4), 1, loader(tile, prog))])
    assert tile.latency == tile.pe.latency
    assert outputs[0][0] - edges[-1] == tile.latency


def test_dnateq_tile_reset_mid_vector_keeps_the_table_and_empties_the_banks(rng):
    tile = DnaTeqTile(arith=ARITH, lanes=2, pes=2)
    prog, vectors = dnateq_layer(rng, ARITH, 2, [9, 12, 6, 20])
    doomed = dnateq_beats(prog, vectors[:1], 2) + dnateq_beats(prog, vectors[1:2], 2)[:3]
    after_reset, log = run_with_reset(tile, doomed, dnateq_beats(prog, vectors[2:], 2), 2,
                                      {"ready": tile.pe.i.ready, "valid": tile.o.valid},
                                      configure=loader(tile, prog), rng=rng, idle=0.3, stall=0.3)
    assert after_reset == {"ready": 1, "valid": 0}
    assert [[int(y) for y in payload] for _, payload in log] == dnateq_expected(prog, vectors[2:])


@pytest.mark.parametrize("idle,stall", [(0.0, 0.0), (0.3, 0.6)])
def test_int8_tile_matches_golden(rng, idle, stall):
    pes, lanes = 3, 4
    tile = Int8Tile(lanes=lanes, pes=pes, max_vector_length=64)
    vectors = [(rng.integers(-128, 128, (pes, n)), rng.integers(-128, 128, n)) for n in (5, 64, 1, 23)]
    beats = [beat for w, a in vectors
             for beat in tile_beats([int8_lanes(row, lanes) for row in w], int8_lanes(a, lanes))]
    results = run_layers(tile, [Layer(beats, len(vectors))], rng=rng, idle=idle, stall=stall)
    assert outputs_of(results) == [[[int(y) for y in int8_matmul(w, a)] for w, a in vectors]]
    assert tile.latency == tile.pe.latency


@pytest.mark.parametrize("make,message", [
    (lambda: DnaTeqTile(arith=ARITH, lanes=2, pes=0), "pes must be an integer in 1..4096, got 0"),
    (lambda: Int8Tile(lanes=0, pes=2, max_vector_length=64), "lanes must be an integer in 1..256, got 0"),
    (lambda: Int8Tile(lanes=8, pes=1024, max_vector_length=64),
     rf"a tile of 1024 PEs has \d+ port bits in one direction, more than Amaranth converts \({MAX_PORT_BITS}\); "
     "use fewer PEs per tile"),
])
def test_constructor_arguments_are_validated(make, message):
    assert re.fullmatch(message, rejection(make))
