"""Amaranth hardware of the DNA-TEQ accelerator and its INT8 baseline.

Components (each in its own module, each a ``wiring.Component`` with a ``latency`` property):
:class:`CounterBank`, :class:`PostProcessor`, :class:`DnaTeqPe`, :class:`Int8Pe`,
:class:`LayerTable`, :class:`DnaTeqTile`, :class:`Int8Tile`, and the accelerator around the tiles:
:class:`DnaTeqAccelerator`, :class:`Int8Accelerator` with :class:`Controller`,
:class:`RegisterFile`, :class:`BufferedTile`, :class:`Buffer`, :class:`ExpCodeUnpacker`,
:class:`Int8Unpacker`.
``docs/hardware.md`` describes the micro-architecture; ``python -m rtl_gen`` turns them into
Verilog.  :mod:`hw.driver` packs layers for the accelerator, :mod:`hw.perf_model` predicts its cycles.
"""

from .accelerator import DnaTeqAccelerator, Int8Accelerator
from .buffer import Buffer
from .buffered_tile import BufferedTile
from .controller import Controller
from .counter_bank import CounterBank
from .dnateq_pe import DnaTeqPe
from .int8_pe import Int8Pe
from .layer_table import LayerTable
from .postproc import PostProcessor
from .register_file import RegisterFile
from .tile import DnaTeqTile, Int8Tile
from .unpacker import ExpCodeUnpacker, Int8Unpacker

__all__ = ["CounterBank", "PostProcessor", "DnaTeqPe", "Int8Pe", "LayerTable", "DnaTeqTile", "Int8Tile",
           "DnaTeqAccelerator", "Int8Accelerator", "Controller", "RegisterFile", "Buffer", "BufferedTile",
           "ExpCodeUnpacker", "Int8Unpacker"]
