"""cocotb side of the benches: settings, clock and reset, stream drivers and monitors, the scoreboard.

Structure (as in cocotb's matrix_multiplier example): a :class:`StreamSource` drives beats with
random idle cycles, a :class:`StreamSink` applies random backpressure and pushes every accepted
output into a queue, the :class:`Scoreboard` pops them and compares each, bit for bit, with the
expected values that the transaction-level model, :mod:`quant.golden`, computed for the same
stimulus.  Every handshake is sampled in the ``ReadOnly`` phase before a clock edge and inputs
change right after the edge, which is correct whatever order the simulator updates registers in.
:class:`LayerBench` holds what every bench (PE/tile, accelerator) shares, :func:`layer_tests` the
cocotb tests they share.
"""

import json
import os
from collections import deque

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from verif.stimulus import VECTOR_DIR, Datapath, corner_layers, reconfiguration_layers, vector_layers

__all__ = ["settings", "bench_rng", "Manifest", "CycleCounter", "start_clock", "reset", "StreamSource",
           "StreamSink", "TableMemory", "Scoreboard", "LayerBench", "layer_tests"]

CLOCK_PERIOD_NS = 10


def settings():
    """The JSON settings :func:`verif.harness.run_bench` passed to this simulation."""
    return json.loads(os.environ["DNATEQ_BENCH"])


def bench_rng():
    """The bench's NumPy generator, seeded with cocotb's per-test seed (itself derived from the run's seed)."""
    return np.random.default_rng(cocotb.RANDOM_SEED)


class Manifest:
    """A variant's manifest.json."""

    def __init__(self, path):
        with open(path) as file:
            self.record = json.load(file)

    def __getitem__(self, key):
        return self.record[key]

    def port(self, dut, name, direction=None, module=None):
        """The handle of port ``name`` of ``module`` (default: the top), checked against the manifest."""
        ports = {port["name"]: port for port in self.record["ports"][module or self.record["top"]]}
        if name not in ports or direction not in (None, ports[name]["direction"]):
            raise AssertionError(f"manifest lists no {direction or ''} port {name!r} on {module or self.record['top']}: "
                                 f"{sorted(ports)}")
        handle = dut[name]
        if len(handle) != ports[name]["width"]:
            raise AssertionError(f"port {name} is {len(handle)} bits, the manifest says {ports[name]['width']}")
        return handle


class CycleCounter:
    """Counts clock edges since it was created."""

    def __init__(self, clock):
        self.count = 0
        self._clock = clock
        cocotb.start_soon(self._run())

    async def _run(self):
        while True:
            await RisingEdge(self._clock)
            self.count += 1


def start_clock(clock):
    Clock(clock, CLOCK_PERIOD_NS, unit="ns").start()


async def reset(clock, rst, cycles=2):
    """Synchronous reset, held for ``cycles`` clock edges."""
    rst.value = 1
    for _ in range(cycles):
        await RisingEdge(clock)
    rst.value = 0


class StreamSource:
    """Drives a valid/ready stream from a queue of packed payloads, with random idle cycles.

    Before each beat the source idles with probability ``idle`` per cycle; an offered beat
    (valid high) stays unchanged until it is accepted, as AXI4-Stream requires.
    """

    def __init__(self, clock, valid, ready, payload, rng, idle=0.0):
        self._clock, self._valid, self._ready, self._payload = clock, valid, ready, payload
        self._rng, self.idle = rng, idle
        self.queue = deque()
        self.accepted = 0
        self._offered = False
        self._valid.value = 0
        cocotb.start_soon(self._run())

    def send(self, payloads):
        self.queue.extend(payloads)

    @property
    def done(self):
        """True when every queued beat has been accepted."""
        return not self.queue and not self._offered

    def flush(self):
        """Forget queued and offered beats (for a reset in the middle of a stream)."""
        self.queue.clear()
        self._offered = False

    async def _run(self):
        while True:
            await RisingEdge(self._clock)
            if not self._offered and self.queue and not (self.idle and self._rng.random() < self.idle):
                self._payload.value = self.queue.popleft()
                self._offered = True
            self._valid.value = int(self._offered)
            await ReadOnly()
            if self._offered and self._ready.value:
                self.accepted += 1
                self._offered = False


class StreamSink:
    """Monitors a valid/ready stream into :attr:`queue`; ready drops with probability ``backpressure`` per cycle."""

    def __init__(self, clock, valid, ready, payload, rng, backpressure=0.0):
        self._clock, self._valid, self._ready, self._payload = clock, valid, ready, payload
        self._rng, self.backpressure = rng, backpressure
        self.queue = deque()
        self._ready.value = 0
        cocotb.start_soon(self._run())

    async def _run(self):
        while True:
            await RisingEdge(self._clock)
            ready = not (self.backpressure and self._rng.random() < self.backpressure)
            self._ready.value = int(ready)
            await ReadOnly()
            if ready and self._valid.value:
                self.queue.append(self._payload.value.to_unsigned())


class TableMemory:
    """Bench model of a synchronous table read port: ``data`` is ``T[addr]`` the cycle after ``en``, held otherwise."""

    def __init__(self, clock, en, addr, data):
        self._clock, self._en, self._addr, self._data = clock, en, addr, data
        self.contents = []
        cocotb.start_soon(self._run())

    async def _run(self):
        read = None
        while True:
            await RisingEdge(self._clock)
            if read is not None:
                self._data.value = int(self.contents[read]) if read < len(self.contents) else 0
            await ReadOnly()
            read = self._addr.value.to_unsigned() if self._en.value else None


