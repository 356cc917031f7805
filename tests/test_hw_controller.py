"""Controller alone: the loop order of every walker (weight writes, beats, output beats), refused starts, framing."""

import pytest

from hw import Controller
from hw.controller import Cause
from hw.sim import Clock, Harness, receive, rejection, send

SHAPE = {"tiles": 2, "pes_per_tile": 3, "lanes": 4, "weight_depth": 8, "activation_depth": 5, "output_depth": 3,
         "max_vector_length": 30}
RESULT_LATENCY = 4     # cycles from a vector's last beat to the fake tiles' result


def ceil_div(a, b):
    return -(-a // b)


def loop_order(m, n, k, *, tiles, pes_per_tile, lanes, **_):
    """The documented order, written out: weight writes ``(tile, entry)``, beats ``(entry, last, live lanes)``
    and output beats ``(tile, last)``."""
    beats = ceil_div(n, lanes)
    blocks = [min(tiles, ceil_div(m - start, pes_per_tile)) for start in range(0, m, tiles * pes_per_tile)]
    weights = [(tile, beat) for active in blocks for tile in range(active) for beat in range(beats)]
    issue = [(beat, beat == beats - 1, lanes if beat < beats - 1 else n - beat * lanes)
             for _ in blocks for _ in range(k) for beat in range(beats)]
    outputs = [(tile, index == len(blocks) * k - 1 and tile == active - 1)
               for index, active in enumerate(block for block in blocks for _ in range(k)) for tile in range(active)]
    packets = {"weights": [active * beats for active in blocks], "activations": [beats] * (len(blocks) * k)}
    return weights, issue, outputs, packets


def beats_of(packets, wrong_last=()):
    """Stream beats with ``last`` at the end of each packet (and flipped at the beats in ``wrong_last``)."""
    lasts = [index == size - 1 for size in packets for index in range(size)]
    return [({"last": int(last != (position in wrong_last))},) for position, last in enumerate(lasts)]


def run(dut, m, n, k, *, rng=None, idle=0.0, stall=0.0, format_error=0, wrong_last=(), refused=False):
    """One layer through the controller with fake tiles; returns what every walker did and the status.

    A ``refused`` start gets no stream traffic.
    """
    _, _, expected_outputs, packets = loop_order(m, n, k, **SHAPE) if not refused else ((), (), [], {})
    record = {"weights": [], "activation_writes": [], "issue": [], "outputs": [], "status": None}

    async def host(ctx):
        clock = Clock()
        ctx.set(dut.shape, {"m": m, "n": n, "k": k})
        ctx.set(dut.format_error, format_error)
        ctx.set(dut.start, 1)
        await clock.tick(ctx)
        ctx.set(dut.start, 0)
        while not (await clock.tick(ctx, dut.status))[0].done:
            assert clock.edges < 20_000, "the layer never ended"
        record["status"] = ctx.get(dut.status)

    def producer(stream, name):
        async def feed(ctx):
            await send(ctx, [stream], beats_of(packets.get(name, []), wrong_last if name == "weights" else ()),
                       clock=Clock(), rng=rng, idle=idle)
        return feed

    async def sink(ctx):
        await receive(ctx, dut.outputs, len(expected_outputs), record["outputs"], clock=Clock(), rng=rng, stall=stall)

    async def tiles(ctx):
        """Takes beats when it likes; a result for every vector, RESULT_LATENCY cycles after its last beat."""
        cycle, due, held = 0, [], None
        while True:
            ctx.set(dut.beat.ready, rng is None or rng.random() >= stall)
            ctx.set(dut.result_valid, bool(due) and due[0] <= cycle)
            (_, _, beat_valid, beat_ready, beat, result_valid, result_ready, read, w_read, a_read, w_write_en,
             w_write, a_write_en, a_write) = await ctx.tick().sample(
                dut.beat.valid, dut.beat.ready, dut.beat.payload, dut.result_valid, dut.result_ready,
                dut.weight_read.en, dut.weight_read.addr, dut.activation_read.addr, dut.weight_write.en,
                dut.weight_write.addr, dut.activation_write.en, dut.activation_write.addr)
            if beat_valid and beat_ready:       # its data were read at the last read enable before this cycle
                record["issue"].append((held[0], bool(beat.last), beat.live_lanes, held[1]))
                if beat.last:
                    due.append(cycle + RESULT_LATENCY)
            if read:
                held = (w_read, a_read)
            if result_valid and result_ready:
                due.pop(0)
            if w_write_en:
                record["weights"].append((w_write_en.bit_length() - 1, w_write))
            if a_write_en:
                record["activation_writes"].append(a_write)
            cycle += 1

    Harness(dut).run(host, producer(dut.weights, "weights"), producer(dut.activations, "activations"), sink,
                     processes=[tiles])
    record["outputs"] = [(payload.tile, bool(payload.last)) for _, payload in record["outputs"]]
    return record


@pytest.mark.parametrize("m,n,k,traffic", [(13, 10, 3, 0.0), (6, 4, 2, 0.0), (2, 1, 4, 0.3), (20, 30, 1, 0.3),
                                           (7, 9, 5, 0.5)])
def test_walkers_follow_the_loop_order(rng, m, n, k, traffic):
    dut = Controller(**SHAPE, prefix="test")
    record = run(dut, m, n, k, rng=rng, idle=traffic, stall=traffic)
    weights, issue, outputs, _ = loop_order(m, n, k, **SHAPE)
    depth = SHAPE["activation_depth"]
    assert record["weights"] == weights
    assert [beat[:3] for beat in record["issue"]] == issue
    # The activation buffer is a FIFO: beats are written and read in arrival order, around its depth.
    assert record["activation_writes"] == [index % depth for index in range(len(issue))]
    assert [beat[3] for beat in record["issue"]] == [index % depth for index in range(len(issue))]
    assert record["outputs"] == outputs
    assert (record["status"].busy, record["status"].done, record["status"].error) == (0, 1, 0)


@pytest.mark.parametrize("m,n,k,format_error,weight_depth,cause", [
    (0, 4, 1, 0, 8, Cause.EMPTY), (3, 0, 1, 0, 8, Cause.EMPTY), (3, 4, 0, 0, 8, Cause.EMPTY),
    (3, 31, 1, 0, 8, Cause.TOO_LONG),            # beyond max_vector_length (30)
    (3, 21, 1, 0, 5, Cause.TOO_LONG),            # beyond the weight buffer (5 entries of 4 lanes)
    (3, 4, 1, 1, 8, Cause.FORMAT)])
def test_a_refused_start_sets_done_error_and_cause_and_takes_nothing(m, n, k, format_error, weight_depth, cause):
    dut = Controller(**{**SHAPE, "weight_depth": weight_depth}, prefix="test")
    assert dut.max_n == min(30, 4 * weight_depth)
    record = run(dut, m, n, k, format_error=format_error, refused=True)
    status = record["status"]
    assert (status.busy, status.done, status.error, status.cause) == (0, 1, 1, cause)
    assert record["weights"] == [] and record["issue"] == [] and record["outputs"] == []


def test_a_misplaced_tlast_is_reported_after_the_layer_ran_to_its_end(rng):
    dut = Controller(**SHAPE, prefix="test")
    record = run(dut, 7, 9, 2, rng=rng, wrong_last=(1,))
    weights, issue, outputs, _ = loop_order(7, 9, 2, **SHAPE)
    assert (record["weights"], [beat[:3] for beat in record["issue"]], record["outputs"]) == (weights, issue, outputs)
    assert (record["status"].done, record["status"].error, record["status"].cause) == (1, 1, Cause.FRAMING)


@pytest.mark.parametrize("options,message", [
    ({"activation_depth": 1}, "activation_depth must be an integer in 2..1048576, got 1"),
    ({"tiles": 0}, "tiles must be an integer in 1..65535, got 0"),
    ({"max_vector_length": 0}, "max_vector_length must be an integer in 1..16777216, got 0"),
])
def test_constructor_arguments_are_validated(options, message):
    assert rejection(lambda: Controller(**{**SHAPE, **options}, prefix="test")) == message
