"""On-chip buffers: ``depth`` x ``width`` memories with one write port and one synchronous read port."""

from amaranth import Module, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from .params import Configured, check_int

__all__ = ["BUFFERS", "Buffer", "buffer_port", "simple_dual_port"]

#: The accelerator's buffers.
BUFFERS = ("weight", "activation", "output")


def buffer_port(depth, *, write_width=None, read_width=None, enables=1):
    """A port of a buffer with ``depth`` entries, seen from whoever drives it: ``addr``, ``en``
    (``enables`` bits, one per buffer it selects) and the written or read ``data``."""
    members = {"addr": Out(range(depth)), "en": Out(enables)}
    if write_width is not None:
        members["data"] = Out(unsigned(write_width))
    if read_width is not None:
        members["data"] = In(unsigned(read_width))
    return wiring.Signature(members)


def simple_dual_port(m, shape, depth, write, read):
    """A memory in ``m`` with the write port ``write`` (``addr``, ``data``, ``en``) and the
    synchronous read port ``read`` (``addr``, ``en``; ``data`` the cycle after, held while ``en`` is low)."""
    m.submodules.entries = entries = memory.Memory(shape=shape, depth=depth, init=[])
    writer, reader = entries.write_port(), entries.read_port()
    m.d.comb += [
        writer.addr.eq(write.addr), writer.data.eq(write.data), writer.en.eq(write.en),
        reader.addr.eq(read.addr), reader.en.eq(read.en), read.data.eq(reader.data),
    ]


class Buffer(Configured, wiring.Component):
    """A simple dual-port memory: ``write`` (``mem[addr] <= data`` when ``en``) and a synchronous ``read``.

    ``read.data`` is ``mem[read.addr]`` the cycle after ``read.en`` and holds while ``en`` is low
    (so a stalled consumer keeps its beat).  A read and a write of the same entry in one cycle
    give the old contents.  Reset leaves the contents alone.

    Parameters
    ----------
    name : {"weight", "activation", "output"}
        What it buffers (sets ``role`` and the module name).
    depth : int
        Entries.
    width : int
        Bits per entry.
    prefix : str
        First part of the Verilog module name (the PE kind).

    Attributes
    ----------
    write : In(Signature(addr, data, en))
    read : In(Signature(addr, en; data Out))
    """

    _PARAMETERS = ("name", "depth", "width")

    def __init__(self, *, name, depth, width, prefix):
        if name not in BUFFERS:
            raise ValueError(f"name must be one of {', '.join(BUFFERS)}, got {name!r}")
        self._name = name
        self._depth = check_int("depth", depth, 1, 1 << 20)
        self._width = check_int("width", width, 1, 1 << 16)
        self._prefix = prefix
        super().__init__({"write": In(buffer_port(self._depth, write_width=self._width)),
                          "read": In(buffer_port(self._depth, read_width=self._width))})

    @property
    def role(self):
        return f"{self._name}_buffer"

    @property
    def module_name(self):
        return f"{self._prefix}_{self._name}_buffer"

    @property
    def bits(self):
        return self._depth * self._width

    @property
    def latency(self):
        """Read latency in cycles."""
        return 1

    def elaborate(self, platform):
        m = Module()
        simple_dual_port(m, unsigned(self._width), self._depth, self.write, self.read)
        return m
