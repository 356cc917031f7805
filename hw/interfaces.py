"""Stream payload layouts and port signatures shared by the PEs, the tile and the generator.

A PE input *beat* (``docs/architecture.md`` §2) carries ``lanes`` weight lanes, ``lanes``
activation lanes and ``last`` (this beat ends the vector).  A tile takes the same beat split in
streams: one weight stream per PE and one activation stream (with ``last``) that every PE receives.
"""

from amaranth import signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["unpack_signed", "INT8_LANE", "operand_layout", "beat_layout", "activation_beat_layout", "product_layout",
           "drain_layout", "table_read_signature", "table_write_signature", "shift_shape"]

#: An INT8 operand lane: one signed byte.
INT8_LANE = signed(8)


def operand_layout(exp_bits):
    """A DNA-TEQ operand lane ``{zero, sign, exp}``, ``exp`` zero-extended to ``exp_bits``."""
    return data.StructLayout({"zero": 1, "sign": 1, "exp": exp_bits})


def beat_layout(weight_lane, activation_lane, lanes):
    """One PE input beat: ``w[lanes]``, ``a[lanes]``, ``last``."""
    return data.StructLayout({"w": data.ArrayLayout(weight_lane, lanes),
                              "a": data.ArrayLayout(activation_lane, lanes), "last": 1})


def activation_beat_layout(activation_lane, lanes):
    """A tile's broadcast beat: ``a[lanes]`` and ``last``; each PE's weight stream carries its ``w[lanes]``."""
    return data.StructLayout({"a": data.ArrayLayout(activation_lane, lanes), "last": 1})


def product_layout(arith):
    """A lane after DNA-TEQ stage 1: ``live``, product sign ``neg``, ``exp_sum`` (and both exponents with offsets).

    ``live`` is set only for an accepted element whose weight and activation are both non-zero.
    """
    fields = {"live": 1, "neg": 1, "exp_sum": range(arith.bins_wa)}
    if arith.offsets:
        fields.update(w_exp=arith.exp_bits_w, a_exp=arith.exp_bits_a)
    return data.StructLayout(fields)


def drain_layout(arith):
    """One bin of a draining counter bank: its ``count``, its index ``bin``, ``last`` (end of the vector)."""
    return data.StructLayout({"count": signed(arith.count_width), "bin": range(arith.n_bins), "last": 1})


def table_read_signature(arith):
    """Synchronous table read, seen from the reader: ``data`` is ``T[addr]`` the cycle after ``en``."""
    return wiring.Signature({"addr": Out(range(arith.n_bins)), "en": Out(1),
                             "data": In(signed(arith.table_width))})


def table_write_signature(arith):
    """Table write port, seen from the writer: ``T[addr] <= data`` when ``en``."""
    return wiring.Signature({"addr": Out(range(arith.n_bins)), "data": Out(signed(arith.table_width)),
                             "en": Out(1)})


def shift_shape(arith):
    """Shape of the run-time output shift ``R`` (``0 .. acc_width - 1``)."""
    return range(arith.acc_width)


def unpack_signed(word, width, count):
    """``count`` signed ``width``-bit values packed from bit 0 up in ``word`` (an output beat: one per PE)."""
    mask, half = (1 << width) - 1, 1 << (width - 1)
    values = []
    for index in range(count):
        field = (word >> (index * width)) & mask
        values.append(field - (1 << width) if field & half else field)
    return values
