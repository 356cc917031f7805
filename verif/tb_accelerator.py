"""cocotb bench of the accelerator of either kind, driven like a host would: AXI4-Lite and AXI4-Stream.

The host side is the project's own driver (:class:`hw.driver.Driver`, the single definition of
the register writes and of the stream packing, built from the manifest); cocotbext-axi moves its
transactions: an ``AxiLiteMaster`` writes the layer registers and the table and starts the
layer, two ``AxiStreamSource`` feed the weight and activation packets (concurrently, each with
its own random pauses) and an ``AxiStreamSink`` with random backpressure collects ``Y``.  The
scoreboard compares every output column of every row block with quant.golden, and the cycles of
each layer (measured here and read from the ``CYCLES`` register) go to the report.
"""

import dataclasses

import cocotb
from cocotb.triggers import ClockCycles, First
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiResp, AxiStreamBus, AxiStreamFrame, AxiStreamSink,
                           AxiStreamSource)

from hw.controller import Cause
from hw.driver import Driver
from verif.bench import LayerBench, layer_tests, reset
from verif.stimulus import random_layers, reconfiguration_layers


#: Cycles the CYCLES register ("from the start to the end of the layer") may differ from the
#: bench's count from the CTRL write's response to the last output beat (handshake edges).
CYCLES_SLACK = 2


def _pauses(rng, probability):
    """A cocotbext-axi pause generator: pause each cycle with ``probability``."""
    while True:
        yield bool(probability) and rng.random() < probability


