"""RegisterFile over AXI4-Lite: read-back, strobes, pulses, the window, SLVERR cases, locking; the map's checks."""

import pytest

from hw import RegisterFile
from hw.axi import RESP_OKAY, RESP_SLVERR
from hw.axi_sim import axil_read, axil_write
from hw.registers import Field, Register, render_markdown
from hw.sim import Clock, Harness, rejection

REGISTERS = (
    Register("ID", 0x00, "ro", "identification", (Field("kind", 0, 4, "kind", 5),
                                                  Field("magic", 16, 16, "magic", 0xBEEF))),
    Register("STATUS", 0x04, "ro", "status", (Field("busy", 0, 1, "busy"), Field("count", 8, 12, "a count"))),
    Register("CTRL", 0x08, "wo", "control", (Field("start", 0, 1, "start"), Field("stop", 1, 1, "stop"))),
    Register("SHAPE", 0x10, "rw", "a configuration", (Field("low", 0, 8, "low byte"), Field("high", 20, 12, "top"))),
    Register("TABLE", 0x40, "wo", "a window", (Field("entry", 0, 10, "entry"),), count=5),
)


def run(testbench, locked=False):
    dut = RegisterFile(registers=REGISTERS, addr_width=8, module_name="test_register_file")
    log = []

    async def bench(ctx):
        ctx.set(dut.locked, locked)
        await testbench(ctx, dut, Clock(), log)

    async def monitor(ctx):                  # every cycle a pulse or window write is out
        async for _, _, ctrl, table in ctx.tick().sample(dut.ctrl, dut.table):
            if ctrl.start or ctrl.stop or table.write:
                log.append(("ctrl", ctrl.start, ctrl.stop) if not table.write else ("table", table.index, table.entry))

    Harness(dut).run(bench, processes=[monitor])
    return log


def test_read_only_registers_read_constants_and_inputs():
    async def bench(ctx, dut, clock, log):
        ctx.set(dut.status, {"busy": 1, "count": 0xABC})
        assert await axil_read(ctx, dut, 0x00, clock=clock) == (0xBEEF0005, RESP_OKAY)
        assert await axil_read(ctx, dut, 0x04, clock=clock) == (0xABC01, RESP_OKAY)
        assert await axil_write(ctx, dut, 0x04, 0xFFFFFFFF, clock=clock) == RESP_SLVERR
        assert await axil_read(ctx, dut, 0x04, clock=clock) == (0xABC01, RESP_OKAY)
    run(bench)


def test_read_write_register_keeps_its_fields_and_applies_byte_strobes():
    async def bench(ctx, dut, clock, log):
        assert await axil_write(ctx, dut, 0x10, 0xFFFFFFFF, clock=clock) == RESP_OKAY
        assert await axil_read(ctx, dut, 0x10, clock=clock) == (0xFFF000FF, RESP_OKAY)   # only the fields
        assert (ctx.get(dut.shape.low), ctx.get(dut.shape.high)) == (0xFF, 0xFFF)
        assert await axil_write(ctx, dut, 0x10, 0x12345678, clock=clock, strobe=0b1000) == RESP_OKAY
        assert await axil_read(ctx, dut, 0x10, clock=clock) == (0x12F000FF, RESP_OKAY)
        assert await axil_write(ctx, dut, 0x10, 0x00000042, clock=clock, strobe=0b0001) == RESP_OKAY
        assert await axil_read(ctx, dut, 0x10, clock=clock) == (0x12F00042, RESP_OKAY)
    run(bench)


def test_write_only_registers_pulse_for_one_cycle_and_read_zero():
    async def bench(ctx, dut, clock, log):
        assert await axil_write(ctx, dut, 0x08, 0b10, clock=clock) == RESP_OKAY
        assert await axil_write(ctx, dut, 0x08, 0b01, clock=clock) == RESP_OKAY
        assert await axil_write(ctx, dut, 0x48, 0x3FF, clock=clock) == RESP_OKAY
        assert await axil_write(ctx, dut, 0x50, 0x155, clock=clock) == RESP_OKAY
        assert await axil_read(ctx, dut, 0x08, clock=clock) == (0, RESP_OKAY)
        assert await axil_read(ctx, dut, 0x48, clock=clock) == (0, RESP_OKAY)
    assert run(bench) == [("ctrl", 0, 1), ("ctrl", 1, 0), ("table", 2, 0x3FF), ("table", 4, 0x155)]


@pytest.mark.parametrize("offset", [0x0C, 0x11, 0x42, 0x54, 0xFC])
def test_unmapped_or_unaligned_addresses_answer_slverr(offset):
    async def bench(ctx, dut, clock, log):
        assert await axil_write(ctx, dut, offset, 1, clock=clock) == RESP_SLVERR
        assert await axil_read(ctx, dut, offset, clock=clock) == (0, RESP_SLVERR)
    assert run(bench) == []


def test_a_locked_file_refuses_every_write_but_answers_reads():
    async def bench(ctx, dut, clock, log):
        for offset in (0x08, 0x10, 0x40):
            assert await axil_write(ctx, dut, offset, 1, clock=clock) == RESP_SLVERR
        assert await axil_read(ctx, dut, 0x10, clock=clock) == (0, RESP_OKAY)
    assert run(bench, locked=True) == []


def test_the_map_renders_as_a_markdown_table():
    text = render_markdown(REGISTERS)
    assert text.splitlines()[0] == "| offset | register | access | bits | field | description |"
    assert "| `0x040` .. `0x050` | `TABLE` | wo |  |  | a window |" in text
    assert "|  |  |  | 31:20 | `high` | top |" in text
    assert "|  |  |  | 31:16 | `magic` | magic (reads `0xbeef`) |" in text


@pytest.mark.parametrize("make,message", [
    (lambda: Field("x", 30, 4, "too high"), "field x (bits 30+4) does not fit a 32-bit register"),
    (lambda: Register("R", 0x2, "rw", "", ()), "register R: offset 0x2 is not word aligned"),
    (lambda: Register("R", 0x0, "rw", "", (Field("a", 0, 4, ""), Field("b", 3, 2, ""))), "register R: fields overlap"),
    (lambda: Register("R", 0x0, "rw", "", (Field("a", 0, 4, "", 3),)),
     "register R: only read-only fields can be constants"),
    (lambda: Register("R", 0x0, "rx", "", ()), "register R: access must be one of ro, rw, wo"),
    (lambda: RegisterFile(registers=REGISTERS, addr_width=6, module_name="x"),
     "the register map ends at 0x54, beyond 6 address bits"),
    (lambda: RegisterFile(registers=REGISTERS[:1] * 2, addr_width=8, module_name="x"), "registers ID and ID overlap"),
])
def test_bad_maps_are_refused(make, message):
    assert rejection(make) == message
