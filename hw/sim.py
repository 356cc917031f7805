"""Test support for the hw components, mostly for ``amaranth.sim`` testbenches.

* :class:`Harness`: the simulator around a component, with a clock and a drivable synchronous reset.
* :func:`send` / :func:`receive`: valid/ready stream drivers with random idle and stall cycles that
  report the clock edge of every handshake (a handshake in cycle ``c`` is at edge ``c + 1``);
  :func:`send` drives a tile's joined input streams with independent producers.
* :func:`run_layers`: layers of vectors through a PE or tile, reconfigured between layers;
  :func:`run_with_reset`: a reset in the middle of the traffic.
* :func:`table_memory` / :func:`write_table`: the layer table of a standalone PE, and table
  loading through a tile's write port.
* :func:`random_codes`, :func:`dnateq_lanes`, :func:`int8_lanes`, :func:`pe_beats`,
  :func:`tile_beats`: stimulus: random layer codes, and stream beats (``docs/architecture.md`` §2)
  whose fields come from ``ExpCode.split``.
* :func:`raised`, :func:`rejection`: the exception (message) of a call that must fail.
"""

import gc
import warnings
from dataclasses import dataclass

from amaranth import ClockDomain, Module
from amaranth.hdl import UnusedElaboratable
from amaranth.sim import Simulator

from quant.expcode import ExpCode

__all__ = ["TRAFFIC", "Harness", "Clock", "Layer", "input_streams", "send", "receive", "run_layers",
           "run_with_reset", "table_memory", "write_table", "random_codes", "dnateq_lanes", "int8_lanes",
           "pe_beats", "tile_beats", "raised", "rejection"]

_DNATEQ_PADDING = {"zero": 1, "sign": 0, "exp": 0}

#: Traffic patterns: name -> (input idle probability, output stall probability), crossed.
TRAFFIC = {"steady": (0.0, 0.0), "idle": (0.4, 0.0), "backpressure": (0.0, 0.6), "both": (0.4, 0.6)}


class Harness:
    """A simulator of ``dut`` in a ``sync`` domain whose reset :attr:`reset` testbenches can drive."""

    def __init__(self, dut):
        m = Module()
        m.domains.sync = domain = ClockDomain()
        m.submodules.dut = dut
        self.reset = domain.rst
        self.sim = Simulator(m)
        self.sim.add_clock(1e-6)

    def run(self, *testbenches, processes=()):
        """Run the testbenches (coroutine functions of ``ctx``) to completion, with background processes."""
        for process in processes:
            self.sim.add_process(process)
        for testbench in testbenches:
            self.sim.add_testbench(testbench)
        self.sim.run()


class Clock:
    """Counts the edges one testbench has waited for, so every driver can report handshake edges."""

    def __init__(self):
        self.edges = 0

    async def tick(self, ctx, *signals):
        """Wait for the next edge; return ``signals`` as sampled at that edge."""
        _, _, *values = await ctx.tick().sample(*signals)
        self.edges += 1
        return values


def input_streams(dut):
    """The input streams of ``dut`` in beat order: ``(i,)``, or ``(w[0], ..., w[P-1], a)`` for a tile."""
    return (dut.i,) if hasattr(dut, "i") else (*dut.w, dut.a)


async def send(ctx, streams, beats, *, clock, rng=None, idle=0.0, timeout=20_000):
    """Drive ``beats`` (one payload per stream each) onto ``streams``; returns each beat's handshake edge.

    Each stream's producer idles before each of its payloads with probability ``idle``,
    independently of the others, and holds a presented payload until ``ready``.  The streams of a
    beat must be accepted together (a joint handshake), else ``AssertionError``; ``TimeoutError``
    after ``timeout`` edges without a handshake.
    """
    presented, position, edges = [False] * len(streams), [0] * len(streams), []
    last_progress = clock.edges
    while len(edges) < len(beats):
        if clock.edges - last_progress > timeout:
            raise TimeoutError(f"beat {len(edges)} of {len(beats)} not accepted in {timeout} cycles")
        for index, stream in enumerate(streams):
            if not presented[index] and not (rng is not None and rng.random() < idle):
                ctx.set(stream.payload, beats[position[index]][index])
                ctx.set(stream.valid, 1)
                presented[index] = True
        readies = await clock.tick(ctx, *(stream.ready for stream in streams))
        accepted = [shown and bool(ready) for shown, ready in zip(presented, readies)]
        if any(accepted):
            assert all(accepted), f"the streams of beat {len(edges)} were accepted apart: {accepted}"
            edges.append(last_progress := clock.edges)
            for index, stream in enumerate(streams):
                presented[index] = False
                position[index] += 1
                ctx.set(stream.valid, 0)
    return edges