class Scoreboard:
    """Compares the monitored outputs, in order, with expected ones; collects readable mismatches.

    Each expected entry is ``(label, values)``: the label says which layer, row block and column
    it belongs to, ``values`` is one golden integer per PE of the output beat.
    """

    def __init__(self, seed, variant, width, max_reported=20):
        self.expected = deque()
        self.mismatches = []
        self.checked_outputs = 0
        self.elements = 0
        self.saturated = 0           # expected values at either output limit (saturation coverage)
        self._seed, self._variant, self._max_reported = seed, variant, max_reported
        self._digits, self._mask = -(-width // 4), (1 << width) - 1
        self._limits = (-(1 << (width - 1)), (1 << (width - 1)) - 1)

    def expect(self, label, values, elements):
        """Queue the golden ``values`` of one output beat, worth ``elements`` dot-product terms."""
        values = [int(v) for v in values]
        self.saturated += sum(value in self._limits for value in values)
        self.expected.append((label, values, elements))

    def check(self, got_values):
        """Compare one received output beat (one integer per PE) with the oldest expected one."""
        if not self.expected:
            self.fail(f"unexpected output {got_values}: nothing more was expected")
            return
        label, want, elements = self.expected.popleft()
        bad = [(pe, w, g) for pe, (w, g) in enumerate(zip(want, got_values)) if w != g]
        for pe, w, g in bad:
            self.fail(f"{label} PE {pe}: expected {w} (0x{w & self._mask:0{self._digits}x}), "
                           f"got {g} (0x{g & self._mask:0{self._digits}x})")
        self.checked_outputs += 1
        if not bad:
            self.elements += elements

    def fail(self, text):
        """Record a failure (reported, with the mismatches, by :meth:`finish`)."""
        self.mismatches.append(text)

    def finish(self):
        """Fail with every mismatch (and anything still expected) listed, the seed and the variant."""
        missing = [label for label, _, _ in self.expected]
        if missing:
            self.fail(f"{len(missing)} expected outputs never arrived, first: {missing[:3]}")
        if self.mismatches:
            shown = "\n  ".join(self.mismatches[:self._max_reported])
            more = len(self.mismatches) - self._max_reported
            raise AssertionError(f"{len(self.mismatches)} mismatches against quant.golden on {self._variant} "
                                 f"(seed {self._seed}):\n  {shown}" + (f"\n  ... and {more} more" if more > 0 else ""))


class LayerBench:
    """What every bench has: settings, manifest, datapath, generator, clock, reset, cycle count, scoreboard.

    A subclass adds its drivers and monitors, ``rows`` (outputs of the layers it generates),
    ``vector_cut`` (the ``(rows, columns)`` of a real layer it runs, None: all) and
    ``run_layer(layer)``; :func:`layer_tests` builds the cocotb tests every bench shares.
    """

    def __init__(self, dut):
        self.settings = settings()
        self.manifest = Manifest(self.settings["manifest"])
        self.datapath = Datapath.from_manifest(self.manifest)
        self.rng = bench_rng()
        self.clock = self.manifest.port(dut, "clk", "input")
        self.rst = self.manifest.port(dut, "rst", "input")
        start_clock(self.clock)
        self.cycles = CycleCounter(self.clock)
        self.scoreboard = Scoreboard(self.settings["seed"], self.settings["variant"],
                                     self.manifest["arith"]["out_width"])
        self.skipped_vectors = []

    @classmethod
    async def started(cls, dut):
        """A bench around ``dut``, after a reset."""
        bench = cls(dut)
        await reset(bench.clock, bench.rst)
        return bench

    async def run(self, layers):
        for layer in layers:
            await self.run_layer(layer)

    def finish(self, **report):
        """Write the report (elements checked, seed, cycles, ...), then fail on any mismatch."""
        with open(self.settings["report"], "w") as file:
            json.dump({"seed": self.settings["seed"], "variant": self.settings["variant"],
                       "elements": self.scoreboard.elements, "cycles": self.cycles.count,
                       "outputs": self.scoreboard.checked_outputs, "saturated": self.scoreboard.saturated,
                       "skipped_vectors": self.skipped_vectors, **report}, file)
        self.scoreboard.finish()


def layer_tests(bench_class):
    """The cocotb tests that run a list of layers, for one bench class (assign them at module level)."""

    async def corners(dut):
        """Named corner cases (verif.stimulus): zeros, extreme exponents, every bin, signs, maximum
        length, chunk and lane boundaries, saturation."""
        bench = await bench_class.started(dut)
        await bench.run(corner_layers(bench.datapath, bench.rng, bench.rows))
        bench.finish()

    async def reconfiguration(dut):
        """Layers with different code widths, signedness, zero codes and tables, back to back."""
        bench = await bench_class.started(dut)
        await bench.run(reconfiguration_layers(bench.datapath, bench.rng, bench.rows))
        bench.finish()

    async def real_layers(dut):
        """Real network layers from verif/vectors/*.npz (or the ``vectors`` setting's folder),
        recompiled for this variant."""
        bench = await bench_class.started(dut)
        layers, bench.skipped_vectors = vector_layers(bench.datapath, *bench.vector_cut,
                                                      bench.settings.get("vectors", VECTOR_DIR))
        await bench.run(layers)
        bench.finish()

    return tuple(cocotb.test(name=test.__name__)(test) for test in (corners, reconfiguration, real_layers))
