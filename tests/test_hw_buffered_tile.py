"""BufferedTile: PE p computes with slots p*lanes.. of each weight entry, padding lanes count as zero, its Y
lands in word p of the output buffer; the layer inputs of the tile and unpacker are passed on."""

from functools import partial

import numpy as np

from hw import BufferedTile, ExpCodeUnpacker, Int8Unpacker
from hw.sim import Clock, Harness
from hw.tile import DnaTeqTile, Int8Tile
from quant.arith import DnaTeqArith
from quant.golden import int8_matmul

PES, LANES = 3, 2


def put(ctx, port, **values):
    for name, value in values.items():
        ctx.set(getattr(port, name), value)


def test_weights_from_the_buffers_and_results_into_the_output_buffer(rng):
    dut = BufferedTile(make_tile=partial(Int8Tile, lanes=LANES, pes=PES, max_vector_length=8),
                       weight_unpacker=partial(Int8Unpacker, operand="weight", lanes=LANES), weight_depth=4,
                       output_depth=2, prefix="int8")
    n = 5                                                 # 3 beats, the last one with one live lane
    w, a = rng.integers(-128, 128, (PES, n)), rng.integers(-128, 128, n)
    padded_w = np.pad(w, ((0, 0), (0, 1)), constant_values=99)        # garbage in the padding slot
    padded_a = np.pad(a, (0, 1), constant_values=-7)
    result = {}

    async def bench(ctx):
        clock = Clock()
        for beat in range(3):
            data = sum((int(padded_w[p, beat * LANES + lane]) & 0xFF) << (8 * (p * LANES + lane))
                       for p in range(PES) for lane in range(LANES))
            put(ctx, dut.weight_write, addr=beat, data=data, en=1)
            await clock.tick(ctx)
        put(ctx, dut.weight_write, en=0)
        for beat in range(3):
            put(ctx, dut.weight_read, addr=beat, en=1)
            await clock.tick(ctx)
            put(ctx, dut.weight_read, en=0)
            ctx.set(dut.beat.payload, {"a": [int(v) for v in padded_a[beat * LANES:(beat + 1) * LANES]],
                                       "last": beat == 2, "live_lanes": LANES if beat < 2 else 1})
            ctx.set(dut.beat.valid, 1)
            while not (await clock.tick(ctx, dut.beat.ready))[0]:
                pass
            ctx.set(dut.beat.valid, 0)
        while not ctx.get(dut.result_valid):
            await clock.tick(ctx)
        ctx.set(dut.result_ready, 1)
        put(ctx, dut.output_write, addr=1, en=1)          # the controller writes the result where it likes
        await clock.tick(ctx)
        ctx.set(dut.result_ready, 0)
        put(ctx, dut.output_write, en=0)
        put(ctx, dut.output_read, addr=1, en=1)
        await clock.tick(ctx)
        result["word"] = ctx.get(dut.output_data)

    Harness(dut).run(bench)
    width = dut.tile.out_width
    words = [(result["word"] >> (p * width)) & ((1 << width) - 1) for p in range(PES)]
    assert [word - (1 << width) if word >> (width - 1) else word for word in words] == list(int8_matmul(w, a))
    assert dut.latency == dut.tile.latency


def test_dnateq_layer_inputs_are_members():
    arith = DnaTeqArith(exp_bits_w=2, exp_bits_a=2, table_width=8, max_vector_length=8)
    dut = BufferedTile(make_tile=partial(DnaTeqTile, arith=arith, lanes=LANES, pes=PES),
                       weight_unpacker=partial(ExpCodeUnpacker, exp_bits=2, operand="weight", lanes=LANES),
                       weight_depth=4, output_depth=2, prefix="dnateq")
    assert {"table_write", "shift", "weight_format"} <= set(dut.signature.members)
    assert dut.weight_buffer.width == LANES * 3 and dut.output_buffer.width == arith.out_width
    Harness(dut).run()                                   # elaborates