class AcceleratorBench(LayerBench):
    """AXI master, sources and sink around the accelerator, and the per-layer cycle record."""

    def __init__(self, dut):
        super().__init__(dut)
        self.driver = Driver(self.manifest.record)
        self.datapath = dataclasses.replace(self.datapath, max_n=self.driver.max_n)
        self.drain_cycles = self.manifest["drain"]["cycles"] if self.datapath.kind == "dnateq" else 0
        self.axil = AxiLiteMaster(self._bus(dut, "s_axil", AxiLiteBus), self.clock, self.rst)
        self.weights = AxiStreamSource(self._bus(dut, "s_axis_w", AxiStreamBus), self.clock, self.rst, byte_lanes=1)
        self.activations = AxiStreamSource(self._bus(dut, "s_axis_a", AxiStreamBus), self.clock, self.rst,
                                           byte_lanes=1)
        self.outputs = AxiStreamSink(self._bus(dut, "m_axis_y", AxiStreamBus), self.clock, self.rst, byte_lanes=1)
        idle = self.settings.get("idle", 0.0)
        self.weights.set_pause_generator(_pauses(self.rng, idle))
        self.activations.set_pause_generator(_pauses(self.rng, idle))
        self.outputs.set_pause_generator(_pauses(self.rng, self.settings.get("backpressure", 0.0)))
        self.rows = self.driver.rows_per_block * self.settings.get("row_blocks", 1) + self.settings.get("extra_rows", 0)
        self.vector_cut = (None, None)          # whole real layers
        self.layer_cycles = []

    def _bus(self, dut, interface, bus_class):
        """A cocotbext-axi bus on the port names the manifest lists for ``interface`` (each one checked)."""
        ports = self.manifest["axi"][interface]["ports"]
        prefix = f"{interface}_"
        for signal, name in ports.items():
            if name != prefix + signal:
                raise AssertionError(f"{interface}.{signal} is port {name}, not {prefix}{signal}")
            self.manifest.port(dut, name)
        return bus_class.from_prefix(dut, interface)

    async def write(self, offset, value, name):
        response = await self.axil.write(offset, int(value).to_bytes(4, "little"))
        if response.resp != AxiResp.OKAY:
            raise AssertionError(f"AXI4-Lite write of {name} (0x{offset:03x}) answered {response.resp}")

    async def read(self, name):
        response = await self.axil.read(self.driver.offset(name), 4)
        if response.resp != AxiResp.OKAY:
            raise AssertionError(f"AXI4-Lite read of {name} answered {response.resp}")
        return self.driver.decode(name, int.from_bytes(response.data, "little"))

    def transactions(self, layer):
        if layer.program is None:
            return self.driver.int8_layer(layer.w, layer.a)
        return self.driver.dnateq_layer(layer.program, layer.w, layer.a)

    async def run_layer(self, layer, cause=Cause.NONE):
        """Registers, start, both streams fed concurrently, results read and checked against quant.golden.

        ``STATUS`` must then read done with ``cause`` (an error unless NONE); with
        ``cause=Cause.FRAMING`` every weight packet is sent as two frames (an early TLAST).
        """
        transactions = self.transactions(layer)
        m, n, k = transactions.shape
        expected = layer.expected()
        for write in transactions.register_writes:
            await self.write(write.offset, write.value, write.name)
        started = self.cycles.count
        for packet in transactions.weight_packets:
            cut = len(packet) // 2 if cause == Cause.FRAMING and len(packet) > 1 else len(packet)
            for frame in (packet[:cut], packet[cut:]):
                if frame:
                    await self.weights.send(AxiStreamFrame(frame))
        for packet in transactions.activation_packets:
            await self.activations.send(AxiStreamFrame(packet))
        frame = await self._receive(transactions)
        finished = self.cycles.count
        if frame is None:
            self.finish()           # fails with the stall recorded
        y = self.driver.decode_outputs(frame.tdata, m, k).tolist()
        rows = self.driver.rows_per_block
        for first in range(0, m, rows):
            block = slice(first, min(first + rows, m))
            for column in range(k):
                label = f"layer {layer.name!r} rows {first}..{block.stop - 1} column {column}"
                self.scoreboard.expect(label, expected[block, column], (block.stop - first) * n)
                self.scoreboard.check([row[column] for row in y[block]])
        status = await self.read("STATUS")
        wanted = {"busy": 0, "done": 1, "error": int(cause != Cause.NONE), "cause": cause}
        if status != wanted:
            self.scoreboard.fail(f"layer {layer.name!r}: STATUS after the last output is {status}, not {wanted}")
        counted = (await self.read("CYCLES"))["cycles"]
        if abs(counted - (finished - started)) > CYCLES_SLACK:
            self.scoreboard.fail(f"layer {layer.name!r}: CYCLES reads {counted}, the bench counted "
                                 f"{finished - started} from the start write to the last output beat")
        self.layer_cycles.append({"layer": layer.name, "M": m, "N": n, "K": k, "cycles": finished - started,
                                  "cycles_register": counted, "elements": m * n * k,
                                  "elements_per_cycle": round(m * n * k / (finished - started), 3)})

    async def _receive(self, transactions):
        """The layer's output frame (TLAST on its last beat), or None after a timeout or a wrong length (recorded).

        The timeout allows 20 times the cycles of a layer whose every vector waits for a whole drain.
        """
        m, n, k = transactions.shape
        vectors = transactions.output_beats // self.driver.tiles + k
        per_vector = -(-n // self.driver.lanes) + self.drain_cycles + self.manifest["latency"]["accelerator"]
        budget = 20 * (vectors * per_vector + transactions.output_beats) + 5000
        receive = cocotb.start_soon(self.outputs.recv())
        await First(receive, ClockCycles(self.clock, budget))
        if not receive.done():
            receive.cancel()
            self.scoreboard.fail(f"layer {m}x{n}x{k}: no complete output frame after {budget} cycles")
            return None
        frame = receive.result()
        if len(frame.tdata) != transactions.output_beats:
            self.scoreboard.fail(f"output frame has {len(frame.tdata)} beats, the layer {transactions.output_beats}")
            return None
        return frame

    def finish(self):
        super().finish(layers=self.layer_cycles)


corners, reconfiguration, real_layers = layer_tests(AcceleratorBench)


@cocotb.test()
async def random_traffic(dut):
    """Random layers of random shape: M from 1 to two row blocks and more (partial blocks and tiles), K 1..8."""
    bench = await AcceleratorBench.started(dut)
    options = bench.settings
    for index in range(options["layers"]):
        rows = int(bench.rng.integers(1, 2 * bench.driver.rows_per_block + 4))
        layer, = random_layers(bench.datapath, bench.rng, rows, 1, max_n=options.get("max_n"),
                               k=int(bench.rng.integers(1, 9)))
        layer.name = f"random{index}"
        await bench.run_layer(layer)
    bench.finish()


@cocotb.test()
async def framing_error(dut):
    """An early TLAST on the weight stream is reported (STATUS.cause FRAMING) and the layer still runs exactly."""
    bench = await AcceleratorBench.started(dut)
    layer, = random_layers(bench.datapath, bench.rng, bench.rows, 1, max_n=8 * bench.driver.lanes)
    await bench.run_layer(layer, cause=Cause.FRAMING)
    await bench.run_layer(layer)
    bench.finish()


@cocotb.test()
async def reset_mid_layer(dut):
    """Reset while a layer streams; the next layer (registers rewritten) must come out exact."""
    bench = await AcceleratorBench.started(dut)
    first, second = reconfiguration_layers(bench.datapath, bench.rng, bench.rows)[:2]
    transactions = bench.transactions(first)
    for write in transactions.register_writes:
        await bench.write(write.offset, write.value, write.name)
    for packet in transactions.weight_packets:
        await bench.weights.send(AxiStreamFrame(packet))
    await bench.activations.send(AxiStreamFrame(transactions.activation_packets[0]))
    await ClockCycles(bench.clock, int(bench.rng.integers(5, 40)))
    await reset(bench.clock, bench.rst, cycles=int(bench.rng.integers(1, 4)))
    await ClockCycles(bench.clock, 2)
    if bench.outputs.count():
        bench.scoreboard.fail(f"{bench.outputs.count()} output frames left from the interrupted layer")
    await bench.run([second])
    bench.finish()


@cocotb.test()
async def refused_starts(dut):
    """A layer the hardware cannot run is refused with the documented cause; the next one runs.

    Causes: ``M = 0`` (EMPTY), ``N = MAX_N + 1`` (TOO_LONG) and, for DNA-TEQ, a weight code one bit
    wider than ``DATAPATH.w_code_bits`` (FORMAT).
    """
    bench = await AcceleratorBench.started(dut)
    layer, = random_layers(bench.datapath, bench.rng, bench.rows, 1, max_n=16)
    *configuration, start = bench.transactions(layer).register_writes        # CTRL.start comes last
    refusals = [("M", {"m": 0}, Cause.EMPTY), ("N", {"n": bench.driver.max_n + 1}, Cause.TOO_LONG)]
    if layer.program is not None:
        codes = {f["name"] for f in bench.driver.register("CODES")["fields"]}
        fields = {name: value for name, value in layer.program.registers().items() if name in codes}
        fields.update(w_bits=bench.driver.field_value("DATAPATH", "w_code_bits") + 1, w_signed=1)
        refusals.append(("CODES", fields, Cause.FORMAT))
    for name, fields, cause in refusals:
        for write in configuration:
            await bench.write(write.offset, write.value, write.name)
        await bench.write(bench.driver.offset(name), bench.driver.encode(name, **fields), name)
        await bench.write(start.offset, start.value, start.name)
        status = await bench.read("STATUS")
        wanted = {"busy": 0, "done": 1, "error": 1, "cause": cause}
        if status != wanted:
            bench.scoreboard.fail(f"{name} = {fields}: STATUS {status}, not {wanted}")
    await bench.run([layer])
    bench.finish()
