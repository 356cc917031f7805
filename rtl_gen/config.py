"""What ``python -m rtl_gen`` builds: the parameters, validated, and the top component they make."""

from dataclasses import asdict, dataclass

from quant.arith import DnaTeqArith

from hw import DnaTeqAccelerator, DnaTeqPe, DnaTeqTile, Int8Accelerator, Int8Pe, Int8Tile
from hw.accelerator import buffer_shapes
from hw.controller import max_vector
from hw.params import check_arith, check_bool, check_int
from hw.register_map import register_map
from hw.unpacker import ExpCodeUnpacker, Int8Unpacker

__all__ = ["PE_KINDS", "DEFAULT_PES_PER_TILE", "TOPS", "RtlConfig"]

PE_KINDS = ("dnateq", "int8")
#: PEs per tile unless told otherwise: a tile is the unit the accelerator instantiates, and its
#: ports must stay within hw.hierarchy.MAX_PORT_BITS (1024 INT8 PEs of 8 lanes would not).
DEFAULT_PES_PER_TILE = 64


@dataclass(frozen=True)
class RtlConfig:
    """Every generator parameter (defaults as on the command line); invalid values raise ``ValueError``.

    ``arith`` holds the datapath parameters; an INT8 design uses only its ``max_vector_length``
    and ``out_width``.  ``pes_per_tile`` None means :data:`DEFAULT_PES_PER_TILE` (or ``pe_count``
    if smaller).  The buffer depths (entries) size the accelerator's buffers.
    """

    pe_kind: str = "dnateq"
    top: str = "accelerator"
    pe_count: int = 64
    pes_per_tile: int = None
    lanes: int = 8
    arith: DnaTeqArith = DnaTeqArith()
    double_buffer: bool = True
    clock_gating: bool = False
    weight_buffer_depth: int = 512
    activation_buffer_depth: int = 512
    output_buffer_depth: int = 64

    def __post_init__(self):
        if self.pe_kind not in PE_KINDS:
            raise ValueError(f"pe_kind must be one of {', '.join(PE_KINDS)}, got {self.pe_kind!r}")
        if self.top not in TOPS:
            raise ValueError(f"top must be one of {', '.join(TOPS)}, got {self.top!r}")
        check_int("pe_count", self.pe_count, 1)
        if self.pes_per_tile is None:
            object.__setattr__(self, "pes_per_tile", min(self.pe_count, DEFAULT_PES_PER_TILE))
        check_int("pes_per_tile", self.pes_per_tile, 1, self.pe_count)
        if self.pe_count % self.pes_per_tile:
            raise ValueError(f"pe_count ({self.pe_count}) must be a multiple of "
                             f"pes_per_tile ({self.pes_per_tile})")
        check_arith(self.arith)
        check_bool("double_buffer", self.double_buffer)
        check_bool("clock_gating", self.clock_gating)
        for name in ("weight_buffer_depth", "activation_buffer_depth", "output_buffer_depth"):
            check_int(name, getattr(self, name), 2)     # see hw.Controller

    @property
    def tiles(self):
        return self.pe_count // self.pes_per_tile

    def make_pe(self):
        """One PE of the configured kind."""
        if self.pe_kind == "dnateq":
            return DnaTeqPe(arith=self.arith, lanes=self.lanes, double_buffer=self.double_buffer,
                            clock_gating=self.clock_gating)
        return Int8Pe(lanes=self.lanes, max_vector_length=self.arith.max_vector_length,
                      out_width=self.arith.out_width)

    def make_tile(self):
        """One tile of ``pes_per_tile`` PEs of the configured kind."""
        if self.pe_kind == "dnateq":
            return DnaTeqTile(arith=self.arith, lanes=self.lanes, pes=self.pes_per_tile,
                              double_buffer=self.double_buffer, clock_gating=self.clock_gating)
        return Int8Tile(lanes=self.lanes, pes=self.pes_per_tile, max_vector_length=self.arith.max_vector_length,
                        out_width=self.arith.out_width)

    def make_accelerator(self):
        """The accelerator: ``tiles`` tiles of the configured kind, buffers, controller, register file."""
        depths = {"weight_buffer_depth": self.weight_buffer_depth,
                  "activation_buffer_depth": self.activation_buffer_depth,
                  "output_buffer_depth": self.output_buffer_depth}
        if self.pe_kind == "dnateq":
            return DnaTeqAccelerator(arith=self.arith, lanes=self.lanes, pes_per_tile=self.pes_per_tile,
                                     tiles=self.tiles, double_buffer=self.double_buffer,
                                     clock_gating=self.clock_gating, **depths)
        return Int8Accelerator(lanes=self.lanes, pes_per_tile=self.pes_per_tile, tiles=self.tiles,
                               max_vector_length=self.arith.max_vector_length, out_width=self.arith.out_width,
                               **depths)

    def make_top(self):
        """The component ``top`` names."""
        return TOPS[self.top](self)

    def code_bits(self):
        """Slot widths of packed weight and activation codes (the unpackers')."""
        if self.pe_kind == "int8":
            return Int8Unpacker.code_bits, Int8Unpacker.code_bits
        return ExpCodeUnpacker.slot_bits(self.arith.exp_bits_w), ExpCodeUnpacker.slot_bits(self.arith.exp_bits_a)

    def buffers(self):
        """The accelerator's buffers (:func:`hw.accelerator.buffer_shapes`), also for the other tops."""
        return buffer_shapes(tiles=self.tiles, pes_per_tile=self.pes_per_tile, lanes=self.lanes,
                             code_bits=self.code_bits(), out_width=self.arith.out_width,
                             depths={"weights": self.weight_buffer_depth,
                                     "activations": self.activation_buffer_depth,
                                     "outputs": self.output_buffer_depth})

    def registers(self):
        """The accelerator's register map (:func:`hw.register_map.register_map`)."""
        return register_map(kind=self.pe_kind, tiles=self.tiles, pes_per_tile=self.pes_per_tile, lanes=self.lanes,
                            code_bits=self.code_bits(), out_width=self.arith.out_width,
                            max_n=max_vector(max_vector_length=self.arith.max_vector_length,
                                             weight_depth=self.weight_buffer_depth, lanes=self.lanes),
                            arith=self.arith if self.pe_kind == "dnateq" else None)

    def to_dict(self):
        return asdict(self)


#: Generator tops: name -> builder of the top component from an RtlConfig.
TOPS = {"accelerator": RtlConfig.make_accelerator, "pe": RtlConfig.make_pe, "tile": RtlConfig.make_tile}
