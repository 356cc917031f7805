"""LayerTable: writes land, reads come one cycle after ``en`` and hold while ``en`` is low, reset keeps it."""

import numpy as np

from hw import LayerTable
from hw.sim import Clock, Harness, rejection, write_table
from quant.arith import DnaTeqArith

ARITH = DnaTeqArith(exp_bits_w=2, exp_bits_a=2, table_width=12)


def test_read_after_write_with_latency_and_hold_across_reset(rng):
    table = LayerTable(arith=ARITH)
    values = rng.integers(-(1 << 11), 1 << 11, ARITH.n_bins)
    order = rng.permutation(ARITH.n_bins)
    seen = {}
    harness = Harness(table)

    async def bench(ctx):
        clock = Clock()
        await write_table(ctx, table.write, values, clock)
        ctx.set(harness.reset, 1)          # configuration survives a reset
        await clock.tick(ctx)
        ctx.set(harness.reset, 0)
        for addr in order:
            ctx.set(table.read.addr, int(addr))
            ctx.set(table.read.en, 1)
            for _ in range(table.latency):
                await clock.tick(ctx)
            ctx.set(table.read.en, 0)
            ctx.set(table.read.addr, int(order[0]))     # a new address without en changes nothing
            await clock.tick(ctx)
            seen[int(addr)] = ctx.get(table.read.data)

    harness.run(bench)
    np.testing.assert_array_equal([seen[k] for k in range(ARITH.n_bins)], values)


def test_constructor_arguments_are_validated():
    assert rejection(lambda: LayerTable(arith=None)) == "arith must be a quant.arith.DnaTeqArith, got NoneType"