async def receive(ctx, stream, count, log, *, clock, rng=None, stall=0.0, timeout=20_000):
    """Append ``(edge, payload)`` to ``log`` for ``count`` handshakes; ``ready`` is low with probability ``stall``.

    Raises ``TimeoutError`` after ``timeout`` edges without a handshake.
    """
    last_progress = clock.edges
    for received in range(count):
        while True:
            if clock.edges - last_progress > timeout:
                raise TimeoutError(f"payload {received} of {count} not received in {timeout} cycles")
            ready = rng is None or rng.random() >= stall
            ctx.set(stream.ready, ready)
            valid, payload = await clock.tick(ctx, stream.valid, stream.payload)
            if valid and ready:
                log.append((last_progress := clock.edges, payload))
                break
    ctx.set(stream.ready, 0)


@dataclass
class Layer:
    """Vectors of one layer: its ``beats``, the number of ``outputs`` they give, and ``configure``.

    A beat is a tuple of payloads, one per input stream (see :func:`input_streams`).
    ``configure`` (async, ``(ctx, clock)``) runs once every output of the previous layers is out.
    """

    beats: list
    outputs: int
    configure: object = None


def run_layers(dut, layers, *, rng=None, idle=0.0, stall=0.0, processes=()):
    """Stream the layers through ``dut`` (a PE or a tile); returns ``(in_edges, outputs)`` per layer.

    ``in_edges`` are the handshake edges of the layer's beats; ``outputs`` its ``(edge, payload)``.
    """
    in_edges, log = [], []

    async def source(ctx):
        clock, expected = Clock(), 0
        for layer in layers:
            while len(log) < expected:
                await clock.tick(ctx)
            if layer.configure is not None:
                await layer.configure(ctx, clock)
            in_edges.append(await send(ctx, input_streams(dut), layer.beats, clock=clock, rng=rng, idle=idle))
            expected += layer.outputs

    async def sink(ctx):
        await receive(ctx, dut.o, sum(layer.outputs for layer in layers), log, clock=Clock(), rng=rng,
                      stall=stall)

    Harness(dut).run(source, sink, processes=processes)
    outputs, start = [], 0
    for layer in layers:
        outputs.append(log[start:start + layer.outputs])
        start += layer.outputs
    return list(zip(in_edges, outputs))


def run_with_reset(dut, doomed, fresh, outputs, probes, *, configure=None, rng=None, idle=0.0, stall=0.0,
                   processes=()):
    """Send the ``doomed`` beats with the output blocked, reset for one cycle, then run ``fresh``.

    Returns ``({name: value of probes[name] right after the reset}, [(edge, payload)] of the fresh
    outputs)``.  ``configure`` (async, ``(ctx, clock)``) runs first only: reset keeps configuration.
    """
    harness = Harness(dut)
    state = {"probed": None, "log": []}

    async def source(ctx):
        clock = Clock()
        if configure is not None:
            await configure(ctx, clock)
        await send(ctx, input_streams(dut), doomed, clock=clock)
        ctx.set(harness.reset, 1)
        await clock.tick(ctx)
        ctx.set(harness.reset, 0)
        state["probed"] = {name: ctx.get(signal) for name, signal in probes.items()}
        await send(ctx, input_streams(dut), fresh, clock=clock, rng=rng, idle=idle)

    async def sink(ctx):
        clock = Clock()
        while state["probed"] is None:
            await clock.tick(ctx)
        await receive(ctx, dut.o, outputs, state["log"], clock=clock, rng=rng, stall=stall)

    harness.run(source, sink, processes=processes)
    return state["probed"], state["log"]


