"""A small Liberty (.lib) reader: what the flow needs from a standard-cell library.

It reads cell areas, pin directions and capacitances, Boolean functions, flip-flop groups,
leakage and the ``internal_power`` tables, and answers the questions the flow asks: which cell is
the 2-input NAND (kGE normalisation), which is the buffer used for fanout trees, whether the
library has timing and power data.  Anything it does not understand it skips.
"""

import re
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import numpy as np

from .errors import SynthError

__all__ = ["Library", "Cell", "Pin", "EnergyTable", "read_liberty", "parse_function"]

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}();:,]|[^\s{}();:,"]+')


@dataclass
class _Group:
    kind: str
    args: list
    attrs: dict = field(default_factory=dict)
    groups: list = field(default_factory=list)

    def all(self, kind):
        return [g for g in self.groups if g.kind == kind]


def _unquote(token):
    return token[1:-1] if token.startswith('"') else token


def _parse_groups(text):
    """Liberty text -> the root :class:`_Group` (simple and complex attributes, nested groups)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S).replace("\\\n", " ")
    tokens = _TOKEN.findall(text)
    root = _Group("root", [])
    stack = [root]
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if tok == "}":
            stack.pop()
            if not stack:
                raise SynthError("unbalanced '}' in Liberty file")
            i += 1
        elif i + 2 < n and tokens[i + 1] == ":":
            stack[-1].attrs[tok] = _unquote(tokens[i + 2])
            i += 4 if i + 3 < n and tokens[i + 3] == ";" else 3
        elif i + 1 < n and tokens[i + 1] == "(":
            j = tokens.index(")", i + 2)
            args = [_unquote(t) for t in tokens[i + 2:j] if t != ","]
            if j + 1 < n and tokens[j + 1] == "{":
                group = _Group(tok, args)
                stack[-1].groups.append(group)
                stack.append(group)
                i = j + 2
            else:
                stack[-1].attrs[tok] = args
                i = j + 2 if j + 1 < n and tokens[j + 1] == ";" else j + 1
        else:
            i += 1   # stray token (e.g. a lone ';'): skip
    return root


# ---- Boolean functions --------------------------------------------------------------------------
# Liberty precedence, tightest first: postfix ' and prefix !, then ^, then & * or juxtaposition, then | +.
_FUNC_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_\[\].]*|[01]|[!'^&*|+()])")


def parse_function(text):
    """Parse a Liberty ``function`` string into nested tuples ``('or'|'and'|'xor', a, b)``,
    ``('not', a)``, ``('var', name)`` or ``('const', 0|1)``."""
    tokens = [m.group(1) for m in _FUNC_TOKEN.finditer(text)]
    if "".join(tokens) != re.sub(r"\s+", "", text):
        raise SynthError(f"cannot parse Liberty function {text!r}")
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1] if pos <= len(tokens) else None

    def atom():
        tok = take()
        if tok == "!":
            return ("not", atom())
        if tok == "(":
            node = or_expr()
            if take() != ")":
                raise SynthError(f"unbalanced parentheses in Liberty function {text!r}")
        elif tok in ("0", "1"):
            node = ("const", int(tok))
        elif tok is not None and tok not in "^&*|+)'":
            node = ("var", tok)
        else:
            raise SynthError(f"cannot parse Liberty function {text!r}")
        while peek() == "'":
            take()
            node = ("not", node)
        return node

    def xor_expr():
        node = atom()
        while peek() == "^":
            take()
            node = ("xor", node, atom())
        return node

    def and_expr():
        node = xor_expr()
        while peek() in ("&", "*") or (peek() is not None and peek() not in ("|", "+", ")")):
            if peek() in ("&", "*"):
                take()
            node = ("and", node, xor_expr())
        return node

    def or_expr():
        node = and_expr()
        while peek() in ("|", "+"):
            take()
            node = ("or", node, and_expr())
        return node

    tree = or_expr()
    if pos != len(tokens):
        raise SynthError(f"cannot parse Liberty function {text!r}")
    return tree


def function_inputs(tree):
    """Variable names a parsed function reads, in first-seen order."""
    if tree[0] == "var":
        return [tree[1]]
    if tree[0] == "const":
        return []
    names = []
    for child in tree[1:]:
        names += [v for v in function_inputs(child) if v not in names]
    return names


def evaluate(tree, values):
    """Value of a parsed function; ``values`` maps names to ints or NumPy integer arrays (bitwise)."""
    op = tree[0]
    if op == "var":
        return values[tree[1]]
    if op == "const":
        return -tree[1]   # all ones or all zeros, for any integer width
    if op == "not":
        return ~evaluate(tree[1], values)
    a, b = evaluate(tree[1], values), evaluate(tree[2], values)
    return a & b if op == "and" else a | b if op == "or" else a ^ b


# ---- library model -----------------------------------------------------------------------------
@dataclass
class EnergyTable:
    """One ``rise_power``/``fall_power`` table: energy (pJ) against output load and input slew."""

    loads: np.ndarray       # pF (a 1-element array when the table does not depend on load)
    slews: np.ndarray       # ns
    values: np.ndarray      # [len(loads), len(slews)]

    def lookup(self, load_pf, slew_ns):
        """Bilinear interpolation, linear extrapolation outside the table (as STA tools do)."""
        return float(_interp_axis(_interp_axis(self.values, self.loads, load_pf, 0), self.slews, slew_ns, 0))


def _interp_axis(values, axis_points, x, axis):
    if len(axis_points) == 1:
        return np.take(values, 0, axis=axis)
    i = int(np.clip(np.searchsorted(axis_points, x) - 1, 0, len(axis_points) - 2))
    x0, x1 = axis_points[i], axis_points[i + 1]
    t = (x - x0) / (x1 - x0)
    return np.take(values, i, axis=axis) * (1 - t) + np.take(values, i + 1, axis=axis) * t


@dataclass
class Pin:
    name: str
    direction: str
    capacitance: float = 0.0                 # pF
    function: tuple = None                   # parsed function of an output pin
    max_capacitance: float = None
    is_clock: bool = False
    # related pin (None for an input pin's own passive power) -> ("rise"|"fall" -> EnergyTable)
    energy: dict = field(default_factory=dict)


@dataclass
class Cell:
    name: str
    area: float
    pins: dict
    leakage: float = 0.0                     # in the library's leakage unit
    state: dict = None                       # ff/latch group: {kind, vars, next_state, clocked_on, ...}
    dont_use: bool = False

    @property
    def inputs(self):
        return [p for p in self.pins.values() if p.direction == "input"]

    @property
    def outputs(self):
        return [p for p in self.pins.values() if p.direction == "output"]

    @property
    def is_sequential(self):
        return self.state is not None


_UNIT = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0}


def _unit_scale(text, base):
    """'1ns' -> seconds of that unit relative to ``base`` ('s', 'W', 'V', 'A')."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([fpnum]?)" + base + r"\s*", text or "", flags=re.I)
    if not match:
        raise SynthError(f"unrecognised Liberty unit {text!r}")
    return float(match.group(1)) * _UNIT[match.group(2).lower()]


