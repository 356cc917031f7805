"""``amaranth.sim`` support for the accelerator: an AXI4-Lite manager, AXI4-Stream feeders, whole layers.

:func:`run_accelerator` runs layers (:class:`hw.driver.LayerTransactions`) through an
accelerator the way a host would: a host testbench writes the registers and polls ``STATUS``,
while one producer per input stream and a consumer of ``m_axis_y`` (random idle and stall
cycles, from :mod:`hw.sim`) move the packets.
"""

from dataclasses import dataclass
from types import SimpleNamespace

from amaranth import Cat

from .sim import Clock, Harness, receive, send

__all__ = ["axis_port", "packet_beats", "axil_write", "axil_read", "LayerResult", "run_accelerator"]


def axis_port(dut, prefix):
    """The flat AXI4-Stream port ``prefix_*`` of ``dut`` as a stream for :func:`hw.sim.send` / :func:`hw.sim.receive`.

    Its payload is ``{TLAST, TDATA}``: a word with TLAST is ``word | 1 << data_width``.
    """
    data = getattr(dut, f"{prefix}_tdata")
    return SimpleNamespace(payload=Cat(data, getattr(dut, f"{prefix}_tlast")), valid=getattr(dut, f"{prefix}_tvalid"),
                           ready=getattr(dut, f"{prefix}_tready"), width=len(data))


def packet_beats(port, packets):
    """:func:`hw.sim.send` beats of ``packets`` (lists of words) on ``port``: TLAST on the last word of each."""
    return [(word | (index == len(packet) - 1) << port.width,) for packet in packets
            for index, word in enumerate(packet)]


async def _handshake(ctx, clock, valid, ready):
    """Hold ``valid`` until ``ready`` is sampled high at an edge."""
    ctx.set(valid, 1)
    while not (await clock.tick(ctx, ready))[0]:
        pass
    ctx.set(valid, 0)


async def axil_write(ctx, dut, offset, value, *, clock, strobe=0xF):
    """One AXI4-Lite write (address and data together); returns ``BRESP``."""
    ctx.set(dut.s_axil_awaddr, offset)
    ctx.set(dut.s_axil_wdata, value)
    ctx.set(dut.s_axil_wstrb, strobe)
    ctx.set(dut.s_axil_wvalid, 1)
    await _handshake(ctx, clock, dut.s_axil_awvalid, dut.s_axil_awready)
    ctx.set(dut.s_axil_wvalid, 0)
    ctx.set(dut.s_axil_bready, 1)
    while True:
        valid, resp = await clock.tick(ctx, dut.s_axil_bvalid, dut.s_axil_bresp)
        if valid:
            ctx.set(dut.s_axil_bready, 0)
            return resp


async def axil_read(ctx, dut, offset, *, clock):
    """One AXI4-Lite read; returns ``(RDATA, RRESP)``."""
    ctx.set(dut.s_axil_araddr, offset)
    await _handshake(ctx, clock, dut.s_axil_arvalid, dut.s_axil_arready)
    ctx.set(dut.s_axil_rready, 1)
    while True:
        valid, data, resp = await clock.tick(ctx, dut.s_axil_rvalid, dut.s_axil_rdata, dut.s_axil_rresp)
        if valid:
            ctx.set(dut.s_axil_rready, 0)
            return data, resp


@dataclass
class LayerResult:
    """What a layer gave: output ``words`` (in order) with their ``edges`` and ``lasts``, the final
    ``STATUS`` fields, the ``CYCLES`` register, and the edges of the start write and of ``done``."""

    words: list
    edges: list
    lasts: list
    status: dict
    cycles: int
    start_edge: int
    done_edge: int


def run_accelerator(dut, driver, layers, *, rng=None, idle=0.0, stall=0.0, prelude=None, after_start=None,
                    timeout=100_000):
    """Run ``layers`` (LayerTransactions) one after the other; returns a :class:`LayerResult` per layer.

    The host writes a layer's registers, lets the streams go, writes ``CTRL.start`` and polls
    ``STATUS`` until ``done`` (``TimeoutError`` after ``timeout`` cycles).  ``prelude`` (async,
    ``(ctx, clock, harness)``) runs on the host before the first layer, with every stream idle (to
    drive a layer by hand, or a reset); ``after_start`` (async, ``(ctx, clock)``) right after each
    start, while the layer runs.
    """
    harness = Harness(dut)
    weights, activations, outputs = (axis_port(dut, prefix) for prefix in ("s_axis_w", "s_axis_a", "m_axis_y"))
    state = {"layer": -1, "host": [], "outputs": []}

    async def host(ctx):
        clock = Clock()
        if prelude is not None:
            await prelude(ctx, clock, harness)
        for index, layer in enumerate(layers):
            *config, start = layer.register_writes
            for write in config:
                await axil_write(ctx, dut, write.offset, write.value, clock=clock)
            state["layer"] = index                       # the streams present their first beats now
            await axil_write(ctx, dut, start.offset, start.value, clock=clock)
            start_edge = clock.edges
            if after_start is not None:
                await after_start(ctx, clock)
            while True:
                status = driver.decode("STATUS", (await axil_read(ctx, dut, driver.offset("STATUS"), clock=clock))[0])
                if status["done"]:
                    break
                if clock.edges - start_edge > timeout:
                    raise TimeoutError(f"layer {index} not done {timeout} cycles after its start")
            cycles, _ = await axil_read(ctx, dut, driver.offset("CYCLES"), clock=clock)
            state["host"].append((status, cycles, start_edge, clock.edges))

    def feeder(port, packets_of):
        async def feed(ctx):
            clock = Clock()
            for index, layer in enumerate(layers):
                while state["layer"] < index:
                    await clock.tick(ctx)
                await send(ctx, [port], packet_beats(port, packets_of(layer)), clock=clock, rng=rng, idle=idle)
        return feed

    async def sink(ctx):
        clock = Clock()
        for index, layer in enumerate(layers):
            while state["layer"] < index:
                await clock.tick(ctx)
            log = []
            await receive(ctx, outputs, layer.output_beats, log, clock=clock, rng=rng, stall=stall)
            state["outputs"].append(log)

    harness.run(host, feeder(weights, lambda layer: layer.weight_packets),
                feeder(activations, lambda layer: layer.activation_packets), sink)
    mask = (1 << outputs.width) - 1
    return [LayerResult([word & mask for _, word in log], [edge for edge, _ in log],
                        [word >> outputs.width for _, word in log], *host_record)
            for log, host_record in zip(state["outputs"], state["host"])]