def table_memory(port, table):
    """A process modelling a synchronous read port: ``data <= table[addr]`` at each edge with ``en``.

    ``table`` is read at every access, so a test changes the layer by assigning into it.
    """
    async def process(ctx):
        async for _, _, addr, enable in ctx.tick().sample(port.addr, port.en):
            if enable:
                ctx.set(port.data, int(table[addr]))
    return process


async def write_table(ctx, port, table, clock):
    """Write every entry of ``table`` through a table write port, one per cycle."""
    for addr, value in enumerate(table):
        ctx.set(port.addr, addr)
        ctx.set(port.data, int(value))
        ctx.set(port.en, 1)
        await clock.tick(ctx)
    ctx.set(port.en, 0)


def random_codes(rng, arith, *, w_bits=None, a_bits=None, a_signed=False, zero_code=True):
    """Random weight and activation :class:`ExpCode` s of one layer that ``arith`` accepts.

    They share the base; ``beta`` is non-zero only when ``arith.offsets``.  The bit widths default
    to the widest codes the hardware takes.
    """
    base = rng.uniform(1.1, 2.5)
    beta = rng.uniform(0.001, 0.01) if arith.offsets else 0.0
    w_code = ExpCode(bits=w_bits or arith.exp_bits_w + 1, base=base, alpha=rng.uniform(0.01, 0.1),
                     beta=beta, zero_code=zero_code)
    a_code = ExpCode(bits=a_bits or arith.exp_bits_a + int(a_signed), base=base, alpha=rng.uniform(0.05, 0.5),
                     beta=2 * beta, signed=a_signed, zero_code=zero_code)
    return w_code, a_code


def _beats_of(elements, lanes, padding):
    return [elements[start:start + lanes] + [padding] * (start + lanes - len(elements))
            for start in range(0, len(elements), lanes)]


def dnateq_lanes(code, codes, lanes):
    """DNA-TEQ lanes ``{zero, sign, exp}`` of one vector of codes, per beat, padded with ``zero = 1``."""
    zero, sign, exp = code.split(codes)
    elements = [{"zero": int(z), "sign": int(s), "exp": int(e)} for z, s, e in zip(zero, sign, exp)]
    return _beats_of(elements, lanes, _DNATEQ_PADDING)


def int8_lanes(values, lanes):
    """INT8 lanes of one vector, per beat, padded with 0."""
    return _beats_of([int(v) for v in values], lanes, 0)


def pe_beats(weight_lanes, activation_lanes):
    """PE beats from per-beat weight and activation lanes (1-tuples: the payload of ``i``)."""
    last = len(weight_lanes) - 1
    return [({"w": w, "a": a, "last": int(b == last)},)
            for b, (w, a) in enumerate(zip(weight_lanes, activation_lanes, strict=True))]


def tile_beats(weight_lanes_per_pe, activation_lanes):
    """Tile beats: the weight lanes of every PE, then the shared activation lanes with ``last``."""
    last = len(activation_lanes) - 1
    return [(*weights, {"a": a, "last": int(b == last)})
            for b, (a, *weights) in enumerate(zip(activation_lanes, *weight_lanes_per_pe, strict=True))]


def raised(make, expected=ValueError):
    """The ``expected`` exception ``make()`` raises; ``AssertionError`` if it raises none.

    The exception comes without traceback or context, and the half-built components they held
    are collected here, without their "created but never used" warnings.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        try:
            make()
        except expected as err:
            error = err.with_traceback(None)
            error.__context__ = error.__cause__ = None
        else:
            raise AssertionError(f"no {expected.__name__} was raised")
        gc.collect()
    return error


def rejection(make):
    """The one-line message of the ``ValueError`` a constructor call ``make()`` must raise."""
    return str(raised(make))
