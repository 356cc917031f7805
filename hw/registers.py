"""The register map as data: one description for the register file, the manifest and ``docs/registers.md``.

A :class:`Register` is a 32-bit word at a byte ``offset`` of the AXI4-Lite space with named
:class:`Field` s.  Accesses:

* ``ro``: read-only; fields with a ``value`` are constants, the others are driven by the hardware;
* ``rw``: configuration written by the host and read back;
* ``wo``: write-only, reads return 0.  A field of a ``wo`` register is a one-cycle pulse (``CTRL``);
  a ``wo`` register with ``count > 1`` is a *window* of ``count`` words at ``offset + 4 * i``
  whose every write hands ``(i, fields)`` to the hardware (the layer table).

:func:`render_markdown` turns a map into the Markdown table of ``docs/registers.md``.
"""

from dataclasses import dataclass

__all__ = ["ACCESSES", "WORD_BYTES", "Field", "Register", "render_markdown"]

ACCESSES = ("ro", "rw", "wo")
#: Bytes per register (the AXI4-Lite data width is 32 bits).
WORD_BYTES = 4


@dataclass(frozen=True)
class Field:
    """Bits ``lsb .. lsb + width - 1`` of a register; ``value`` makes a read-only field a constant."""

    name: str
    lsb: int
    width: int
    description: str
    value: int = None

    def __post_init__(self):
        if self.lsb < 0 or self.width < 1 or self.lsb + self.width > 8 * WORD_BYTES:
            raise ValueError(f"field {self.name} (bits {self.lsb}+{self.width}) does not fit a 32-bit register")
        if self.value is not None and not 0 <= self.value < 1 << self.width:
            raise ValueError(f"field {self.name}: constant {self.value} does not fit {self.width} bits")

    @property
    def mask(self):
        return ((1 << self.width) - 1) << self.lsb

    def to_dict(self):
        record = {"name": self.name, "lsb": self.lsb, "width": self.width, "description": self.description}
        if self.value is not None:
            record["value"] = self.value
        return record


@dataclass(frozen=True)
class Register:
    """A register (or, with ``count > 1``, a window of ``count`` registers) of the AXI4-Lite map."""

    name: str
    offset: int
    access: str
    description: str
    fields: tuple
    count: int = 1

    def __post_init__(self):
        if self.access not in ACCESSES:
            raise ValueError(f"register {self.name}: access must be one of {', '.join(ACCESSES)}")
        if self.offset % WORD_BYTES:
            raise ValueError(f"register {self.name}: offset {self.offset:#x} is not word aligned")
        masks = [field.mask for field in self.fields]
        if sum(masks) != _union(masks):
            raise ValueError(f"register {self.name}: fields overlap")
        if any(field.value is not None for field in self.fields) and self.access != "ro":
            raise ValueError(f"register {self.name}: only read-only fields can be constants")
        if self.count > 1 and self.access != "wo":
            raise ValueError(f"register {self.name}: only write-only registers can be windows")
        object.__setattr__(self, "fields", tuple(self.fields))

    @property
    def end(self):
        """First byte offset after the register (or window)."""
        return self.offset + WORD_BYTES * self.count

    @property
    def constant(self):
        """Read value of the constant fields."""
        return sum(field.value << field.lsb for field in self.fields if field.value is not None)

    def field(self, name):
        return next(field for field in self.fields if field.name == name)

    def to_dict(self):
        return {"name": self.name, "offset": self.offset, "access": self.access, "count": self.count,
                "description": self.description, "fields": [field.to_dict() for field in self.fields]}


def _union(masks):
    total = 0
    for mask in masks:
        total |= mask
    return total


def _bits(field):
    return f"{field.lsb}" if field.width == 1 else f"{field.lsb + field.width - 1}:{field.lsb}"


def render_markdown(registers):
    """Markdown table of a register map: one row per field, register name/offset/access on its first row."""
    lines = ["| offset | register | access | bits | field | description |", "|---|---|---|---|---|---|"]
    for register in sorted(registers, key=lambda r: r.offset):
        offset = f"`{register.offset:#05x}`"
        if register.count > 1:
            offset += f" .. `{register.end - WORD_BYTES:#05x}`"
        first = [offset, f"`{register.name}`", register.access]
        lines.append(f"| {' | '.join(first)} |  |  | {register.description} |")
        for field in register.fields:
            text = field.description + (f" (reads `{field.value:#x}`)" if field.value is not None else "")
            lines.append(f"|  |  |  | {_bits(field)} | `{field.name}` | {text} |")
    return "\n".join(lines) + "\n"
