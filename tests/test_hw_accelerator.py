"""Accelerators of both kinds end to end through AXI (hw.driver packing) against quant.golden; reset, errors,
latency."""

from dataclasses import replace

import numpy as np
import pytest

from hw import DnaTeqAccelerator, Int8Accelerator
from hw.register_map import KINDS, MAGIC, VERSION
from hw.axi import RESP_OKAY, RESP_SLVERR
from hw.axi_sim import axil_read, axil_write, axis_port, packet_beats, run_accelerator
from hw.controller import Cause
from hw.driver import Driver
from hw.sim import Clock, Harness, random_codes, receive, rejection, send
from quant.arith import DnaTeqArith, compile_layer
from quant.golden import dnateq_matmul, int8_matmul
from quant.models.layers import im2col

ARITH = DnaTeqArith(exp_bits_w=2, exp_bits_a=3, table_width=12, max_vector_length=40, out_width=16)
DEPTHS = {"weight_buffer_depth": 12, "activation_buffer_depth": 4, "output_buffer_depth": 2}
TRAFFIC = [(0.0, 0.0), (0.3, 0.5)]


def dnateq_accelerator(**options):
    return DnaTeqAccelerator(**{"arith": ARITH, "lanes": 2, "pes_per_tile": 2, "tiles": 2, **DEPTHS, **options})


def int8_accelerator(**options):
    return Int8Accelerator(**{"lanes": 3, "pes_per_tile": 2, "tiles": 2, "max_vector_length": 40, **DEPTHS,
                              **options})


def dnateq_layer(rng, m, n, k, **code_options):
    w_code, a_code = random_codes(rng, ARITH, **code_options)
    prog = compile_layer(ARITH, w_code, a_code, n)
    return prog, rng.integers(0, 1 << w_code.bits, (m, n)), rng.integers(0, 1 << a_code.bits, (n, k))


def results(driver, layers, runs):
    return [driver.decode_outputs(run.words, w.shape[0], a.shape[1]) for (_, w, a), run in zip(layers, runs)]


@pytest.mark.parametrize("idle,stall", TRAFFIC)
def test_dnateq_layers_match_golden(rng, idle, stall):
    dut = dnateq_accelerator()
    driver = Driver(dut.manifest)
    layers = [dnateq_layer(rng, 9, 13, 3),                      # 3 row blocks of 4, the last one partial
              dnateq_layer(rng, 4, 24, 2, w_bits=2, a_bits=4, a_signed=True, zero_code=False),
              dnateq_layer(rng, 1, 1, 1)]
    runs = run_accelerator(dut, driver, [driver.dnateq_layer(*layer) for layer in layers], rng=rng, idle=idle,
                           stall=stall)
    for run, (prog, w, a), y in zip(runs, layers, results(driver, layers, runs)):
        assert np.array_equal(y, dnateq_matmul(prog, w, a))
        assert run.status == {"busy": 0, "done": 1, "error": 0, "cause": Cause.NONE}
        assert run.lasts == [0] * (len(run.words) - 1) + [1]


@pytest.mark.parametrize("idle,stall", TRAFFIC)
def test_int8_layers_match_golden(rng, idle, stall):
    dut = int8_accelerator()
    driver = Driver(dut.manifest)
    layers = [(None, rng.integers(-128, 128, (m, n)), rng.integers(-128, 128, (n, k)))
              for m, n, k in [(7, 10, 3), (2, 36, 1), (4, 1, 5)]]
    runs = run_accelerator(dut, driver, [driver.int8_layer(w, a) for _, w, a in layers], rng=rng, idle=idle,
                           stall=stall)
    for run, (_, w, a), y in zip(runs, layers, results(driver, layers, runs)):
        assert np.array_equal(y, int8_matmul(w, a)) and run.status["error"] == 0


def test_a_convolution_runs_as_its_im2col_gemm(rng):
    """Codes of a [1, 5, 5, 2] input, 3 filters of 3x3x2: the host unfolds the patches, the hardware sees a GEMM."""
    dut = dnateq_accelerator(tiles=1, pes_per_tile=3)
    driver = Driver(dut.manifest)
    w_code, a_code = random_codes(rng, ARITH)
    image = rng.integers(0, 1 << a_code.bits, (1, 5, 5, 2))
    columns = im2col(image, (3, 3), (1, 1), (1, 1)).T                      # [N = 18, K = 9]
    weights = rng.integers(0, 1 << w_code.bits, (3, 18))
    prog = compile_layer(ARITH, w_code, a_code, 18)
    (run,) = run_accelerator(dut, driver, [driver.dnateq_layer(prog, weights, columns)], rng=rng, idle=0.2)
    assert np.array_equal(driver.decode_outputs(run.words, 3, 9), dnateq_matmul(prog, weights, columns))


