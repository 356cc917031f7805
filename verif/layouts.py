"""The streams and ports of a PE or tile top, read from its manifest.

Port names are the flattened signature members of the components (``i__payload``,
``w__3__valid``, ``table_write__en``, ...); each one is looked up in the manifest's port list,
which also gives its width.  Payload layouts are the generator's own (:mod:`hw.interfaces`) at the
manifest's widths and lanes, and each layout's size is checked against its port's width.

A lone PE takes one stream ``i`` of ``{w[lanes], a[lanes], last}`` beats.  A tile takes one
weight stream ``w__k`` of ``w[lanes]`` per PE and one broadcast stream ``a`` of
``{a[lanes], last}``, joined (a beat moves when all are valid).
"""

from dataclasses import dataclass

from amaranth.lib import data

from hw.interfaces import INT8_LANE, activation_beat_layout, beat_layout, operand_layout

__all__ = ["InputStream", "ArrayPorts", "array_ports", "top_role"]


def top_role(manifest):
    """The role (``pe``, ``tile``, ``accelerator``) whose module is the top."""
    roles = [role for role, module in manifest["modules"].items() if module == manifest["top"]]
    if len(roles) != 1:
        raise AssertionError(f"manifest modules {manifest['modules']} name the top {manifest['top']!r} "
                             f"{len(roles)} times")
    return roles[0]


def _lane_layouts(manifest):
    if manifest["pe_kind"] == "int8":
        return INT8_LANE, INT8_LANE
    arith = manifest["arith"]
    return operand_layout(arith["exp_bits_w"]), operand_layout(arith["exp_bits_a"])


@dataclass
class InputStream:
    """One valid/ready input of the top and the part of a beat (see ``verif.beats``) it carries."""

    name: str
    valid: object
    ready: object
    payload: object
    layout: object
    select: object           # beat fields {"w": [beats, pes, lanes], "a", "last"} -> this stream's value


@dataclass
class ArrayPorts:
    """Handles and parameters a PE/tile bench needs (table ports are None where the top has none)."""

    inputs: list
    o_valid: object
    o_ready: object
    o_payload: object
    shift: object
    table_en: object            # a lone DNA-TEQ PE reads the table from the bench
    table_addr: object
    table_data: object
    table_write_en: object      # a DNA-TEQ tile holds the table and takes writes
    table_write_addr: object
    table_write_data: object
    pes: int
    out_width: int
    latency: int
    drain_cycles: int


def array_ports(dut, manifest):
    role = top_role(manifest)
    lanes = manifest["lanes"]
    names = {port["name"] for port in manifest["ports"][manifest["top"]]}

    def port(name, direction):
        return manifest.port(dut, name, direction)

    def optional(name, direction):
        return port(name, direction) if name in names else None

    def stream(name, layout, select):
        payload = port(f"{name}__payload", "input")
        if len(payload) != layout.size:
            raise AssertionError(f"{name}__payload is {len(payload)} bits, its layout {layout.size}")
        return InputStream(name, port(f"{name}__valid", "input"), port(f"{name}__ready", "output"), payload,
                           layout, select)

    weight_lane, activation_lane = _lane_layouts(manifest)
    if role == "tile":
        pes = manifest["pes_per_tile"]
        inputs = [stream(f"w__{pe}", data.ArrayLayout(weight_lane, lanes), lambda beats, pe=pe: beats["w"][pe])
                  for pe in range(pes)]
        inputs.append(stream("a", activation_beat_layout(activation_lane, lanes),
                             lambda beats: {"a": beats["a"], "last": beats["last"]}))
    else:
        pes = 1
        inputs = [stream("i", beat_layout(weight_lane, activation_lane, lanes),
                         lambda beats: {"w": beats["w"][0], "a": beats["a"], "last": beats["last"]})]
    out_width = manifest["arith"]["out_width"]
    o_payload = port("o__payload", "output")
    if len(o_payload) != pes * out_width:
        raise AssertionError(f"o__payload is {len(o_payload)} bits, not {pes} x {out_width}")
    return ArrayPorts(
        inputs=inputs,
        o_valid=port("o__valid", "output"), o_ready=port("o__ready", "input"), o_payload=o_payload,
        shift=optional("shift", "input"),
        table_en=optional("table__en", "output"), table_addr=optional("table__addr", "output"),
        table_data=optional("table__data", "input"),
        table_write_en=optional("table_write__en", "input"), table_write_addr=optional("table_write__addr", "input"),
        table_write_data=optional("table_write__data", "input"),
        pes=pes, out_width=out_width, latency=manifest["latency"][role],
        drain_cycles=manifest["drain"]["cycles"] if manifest["pe_kind"] == "dnateq" else 0)
