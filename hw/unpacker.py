"""Unpackers: one buffer entry of packed code slots -> the lanes a tile takes (``docs/architecture.md`` §2).

Codes travel and are buffered in fixed slots of the widest code the hardware takes (a DNA-TEQ
slot is ``exp_bits + 1`` bits, an INT8 slot 8 bits); slot ``(row, lane)`` of an entry is bits
``(row * lanes + lane) * code_bits`` upwards.  An unpacker turns every slot into lane fields,
driven by the layer registers, and makes the lanes past ``live_lanes`` (the padding of a
vector's last beat) zero lanes.  It is combinational.
"""

from amaranth import Cat, Module, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .interfaces import INT8_LANE, operand_layout
from .params import Configured, check_int

__all__ = ["OPERANDS", "code_format_layout", "Unpacker", "ExpCodeUnpacker", "Int8Unpacker"]

OPERANDS = ("weight", "activation")


def code_format_layout():
    """The layer's code format of one operand, as the registers hold it: ``bits``, ``signed``, ``zero_code``."""
    return data.StructLayout({"bits": 4, "signed": 1, "zero_code": 1})


class Unpacker(Configured, wiring.Component):
    """``rows`` x ``lanes`` packed code slots -> ``rows`` x ``lanes`` lanes; lanes ``>= live_lanes`` are padding.

    Parameters
    ----------
    operand : {"weight", "activation"}
    rows : int
        Rows of slots in an entry (the PEs of a tile for weights, 1 for activations).
    lanes : int
        Lanes per row.

    Attributes
    ----------
    codes : In(rows * lanes * code_bits)
        One buffer entry.
    live_lanes : In(range(lanes + 1))
        Lanes of each row that hold vector elements (``lanes`` except in a vector's last beat).
    fields : Out(ArrayLayout(ArrayLayout(lane, lanes), rows))
        The lanes of every row.
    """

    _PARAMETERS = ("operand", "rows", "lanes")
    kind = None

    def __init__(self, *, operand, rows, lanes, members=None):
        if operand not in OPERANDS:
            raise ValueError(f"operand must be one of {', '.join(OPERANDS)}, got {operand!r}")
        self._operand = operand
        self._rows = check_int("rows", rows, 1, 4096)
        self._lanes = check_int("lanes", lanes, 1, 256)
        super().__init__({
            "codes": In(unsigned(self._rows * self._lanes * self.code_bits)),
            "live_lanes": In(range(self._lanes + 1)),
            "fields": Out(data.ArrayLayout(data.ArrayLayout(self.lane, self._lanes), self._rows)),
            **(members or {}),
        })

    @property
    def role(self):
        return f"{self._operand}_unpacker"

    @property
    def module_name(self):
        return f"{self.kind}_{self._operand}_unpacker"

    @property
    def latency(self):
        """Combinational: 0 cycles."""
        return 0

    def _decode(self, m):
        """Layer-dependent decode shared by every lane (nothing by default)."""

    def _unpack(self, lane, code, padding, decoded):
        """Assignments of one slot's ``code`` to its ``lane`` (``padding``: a zero lane instead)."""
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        decoded = self._decode(m)
        padding = Signal(self._lanes)       # per lane position, shared by every row
        m.d.comb += padding.eq(Cat(lane >= self.live_lanes for lane in range(self._lanes)))
        for row in range(self._rows):
            for lane in range(self._lanes):
                start = (row * self._lanes + lane) * self.code_bits
                code = self.codes[start:start + self.code_bits]
                m.d.comb += self._unpack(self.fields[row][lane], code, padding[lane], decoded)
        return m


class ExpCodeUnpacker(Unpacker):
    """DNA-TEQ codes -> ``{zero, sign, exp}`` lanes, exactly :meth:`quant.expcode.ExpCode.split`.

    With ``e = format.bits - format.signed`` exponent bits: ``exp`` is the code's low ``e`` bits,
    ``sign`` its bit ``e`` if the code is signed (else 0), ``zero`` is ``format.zero_code & exp ==
    0``.  Slot bits above the code are ignored.  A padding lane is ``{zero: 1, sign: 0, exp: 0}``.

    Parameters
    ----------
    exp_bits : int
        Widest exponent field (the slot has ``exp_bits + 1`` bits).
    operand, rows, lanes
        As in :class:`Unpacker`.

    Attributes
    ----------
    format : In(code_format_layout())
        The operand's code format (layer registers); ``1 <= bits - signed <= exp_bits``.
    """

    _PARAMETERS = ("operand", "rows", "lanes", "exp_bits")
    kind = "dnateq"

    def __init__(self, *, exp_bits, operand, rows, lanes):
        self._exp_bits = check_int("exp_bits", exp_bits, 1, 8)
        super().__init__(operand=operand, rows=rows, lanes=lanes, members={"format": In(code_format_layout())})

    @staticmethod
    def slot_bits(exp_bits):
        """Slot width of codes with at most ``exp_bits`` exponent bits: a sign bit above them."""
        return exp_bits + 1

    @property
    def code_bits(self):
        return self.slot_bits(self._exp_bits)

    @property
    def lane(self):
        return operand_layout(self._exp_bits)

    def _decode(self, m):
        exp_bits = self.format.bits - self.format.signed
        exp_mask, sign_bit = Signal(self._exp_bits), Signal(self.code_bits)
        m.d.comb += [exp_mask.eq(Cat(bit < exp_bits for bit in range(self._exp_bits))),
                     sign_bit.eq(Cat(self.format.signed & (bit == exp_bits) for bit in range(self.code_bits)))]
        return exp_mask, sign_bit

    def _unpack(self, lane, code, padding, decoded):
        exp_mask, sign_bit = decoded
        exp = code[:self._exp_bits] & exp_mask
        return [lane.zero.eq(padding | (self.format.zero_code & (exp == 0))),
                lane.sign.eq(~padding & (code & sign_bit).any()),
                lane.exp.eq(exp & ~padding.replicate(self._exp_bits))]


class Int8Unpacker(Unpacker):
    """Signed bytes -> INT8 lanes; a padding lane is 0.

    Parameters
    ----------
    operand, rows, lanes
        As in :class:`Unpacker`.
    """

    kind = "int8"
    code_bits = 8
    lane = INT8_LANE

    def _unpack(self, lane, code, padding, decoded):
        return [lane.eq(code & ~padding.replicate(self.code_bits))]