def test_identification_registers_describe_the_hardware():
    dut = dnateq_accelerator()
    driver = Driver(dut.manifest)
    reads = {}

    async def prelude(ctx, clock, harness):
        for name in ("ID", "ARRAY", "DATAPATH", "MAX_N", "TABLE_SHAPE"):
            data, resp = await axil_read(ctx, dut, driver.offset(name), clock=clock)
            reads[name] = driver.decode(name, data) if resp == RESP_OKAY else resp

    run_accelerator(dut, driver, [], prelude=prelude)
    assert reads["ID"] == {"kind": KINDS["dnateq"], "version": VERSION, "magic": MAGIC}
    assert reads["ARRAY"] == {"tiles": 2, "pes_per_tile": 2}
    assert reads["DATAPATH"] == {"lanes": 2, "w_code_bits": 3, "a_code_bits": 4, "out_width": 16}
    assert reads["MAX_N"] == {"max_n": 24} and dut.max_n == 24              # 12 entries of 2 lanes
    assert reads["TABLE_SHAPE"] == {"entries": ARITH.n_bins, "width": ARITH.table_width}


def test_reset_mid_layer_returns_to_idle_and_keeps_the_table(rng):
    dut = dnateq_accelerator()
    driver = Driver(dut.manifest)
    doomed, fresh = dnateq_layer(rng, 9, 13, 3), dnateq_layer(rng, 6, 7, 2)
    fresh = (replace(fresh[0], table=doomed[0].table, shift=doomed[0].shift), *fresh[1:])   # same table
    doomed_tx = driver.dnateq_layer(*doomed)
    fresh_tx = driver.dnateq_layer(*fresh)
    fresh_tx.register_writes = [write for write in fresh_tx.register_writes if write.name != "LAYER_TABLE"]
    after_reset = {}

    async def prelude(ctx, clock, harness):
        """Start the doomed layer, feed its first block and two columns, then reset."""
        for write in doomed_tx.register_writes:
            await axil_write(ctx, dut, write.offset, write.value, clock=clock)
        for prefix, packet in (("s_axis_w", doomed_tx.weight_packets[0]),
                               ("s_axis_a", doomed_tx.activation_packets[0])):
            port = axis_port(dut, prefix)
            await send(ctx, [port], packet_beats(port, [packet]), clock=clock)
        status, _ = await axil_read(ctx, dut, driver.offset("STATUS"), clock=clock)
        assert driver.decode("STATUS", status)["busy"] == 1
        ctx.set(harness.reset, 1)
        await clock.tick(ctx)
        ctx.set(harness.reset, 0)
        for name in ("STATUS", "M"):
            after_reset[name] = (await axil_read(ctx, dut, driver.offset(name), clock=clock))[0]

    (run,) = run_accelerator(dut, driver, [fresh_tx], rng=rng, idle=0.2, stall=0.2, prelude=prelude)
    assert after_reset == {"STATUS": 0, "M": 0}           # idle, configuration cleared
    assert np.array_equal(driver.decode_outputs(run.words, 6, 2), dnateq_matmul(*fresh))


def test_refused_starts_report_their_cause_and_a_later_layer_runs(rng):
    dut = dnateq_accelerator()
    driver = Driver(dut.manifest)
    layer = dnateq_layer(rng, 5, 6, 2)
    statuses = []

    async def prelude(ctx, clock, harness):
        bad = [[driver.write("M", m=3), driver.write("N", n=25), driver.write("K", k=1)],        # N > MAX_N
               [driver.write("N", n=4), driver.write("CODES", w_bits=4, w_signed=1, a_bits=3)],  # 3 exponent bits > 2
               [driver.write("CODES", w_bits=3, w_signed=1, a_bits=3), driver.write("SHIFT", shift=ARITH.acc_width)],
               [driver.write("SHIFT", shift=0), driver.write("K", k=0)]]
        for writes in bad:
            for write in [*writes, driver.write("CTRL", start=1)]:
                assert await axil_write(ctx, dut, write.offset, write.value, clock=clock) == RESP_OKAY
            statuses.append(driver.decode("STATUS", (await axil_read(ctx, dut, driver.offset("STATUS"),
                                                                     clock=clock))[0]))

    (run,) = run_accelerator(dut, driver, [driver.dnateq_layer(*layer)], prelude=prelude)
    assert [(s["busy"], s["done"], s["error"], s["cause"]) for s in statuses] == [
        (0, 1, 1, Cause.TOO_LONG), (0, 1, 1, Cause.FORMAT), (0, 1, 1, Cause.FORMAT), (0, 1, 1, Cause.EMPTY)]
    assert run.status["error"] == 0
    assert np.array_equal(driver.decode_outputs(run.words, 5, 2), dnateq_matmul(*layer))


