"""The AXI4-Lite register file: a :class:`hw.registers.Register` map turned into hardware."""

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .axi import RESP_OKAY, RESP_SLVERR, FlatInterface, axi_lite_signature, flat_members
from .params import check_int, read_only
from .registers import WORD_BYTES, Register

__all__ = ["RegisterFile", "DATA_WIDTH"]

#: AXI4-Lite data width of the register file.
DATA_WIDTH = 8 * WORD_BYTES


def _variable(register):
    """Fields of ``register`` that are ports (not constants)."""
    return [field for field in register.fields if field.value is None]


def _layout(fields):
    return data.StructLayout({field.name: field.width for field in fields})


class RegisterFile(wiring.Component):
    """AXI4-Lite subordinate holding a register map; one member per register, named like it in lower case.

    * ``rw`` register: ``Out`` struct of its fields, the stored configuration.
    * ``ro`` register: ``In`` struct of its non-constant fields (constants are built in).
    * ``wo`` register: ``Out`` struct of its fields, valid for the one cycle after a write (zero
      otherwise); a window adds ``index`` (which word) and ``write`` (the strobe).

    Protocol: a write is taken when ``AWVALID`` and ``WVALID`` are both high (one cycle with
    ``AWREADY = WREADY = 1``), answered one cycle later on B; a read is answered one cycle after
    its ``AR`` handshake.  Byte strobes apply to ``rw`` registers; a ``wo`` register takes unstrobed
    bytes as zero.  ``SLVERR`` answers an address outside the map or not word aligned, a write to a
    read-only register, and every write while ``locked`` (the accelerator is busy), which is then
    ignored.  Reads of ``wo`` registers return 0.

    Parameters
    ----------
    registers : tuple of Register
        The map (non-overlapping).
    addr_width : int
        AXI4-Lite address bits; the map must fit.
    module_name : str
        Name of the Verilog module.

    Attributes
    ----------
    s_axil_* : AXI4-Lite subordinate (:func:`hw.axi.axi_lite_signature`), 32-bit data.
    locked : In(1)
        Refuse writes (``SLVERR``).
    <register> : per register, as above.
    """

    role = "register_file"
    registers = read_only("registers")
    addr_width = read_only("addr_width")

    def __init__(self, *, registers, addr_width, module_name):
        self._registers = tuple(registers)
        if not self._registers or not all(isinstance(r, Register) for r in self._registers):
            raise ValueError("registers must be a non-empty sequence of hw.registers.Register")
        ordered = sorted(self._registers, key=lambda r: r.offset)
        for before, after in zip(ordered, ordered[1:]):
            if before.end > after.offset:
                raise ValueError(f"registers {before.name} and {after.name} overlap")
        self._addr_width = check_int("addr_width", addr_width, 3, 32)
        if ordered[-1].end > 1 << self._addr_width:
            raise ValueError(f"the register map ends at {ordered[-1].end:#x}, beyond {addr_width} address bits")
        self.module_name = module_name
        members = {"locked": In(1)}
        for register in self._registers:
            fields = _variable(register)
            if register.access == "ro":
                if fields:
                    members[register.name.lower()] = In(_layout(fields))
            elif register.count > 1:
                window = {"index": range(register.count), "write": 1}
                members[register.name.lower()] = Out(data.StructLayout(
                    {**window, **{field.name: field.width for field in fields}}))
            else:
                members[register.name.lower()] = Out(_layout(fields))
        super().__init__({**flat_members("s_axil", self.axi_signature), **members})

    @property
    def axi_signature(self):
        """The AXI4-Lite signature (its members are the flat ``s_axil_*`` ports)."""
        return axi_lite_signature(self._addr_width, DATA_WIDTH)

    @property
    def latency(self):
        """Cycles from a write handshake to the register output (and from an AR handshake to RVALID)."""
        return 1

    @property
    def parameters(self):
        return {"registers": [register.to_dict() for register in self._registers],
                "addr_width": self._addr_width}

    def _stored(self, m, register):
        """The read value of a register: its fields at their bit positions (0 for ``wo``)."""
        fields = _variable(register)
        if register.access == "wo" or not fields:
            return Const(0 if register.access == "wo" else register.constant, DATA_WIDTH)
        port = getattr(self, register.name.lower())
        value = Signal(DATA_WIDTH, name=f"{register.name.lower()}_word")
        pieces, position = [], 0
        for field in sorted(fields, key=lambda f: f.lsb):
            pieces += [Const(0, field.lsb - position), port[field.name]]
            position = field.lsb + field.width
        m.d.comb += value.eq(Cat(*pieces) | register.constant)
        return value

    @staticmethod
    def _hits(register, addr):
        """``addr`` selects ``register`` (any word of a window)."""
        if register.count == 1:
            return addr == register.offset
        return (addr[:2] == 0) & (addr >= register.offset) & (addr < register.end)

    def elaborate(self, platform):
        m = Module()
        axil = FlatInterface(self, "s_axil", self.axi_signature)
        stored = {register.name: self._stored(m, register) for register in self._registers}

        # Write: both channels at once, response on B in the next cycle.
        take_write = Signal()
        m.d.comb += take_write.eq(axil.awvalid & axil.wvalid & ~axil.bvalid)
        m.d.comb += [axil.awready.eq(take_write), axil.wready.eq(take_write)]
        strobe_mask = Cat(bit.replicate(8) for bit in axil.wstrb)
        for register in self._registers:
            if register.access == "wo":           # pulses: zero unless written this cycle
                m.d.sync += getattr(self, register.name.lower()).eq(0)
        with m.If(take_write):
            m.d.sync += [axil.bvalid.eq(1), axil.bresp.eq(RESP_SLVERR)]
            for register in self._registers:
                if register.access == "ro":
                    continue
                port = getattr(self, register.name.lower())
                merged = (stored[register.name] & ~strobe_mask) | (axil.wdata & strobe_mask)
                with m.If(self._hits(register, axil.awaddr) & ~self.locked):
                    m.d.sync += axil.bresp.eq(RESP_OKAY)
                    m.d.sync += [port[field.name].eq(merged[field.lsb:field.lsb + field.width])
                                 for field in register.fields]
                    if register.count > 1:
                        m.d.sync += [port.index.eq((axil.awaddr - register.offset) >> 2), port.write.eq(1)]
        with m.Elif(axil.bready):
            m.d.sync += axil.bvalid.eq(0)

        # Read: one cycle after the AR handshake.
        m.d.comb += axil.arready.eq(~axil.rvalid)
        with m.If(axil.arvalid & axil.arready):
            m.d.sync += [axil.rvalid.eq(1), axil.rdata.eq(0), axil.rresp.eq(RESP_SLVERR)]
            for register in self._registers:
                with m.If(self._hits(register, axil.araddr)):
                    m.d.sync += [axil.rdata.eq(stored[register.name]), axil.rresp.eq(RESP_OKAY)]
        with m.Elif(axil.rready):
            m.d.sync += axil.rvalid.eq(0)
        return m
