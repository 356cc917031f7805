"""cocotb bench of a PE or a tile of either kind: layers in as beats, ``Y`` out, checked against quant.golden.

A lone PE is a one-PE array with a single input stream; a tile has a weight stream per PE and
a broadcast activation stream, each driven by its own source with its own idle cycles (see
:mod:`verif.layouts`).  A lone DNA-TEQ PE's table read port is served by the bench
(:class:`~verif.bench.TableMemory`); a tile's table is written through its ``table_write`` port.
The tests are selected by name from pytest (``verif/test_array.py``).
"""

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge

from hw.interfaces import unpack_signed
from verif.beats import layer_vectors, pack
from verif.bench import LayerBench, StreamSink, StreamSource, TableMemory, layer_tests, reset
from verif.layouts import array_ports
from verif.stimulus import random_layers, reconfiguration_layers


class ArrayBench(LayerBench):
    """A source per input stream, the output monitor and, for a lone DNA-TEQ PE, the table memory."""

    def __init__(self, dut):
        super().__init__(dut)
        self.ports = array_ports(dut, self.manifest)
        idle = self.settings.get("idle", 0.0)
        self.sources = [StreamSource(self.clock, stream.valid, stream.ready, stream.payload, self.rng, idle=idle)
                        for stream in self.ports.inputs]
        self.sink = StreamSink(self.clock, self.ports.o_valid, self.ports.o_ready, self.ports.o_payload,
                               self.rng, backpressure=self.settings.get("backpressure", 0.0))
        self.table = (TableMemory(self.clock, self.ports.table_en, self.ports.table_addr, self.ports.table_data)
                      if self.ports.table_en is not None else None)
        self.pes = self.ports.pes
        self.rows = self.pes * self.settings.get("row_blocks", 1)
        self.vector_cut = (self.rows, self.settings.get("columns", 4))
        cocotb.start_soon(self._check_outputs())

    async def _check_outputs(self):
        width = self.ports.out_width
        while True:
            await RisingEdge(self.clock)
            while self.sink.queue:
                self.scoreboard.check(unpack_signed(self.sink.queue.popleft(), width, self.pes))

    async def configure(self, layer):
        """Load the layer's table and shift (DNA-TEQ; INT8 has no layer settings)."""
        program = layer.program
        if program is None:
            return
        self.ports.shift.value = program.shift
        if self.table is not None:
            self.table.contents = list(program.table)
            return
        for address, entry in enumerate(program.table):
            self.ports.table_write_en.value = 1
            self.ports.table_write_addr.value = address
            self.ports.table_write_data.value = int(entry)
            await RisingEdge(self.clock)
        self.ports.table_write_en.value = 0

    def queue(self, layer, first_beats=None):
        """Queue the layer's beats (only the first ``first_beats`` if given) and its expected outputs."""
        vectors = layer_vectors(layer, self.pes, self.datapath.lanes)
        beats = len(vectors.payload["last"]) if first_beats is None else first_beats
        complete = len(vectors.labels) * beats // len(vectors.payload["last"])
        expected = vectors.expected[:complete].copy()
        if self.settings.get("flip_expected_bit") and expected.size:
            expected[0, -1] ^= 1          # self-check of the checker: this run must fail
        for label, values in zip(vectors.labels, expected):
            self.scoreboard.expect(label, values, vectors.elements_per_vector)
        for source, stream in zip(self.sources, self.ports.inputs):
            source.send(pack(stream.layout, stream.select(vectors.payload))[:beats])

    @property
    def inputs_done(self):
        return all(source.done for source in self.sources)

    async def settle(self):
        """Wait until every queued beat went in and every expected output came out.

        Fails if nothing moves (no beat accepted, no output received) for longer than a drain of
        every bank and the pipeline could ever take, so a hung design cannot pass silently.
        """
        patience = 20 * (self.ports.drain_cycles + self.ports.latency) + 1000
        progress, last_move = None, self.cycles.count
        while not (self.inputs_done and not self.scoreboard.expected):
            now = (sum(source.accepted for source in self.sources), self.scoreboard.checked_outputs)
            if now != progress:
                progress, last_move = now, self.cycles.count
            elif self.cycles.count - last_move > patience:
                self.scoreboard.fail(f"no progress for {patience} cycles with "
                                     f"{sum(len(source.queue) for source in self.sources)} beats queued")
                self.finish()
            await RisingEdge(self.clock)
        await ClockCycles(self.clock, self.ports.latency + 2)     # let a stray extra output show up

    async def run_layer(self, layer, configure=True):
        """Configure while idle, stream all the layer's vectors back to back, check every output."""
        if configure:
            await self.configure(layer)
        self.queue(layer)
        await self.settle()


corners, reconfiguration, real_layers = layer_tests(ArrayBench)


@cocotb.test()
async def random_traffic(dut):
    """Random layers (codes, widths, tables, lengths) back to back."""
    bench = await ArrayBench.started(dut)
    options = bench.settings
    await bench.run(random_layers(bench.datapath, bench.rng, bench.rows, options["layers"],
                                  max_n=options.get("max_n"), k=options.get("columns", 4)))
    bench.finish()


@cocotb.test()
async def reset_mid_vector(dut):
    """Reset after one vector and part of the next: no stale output, no stale count, table kept."""
    bench = await ArrayBench.started(dut)
    first, second = reconfiguration_layers(bench.datapath, bench.rng, bench.rows)[:2]
    await bench.run_layer(first)
    await bench.configure(second)
    beats_per_vector = -(-second.vector_length // bench.datapath.lanes)
    bench.queue(second, first_beats=beats_per_vector + int(bench.rng.integers(1, beats_per_vector)))
    await bench.settle()
    await ClockCycles(bench.clock, int(bench.rng.integers(0, 4)))
    for source in bench.sources:
        source.flush()
    await reset(bench.clock, bench.rst, cycles=int(bench.rng.integers(1, 4)))
    await bench.run_layer(second, configure=False)
    bench.finish()