def test_a_misplaced_tlast_flags_framing_and_writes_while_busy_are_refused(rng):
    dut = int8_accelerator()
    driver = Driver(dut.manifest)
    w, a = rng.integers(-128, 128, (3, 7)), rng.integers(-128, 128, (7, 2))
    transactions = driver.int8_layer(w, a)
    transactions.activation_packets = [[word for packet in transactions.activation_packets for word in packet]]
    responses = []

    async def write_while_busy(ctx, clock):
        responses.append(await axil_write(ctx, dut, driver.offset("M"), 5, clock=clock))
        responses.append(await axil_read(ctx, dut, driver.offset("M"), clock=clock))

    (run,) = run_accelerator(dut, driver, [transactions], after_start=write_while_busy)
    assert responses == [RESP_SLVERR, (3, RESP_OKAY)]
    assert (run.status["done"], run.status["error"], run.status["cause"]) == (1, 1, Cause.FRAMING)
    assert np.array_equal(driver.decode_outputs(run.words, 3, 2), int8_matmul(w, a))


@pytest.mark.parametrize("make", [dnateq_accelerator, int8_accelerator])
def test_latency_from_the_last_activation_beat_to_the_first_output_beat(rng, make):
    """Weights loaded and the array idle: one column of one beat, its output beat ``latency`` cycles later."""
    dut = make()
    driver = Driver(dut.manifest)
    n = dut.lanes
    if dut.kind == "dnateq":
        transactions = driver.dnateq_layer(*dnateq_layer(rng, 3, n, 1))
    else:
        transactions = driver.int8_layer(rng.integers(-128, 128, (3, n)), rng.integers(-128, 128, (n, 1)))
    edges = {}

    async def host(ctx):
        clock = Clock()
        for write in transactions.register_writes:
            await axil_write(ctx, dut, write.offset, write.value, clock=clock)
        weights, activations = axis_port(dut, "s_axis_w"), axis_port(dut, "s_axis_a")
        await send(ctx, [weights], packet_beats(weights, transactions.weight_packets[:1]), clock=clock)
        for _ in range(5):
            await clock.tick(ctx)
        edges["in"], = await send(ctx, [activations], packet_beats(activations, transactions.activation_packets),
                                  clock=clock)

    async def sink(ctx):
        log = []
        await receive(ctx, axis_port(dut, "m_axis_y"), 1, log, clock=Clock())
        edges["out"] = log[0][0]

    Harness(dut).run(host, sink)
    assert edges["out"] - edges["in"] == dut.latency


def test_throughput_and_buffers_are_described():
    dut = dnateq_accelerator()
    assert dut.throughput["peak_elements_per_cycle"] == 8
    assert dut.buffers == {
        "weights": {"depth": 12, "width": 6, "bits": 72, "instances": 4, "total_bits": 288},
        "activations": {"depth": 4, "width": 8, "bits": 32, "instances": 1, "total_bits": 32},
        "outputs": {"depth": 2, "width": 16, "bits": 32, "instances": 4, "total_bits": 128}}
    assert dut.axi["s_axis_w"]["data_width"] == 16 and dut.axi["m_axis_y"]["data_width"] == 32


@pytest.mark.parametrize("make,message", [
    (lambda: dnateq_accelerator(tiles=0), "tiles must be an integer in 1..65535, got 0"),
    (lambda: int8_accelerator(output_buffer_depth=1), "output_depth must be an integer in 2..1048576, got 1"),
])
def test_constructor_arguments_are_validated(make, message):
    assert rejection(make) == message
