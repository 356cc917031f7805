"""The accelerator's AXI4-Lite register map, a function of its parameters.

The register file (:class:`hw.RegisterFile`) is built from it, the manifest lists it
(``registers``) and ``docs/registers.md`` renders it (:func:`hw.registers.render_markdown`).
"""

from .controller import DIM_BITS, Cause
from .registers import Field, Register

__all__ = ["MAGIC", "VERSION", "KINDS", "TABLE_WINDOW", "register_map", "address_width"]

#: ``ID.magic``.
MAGIC = 0xDA7E
#: ``ID.version``: the register map and stream formats of this module.
VERSION = 1
#: ``ID.kind`` of each PE kind.
KINDS = {"dnateq": 0, "int8": 1}
#: Byte offset of the DNA-TEQ layer table window.
TABLE_WINDOW = 0x100


def _common(*, kind, tiles, pes_per_tile, lanes, code_bits, out_width, max_n):
    w_bits, a_bits = code_bits
    causes = "; ".join(f"{value}: {text}" for value, text in Cause.DESCRIPTIONS.items())
    return (
        Register("ID", 0x00, "ro", "identification", (
            Field("kind", 0, 4, "PE kind: 0 DNA-TEQ, 1 INT8", KINDS[kind]),
            Field("version", 8, 8, "register map and stream format version", VERSION),
            Field("magic", 16, 16, "identifies the accelerator", MAGIC))),
        Register("ARRAY", 0x04, "ro", "array shape", (
            Field("tiles", 0, 16, "tiles", tiles),
            Field("pes_per_tile", 16, 16, "PEs per tile (rows of W per tile)", pes_per_tile))),
        Register("DATAPATH", 0x08, "ro", "stream element formats", (
            Field("lanes", 0, 9, "elements per PE per cycle (code slots per activation beat)", lanes),
            Field("w_code_bits", 12, 4, "bits of a weight code slot", w_bits),
            Field("a_code_bits", 16, 4, "bits of an activation code slot", a_bits),
            Field("out_width", 24, 7, "bits of a Y word", out_width))),
        Register("MAX_N", 0x0C, "ro", "longest vector", (
            Field("max_n", 0, 32, "largest N (max_vector_length, and a row must fit the weight buffer)", max_n),)),
        Register("CTRL", 0x10, "wo", "control", (
            Field("start", 0, 1, "write 1 to run the configured layer (refused with SLVERR while busy)"),)),
        Register("STATUS", 0x14, "ro", "state of the last layer", (
            Field("busy", 0, 1, "a layer is running; register writes are refused"),
            Field("done", 1, 1, "the last start finished (or was refused); cleared by a start"),
            Field("error", 2, 1, "the last start was refused or its streams were mis-framed"),
            Field("cause", 4, 3, causes))),
        Register("CYCLES", 0x18, "ro", "performance counter", (
            Field("cycles", 0, 32, "clock cycles from the start to the end of the last layer"),)),
        *(Register(name, offset, "rw", text, (Field(name.lower(), 0, DIM_BITS, text),))
          for name, offset, text in (("M", 0x20, "rows of W and Y (outputs per column)"),
                                     ("N", 0x24, "vector length: columns of W, rows of A"),
                                     ("K", 0x28, "columns of A and Y"))),
    )


def _dnateq(arith):
    return (
        Register("CODES", 0x30, "rw", "code formats of the layer (quant.arith.LayerProgram.registers())", (
            Field("w_bits", 0, 4, f"weight code bits, sign included (bits - signed in 1..{arith.exp_bits_w})"),
            Field("w_signed", 4, 1, "weight codes have a sign bit"),
            Field("w_zero_code", 5, 1, "weight exponent 0 is exact zero"),
            Field("a_bits", 8, 4, f"activation code bits (bits - signed in 1..{arith.exp_bits_a})"),
            Field("a_signed", 12, 1, "activation codes have a sign bit"),
            Field("a_zero_code", 13, 1, "activation exponent 0 is exact zero"))),
        Register("SHIFT", 0x34, "rw", "output rounding shift", (
            Field("shift", 0, 8, f"R: Y = saturate((acc + 2^(R-1)) >> R); below {arith.acc_width}"),)),
        Register("TABLE_SHAPE", 0x38, "ro", "layer table size", (
            Field("entries", 0, 16, "entries of the LAYER_TABLE window (n_bins)", arith.n_bins),
            Field("width", 16, 6, "bits of a table entry (signed)", arith.table_width))),
        Register("LAYER_TABLE", TABLE_WINDOW, "wo", "layer table: T[i] at LAYER_TABLE + 4*i (write between layers)",
                 (Field("entry", 0, arith.table_width, "signed table entry"),), count=arith.n_bins),
    )


def register_map(*, kind, tiles, pes_per_tile, lanes, code_bits, out_width, max_n, arith=None):
    """The register map of an accelerator: identification and limits, control and status, the layer shape,
    and for DNA-TEQ (``arith``) the code formats, the shift and the layer table window.

    ``code_bits`` are the weight and activation slot widths, ``max_n`` the longest vector.
    """
    common = _common(kind=kind, tiles=tiles, pes_per_tile=pes_per_tile, lanes=lanes, code_bits=code_bits,
                     out_width=out_width, max_n=max_n)
    return common + (_dnateq(arith) if kind == "dnateq" else ())


def address_width(registers):
    """AXI4-Lite address bits of a map: enough for its last register, 8 at least."""
    return max(8, (max(register.end for register in registers) - 1).bit_length())