@dataclass
class Library:
    """The parts of a Liberty library the flow uses."""

    path: Path
    name: str
    cells: dict
    voltage: float
    leakage_unit_w: float
    has_timing: bool
    has_power: bool
    corner: str

    # ---- derived facts -------------------------------------------------------------------------
    def _combinational(self, n_inputs):
        for cell in self.cells.values():
            outs = cell.outputs
            if not cell.is_sequential and not cell.dont_use and len(outs) == 1 and outs[0].function \
                    and len(cell.inputs) == n_inputs:
                yield cell

    def _truth_table(self, cell):
        names = [p.name for p in cell.inputs]
        return tuple(evaluate(cell.outputs[0].function, dict(zip(names, bits))) & 1
                     for bits in product((0, 1), repeat=len(names)))

    @property
    def nand2(self):
        """Smallest 2-input NAND: the gate-equivalent (GE) unit."""
        cands = [c for c in self._combinational(2) if self._truth_table(c) == (1, 1, 1, 0)]
        if not cands:
            raise SynthError(f"{self.path}: no 2-input NAND cell, cannot normalise to gate equivalents")
        return min(cands, key=lambda c: c.area)

    @property
    def buffer(self):
        """Buffer for fanout trees: best drive (max_capacitance) per area, else the smallest."""
        cands = [c for c in self._combinational(1) if self._truth_table(c) == (0, 1)]
        if not cands:
            raise SynthError(f"{self.path}: no buffer cell for fanout trees")
        return max(cands, key=lambda c: ((c.outputs[0].max_capacitance or 0.0) / c.area, -c.area))

    def cell(self, name):
        try:
            return self.cells[name]
        except KeyError:
            raise SynthError(f"cell {name} is not in {self.path}") from None


