"""The layer table ``T``: ``n_bins`` signed entries, written by the host, read during drains."""

from amaranth import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from .buffer import simple_dual_port
from .interfaces import table_read_signature, table_write_signature
from .params import Configured, check_arith

__all__ = ["LayerTable"]


class LayerTable(Configured, wiring.Component):
    """``arith.n_bins`` x ``arith.table_width`` memory with one write port and one synchronous read port.

    It is configuration, not state: reset leaves it unchanged.  Rewrite it only while no drain
    is in flight (between layers).

    Parameters
    ----------
    arith : quant.arith.DnaTeqArith

    Attributes
    ----------
    write : In(table_write_signature(arith))
        ``T[addr] <= data`` at the edge after ``en``.
    read : In(table_read_signature(arith))
        ``data`` is ``T[addr]`` the cycle after ``en``; it holds while ``en`` is low.
    """

    role = "layer_table"
    module_name = "dnateq_layer_table"
    _PARAMETERS = ("arith",)

    def __init__(self, *, arith):
        self._arith = check_arith(arith)
        super().__init__({"write": In(table_write_signature(arith)), "read": In(table_read_signature(arith))})

    @property
    def latency(self):
        """Read latency in cycles."""
        return 1

    def elaborate(self, platform):
        m = Module()
        simple_dual_port(m, signed(self._arith.table_width), self._arith.n_bins, self.write, self.read)
        return m
