"""Buffer: synchronous read one cycle after en, held while en is low, old data on a same-cycle write; reset keeps it."""

from hw import Buffer
from hw.sim import Clock, Harness, rejection


def put(ctx, port, **values):
    for name, value in values.items():
        ctx.set(getattr(port, name), value)


def test_reads_follow_writes_and_hold(rng):
    dut = Buffer(name="weight", depth=6, width=12, prefix="test")
    contents = [int(v) for v in rng.integers(0, 1 << 12, 6)]
    seen = []

    async def bench(ctx):
        clock = Clock()
        for addr, value in enumerate(contents):
            put(ctx, dut.write, addr=addr, data=value, en=1)
            await clock.tick(ctx)
        ctx.set(dut.write.en, 0)
        for addr in (3, 0, 5):
            put(ctx, dut.read, addr=addr, en=1)
            await clock.tick(ctx)
            seen.append(ctx.get(dut.read.data))
        put(ctx, dut.read, addr=1, en=0)                 # en low: the data hold
        await clock.tick(ctx)
        seen.append(ctx.get(dut.read.data))
        put(ctx, dut.read, addr=2, en=1)                 # read and write of one entry: the old data
        put(ctx, dut.write, addr=2, data=0xABC, en=1)
        await clock.tick(ctx)
        ctx.set(dut.write.en, 0)
        seen.append(ctx.get(dut.read.data))
        ctx.set(harness.reset, 1)                               # reset keeps the contents
        await clock.tick(ctx)
        ctx.set(harness.reset, 0)
        await clock.tick(ctx)
        seen.append(ctx.get(dut.read.data))

    harness = Harness(dut)
    harness.run(bench)
    assert seen == [contents[3], contents[0], contents[5], contents[5], contents[2], 0xABC]
    assert (dut.role, dut.module_name, dut.bits, dut.latency) == ("weight_buffer", "test_weight_buffer", 72, 1)


def test_constructor_arguments_are_validated():
    assert rejection(lambda: Buffer(name="table", depth=2, width=2, prefix="x")) == \
        "name must be one of weight, activation, output, got 'table'"
    assert rejection(lambda: Buffer(name="output", depth=0, width=2, prefix="x")) == \
        "depth must be an integer in 1..1048576, got 0"
