"""Amaranth hardware of the DNA-TEQ accelerator and its INT8 baseline.

Components (each in its own module, each a ``wiring.Component`` with a ``latency`` property):
:class:`CounterBank`, :class:`PostProcessor`, :class:`DnaTeqPe`, :class:`Int8Pe`,
:class:`LayerTable`, :class:`DnaTeqTile`, :class:`Int8Tile`.  ``docs/hardware.md`` describes the
micro-architecture; ``python -m rtl_gen`` turns them into Verilog.
"""

from .counter_bank import CounterBank
from .dnateq_pe import DnaTeqPe
from .int8_pe import Int8Pe
from .layer_table import LayerTable
from .postproc import PostProcessor
from .tile import DnaTeqTile, Int8Tile

__all__ = ["CounterBank", "PostProcessor", "DnaTeqPe", "Int8Pe", "LayerTable", "DnaTeqTile", "Int8Tile"]
