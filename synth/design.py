"""A generated design as the flow sees it: its manifest, and the stimulus that drives its top.

Everything comes from ``manifest.json`` (``docs/architecture.md`` §4): files, top, roles, widths.
The stream payload layouts are the hardware's own (:mod:`hw.interfaces`), built from the
manifest's arith and lanes and checked against the top's port widths.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quant.arith import DnaTeqArith

from .errors import SynthError
from .gatesim import Stimulus, StreamPorts

__all__ = ["Design", "load_design"]

REQUIRED_KEYS = ("top", "pe_kind", "pe_count", "verilog", "tiles", "pes_per_tile", "lanes", "arith", "modules",
                 "ports")
CLOCK_PORT = "clk"


@dataclass
class Design:
    """One generated design (a manifest and the folder it lives in)."""

    manifest: dict
    folder: Path

    @property
    def top(self):
        return self.manifest["top"]

    @property
    def kind(self):
        return self.manifest["pe_kind"]

    @property
    def lanes(self):
        return int(self.manifest["lanes"])

    @property
    def roles(self):
        """``{role: module name}``."""
        return dict(self.manifest["modules"])

    @property
    def top_role(self):
        return next((role for role, name in self.roles.items() if name == self.top), "top")

    @property
    def pes(self):
        """PEs behind the top's streams (1 for a PE top)."""
        return 1 if self.top_role == "pe" else int(self.manifest["pes_per_tile"]) * int(self.manifest["tiles"])

    @property
    def verilog(self):
        return [self.folder / name for name in self.manifest["verilog"]]

    @property
    def arith(self):
        """:class:`DnaTeqArith` of a DNA-TEQ design (derived widths checked), None for INT8."""
        return DnaTeqArith.from_dict(self.manifest["arith"]) if self.kind == "dnateq" else None

    @property
    def max_vector_length(self):
        return int(self.manifest["arith"]["max_vector_length"])

    @property
    def out_width(self):
        return int(self.manifest["arith"]["out_width"])

    @property
    def ports(self):
        """Ports of the top module: ``[{name, direction, width}]``."""
        return self.manifest["ports"][self.top]

    def port(self, name):
        return next((p for p in self.ports if p["name"] == name), None)

    @property
    def identity(self):
        """Short name for reports: kind, top, PEs, lanes, and exponent widths for DNA-TEQ."""
        bits = "" if self.kind == "int8" else \
            f"-w{self.manifest['arith']['exp_bits_w']}a{self.manifest['arith']['exp_bits_a']}"
        return f"{self.kind}-{self.top_role}-p{self.pes}-l{self.lanes}{bits}"

    # ---- stimulus -----------------------------------------------------------------------------
    def _lane_layouts(self):
        from hw.interfaces import INT8_LANE, operand_layout
        if self.kind == "int8":
            return INT8_LANE, INT8_LANE
        return operand_layout(self.arith.exp_bits_w), operand_layout(self.arith.exp_bits_a)

    def input_streams(self, vectors):
        """``[(StreamPorts, payload words)]`` of the top's input streams, from :mod:`hw.interfaces` layouts.

        A PE takes one stream ``i`` (``beat_layout``); a tile one activation stream ``a``
        (``activation_beat_layout``) and a weight stream ``w__<p>`` per PE.
        """
        from amaranth.lib import data

        from hw.interfaces import activation_beat_layout, beat_layout
        from .workload import pack
        weight_lane, activation_lane = self._lane_layouts()
        count = len(vectors.last)
        if self.port("i__payload"):
            streams = [("i", beat_layout(weight_lane, activation_lane, self.lanes),
                        {**vectors.fields(("w",), "w", 0), **vectors.fields(("a",), "a"), ("last",): vectors.last})]
        elif self.port("a__payload"):
            streams = [("a", activation_beat_layout(activation_lane, self.lanes),
                        {**vectors.fields(("a",), "a"), ("last",): vectors.last})]
            streams += [(f"w__{p}", data.ArrayLayout(weight_lane, self.lanes), vectors.fields((), "w", p))
                        for p in range(self.pes)]
        else:
            raise SynthError(f"{self.top} has neither an i stream (PE) nor an a stream (tile)")
        result = []
        for name, layout, fields in streams:
            ports = StreamPorts.named(name)
            port = self.port(ports.payload)
            if port is None or port["width"] != layout.size:
                raise SynthError(f"{self.top}: port {ports.payload} is {port and port['width']} bits, "
                                 f"its layout {layout.size}")
            result.append((ports, pack(layout, fields, count)))
        return result

    def stimulus(self, layer, seed):
        """``(Stimulus, Vectors)`` that stream ``layer`` through the top, with the golden outputs."""
        from .workload import dnateq_vectors, int8_vectors, take_vectors
        rows, columns = take_vectors(layer.shape, self.lanes, self.pes)
        static, setup, memory = {}, [], None
        if self.kind == "dnateq":
            operands = layer.dnateq(self.arith, seed)
            vectors = dnateq_vectors(operands, self.lanes, self.pes, rows, columns)
            program = operands.program
            if self.port("shift"):
                static["shift"] = program.shift
            if self.port("table__addr"):           # a PE reads the table outside it
                memory = ("table__addr", "table__en", "table__data", [int(v) for v in program.table])
            elif self.port("table_write__en"):     # a tile holds the table: write it first
                setup = [{"table_write__en": 1, "table_write__addr": k, "table_write__data": int(v)}
                         for k, v in enumerate(program.table)]
            else:
                raise SynthError(f"{self.top} has neither a table read nor a table write port")
        else:
            vectors = int8_vectors(*layer.int8(), self.lanes, self.pes, rows, columns)
        return Stimulus(sources=self.input_streams(vectors), sink=StreamPorts.named("o"),
                        outputs=len(vectors.expected), static=static, setup=setup, memory=memory), vectors

    def decode_outputs(self, payloads):
        """Output payloads (unsigned ints) as signed ``Y`` per PE: ``[beats, pes]``."""
        from hw.interfaces import unpack_signed

        return np.array([unpack_signed(v, self.out_width, self.pes) for v in payloads],
                        dtype=np.int64).reshape(-1, self.pes)


def load_design(manifest_path):
    """Read and check ``manifest.json``; every error is one line."""
    path = Path(manifest_path)
    if not path.is_file():
        raise SynthError(f"manifest not found: {path} (generate one with 'python -m rtl_gen -o DIR')")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as err:
        raise SynthError(f"{path} is not valid JSON: {err}") from None
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise SynthError(f"{path} lacks the manifest key(s) {', '.join(missing)} (docs/architecture.md section 4)")
    design = Design(manifest=manifest, folder=path.parent.resolve())
    absent = [str(f) for f in design.verilog if not f.is_file()]
    if absent:
        raise SynthError(f"{path} lists Verilog files that do not exist: {', '.join(absent)}")
    if design.top not in manifest["ports"] or not design.port(CLOCK_PORT):
        raise SynthError(f"{path}: no port list with a '{CLOCK_PORT}' clock for the top module {design.top}")
    return design
