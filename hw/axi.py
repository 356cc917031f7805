"""AXI4-Lite and AXI4-Stream ports with their standard signal names (``s_axil_awaddr``, ``s_axis_w_tdata``).

Amaranth names the Verilog port of a nested interface member ``outer__inner``; SoC tools and
cocotbext-axi (``AxiLiteBus.from_prefix(dut, "s_axil")``, ``AxiStreamBus.from_prefix(dut,
"s_axis_w")``) expect ``prefix_signal``.  A component therefore declares these interfaces as flat
members (:func:`flat_members`) and works with them through a :class:`FlatInterface`, which gives
the members back under their short names (``port.awaddr``).

Signatures are seen from the subordinate (the accelerator): ``In`` is driven by the manager.
AXI4-Lite omits the optional ``AWPROT``/``ARPROT`` (the accelerator has no protection levels);
AXI4-Stream carries ``TDATA``, ``TVALID``, ``TREADY`` and ``TLAST`` (every byte of a beat is
valid: no ``TKEEP``/``TSTRB``).
"""

from types import SimpleNamespace

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RESP_OKAY", "RESP_SLVERR", "axi_lite_signature", "axis_sink_signature", "byte_width",
           "flat_members", "FlatInterface", "interface_ports", "connect_flat"]

#: AXI response codes.
RESP_OKAY, RESP_SLVERR = 0b00, 0b10


def byte_width(bits):
    """``bits`` rounded up to whole bytes: AXI data buses are an integer number of bytes wide."""
    return -(-bits // 8) * 8


def axi_lite_signature(addr_width, data_width=32):
    """An AXI4-Lite subordinate port."""
    return wiring.Signature({
        "awaddr": In(addr_width), "awvalid": In(1), "awready": Out(1),
        "wdata": In(data_width), "wstrb": In(data_width // 8), "wvalid": In(1), "wready": Out(1),
        "bresp": Out(2), "bvalid": Out(1), "bready": In(1),
        "araddr": In(addr_width), "arvalid": In(1), "arready": Out(1),
        "rdata": Out(data_width), "rresp": Out(2), "rvalid": Out(1), "rready": In(1),
    })


def axis_sink_signature(data_width):
    """An AXI4-Stream input (``flipped`` for an output)."""
    return wiring.Signature({"tdata": In(data_width), "tvalid": In(1), "tready": Out(1), "tlast": In(1)})


def flat_members(prefix, signature):
    """The members of ``signature`` renamed ``prefix_name``, to merge into a component's signature."""
    return {f"{prefix}_{name}": member for name, member in signature.members.items()}


class FlatInterface(SimpleNamespace):
    """The flat members ``prefix_*`` of ``component`` under their short names (``port.tdata``)."""

    def __init__(self, component, prefix, signature):
        super().__init__(**{name: getattr(component, f"{prefix}_{name}") for name in signature.members})


def interface_ports(prefix, signature):
    """Manifest record of a flat interface: ``{signal: port name}``."""
    return {name: f"{prefix}_{name}" for name in signature.members}


def connect_flat(m, outer, inner, signature):
    """Connect two :class:`FlatInterface` s of ``signature``: ``outer`` a component's own ports,
    ``inner`` a submodule's."""
    for name, member in signature.members.items():
        source, sink = (outer, inner) if member.flow == wiring.In else (inner, outer)
        m.d.comb += getattr(sink, name).eq(getattr(source, name))