def _energy_tables(group, templates):
    """``internal_power`` groups of a pin -> {related_pin: {"rise"/"fall": EnergyTable}}."""
    result = {}
    for power in group.all("internal_power"):
        related = power.attrs.get("related_pin")
        tables = {}
        for edge in ("rise", "fall"):
            found = power.all(f"{edge}_power")
            if not found:
                continue
            table = found[0]
            variables = templates.get(table.args[0] if table.args else "", [])
            axes = [np.array([float(v) for v in " ".join(table.attrs.get(f"index_{k}", ["0"])).replace(",", " ").split()])
                    for k in (1, 2)]
            rows = [[float(v) for v in row.replace(",", " ").split()] for row in table.attrs.get("values", [])]
            values = np.array(rows, dtype=np.float64).reshape(len(axes[0]), -1)
            load_axis = next((k for k, v in enumerate(variables) if "capacitance" in v), None)
            if load_axis is None:   # passive (input-pin) table: only the slew axis
                tables[edge] = EnergyTable(np.zeros(1), axes[0], values.reshape(1, -1))
            elif load_axis == 0:
                tables[edge] = EnergyTable(axes[0], axes[1], values)
            else:
                tables[edge] = EnergyTable(axes[1], axes[0], values.T)
        if tables:
            result[related] = tables
    return result


def read_liberty(path):
    """Read a Liberty file into a :class:`Library` (one-line :class:`SynthError` on failure)."""
    path = Path(path)
    if not path.is_file():
        raise SynthError(f"Liberty file not found: {path}")
    try:
        root = _parse_groups(path.read_text(errors="replace"))
    except (ValueError, IndexError) as err:
        raise SynthError(f"{path}: not a readable Liberty file ({err})") from None
    libs = root.all("library")
    if not libs:
        raise SynthError(f"{path}: no library() group, not a Liberty file")
    lib = libs[0]
    templates = {g.args[0]: [lib_var for key, lib_var in sorted(g.attrs.items()) if key.startswith("variable_")]
                 for g in lib.groups if g.kind in ("power_lut_template", "lu_table_template") and g.args}
    cells = {}
    has_timing = has_power = False
    for cg in lib.all("cell"):
        pins = {}
        for pg in cg.all("pin"):
            # A three-state output is not a logic function the flow can map or simulate.
            func = None if "three_state" in pg.attrs else pg.attrs.get("function")
            pin = Pin(name=pg.args[0], direction=pg.attrs.get("direction", ""),
                      capacitance=float(pg.attrs.get("capacitance", 0) or 0),
                      function=parse_function(func) if func else None,
                      max_capacitance=float(pg.attrs["max_capacitance"]) if "max_capacitance" in pg.attrs else None,
                      is_clock=pg.attrs.get("clock") == "true",
                      energy=_energy_tables(pg, templates))
            has_timing |= any(t.all("cell_rise") or t.all("cell_fall") for t in pg.all("timing"))
            has_power |= bool(pin.energy)
            pins[pin.name] = pin
        state = None
        for kind in ("ff", "latch"):
            for sg in cg.all(kind):
                state = {"kind": kind, "vars": sg.args, **{k: v for k, v in sg.attrs.items()}}
        cells[cg.args[0]] = Cell(name=cg.args[0], area=float(cg.attrs.get("area", 0) or 0), pins=pins,
                                 leakage=float(cg.attrs.get("cell_leakage_power", 0) or 0), state=state,
                                 dont_use=cg.attrs.get("dont_use") == "true")
    if not cells:
        raise SynthError(f"{path}: the library has no cells")
    voltage = float(lib.attrs.get("nom_voltage", 0) or 0)
    leakage_unit = _unit_scale(lib.attrs["leakage_power_unit"], "W") if "leakage_power_unit" in lib.attrs else 1e-9
    corner = lib.attrs.get("default_operating_conditions", "")
    temperature = lib.attrs.get("nom_temperature", "")
    corner_text = ", ".join(s for s in (corner, f"{voltage:g} V" if voltage else "", f"{temperature} C" if temperature else "") if s)
    return Library(path=path, name=lib.args[0] if lib.args else path.stem, cells=cells, voltage=voltage,
                   leakage_unit_w=leakage_unit, has_timing=has_timing, has_power=has_power and voltage > 0,
                   corner=corner_text or "not stated in the library")
