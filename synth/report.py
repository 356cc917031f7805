"""``report.md``, ``report.json`` and plots from the flow's design records."""

import copy
import json
from pathlib import Path

from quant.toolchain import REPO_ROOT

from . import energy_model
from .errors import SynthError

__all__ = ["write_report", "summarize", "SRAM_GE_PER_BIT"]

# SRAM macro density, for buffers Yosys can only build from flip-flops.  Measured on the OpenRAM
# sky130 macro sky130_sram_2kbyte_1rw_32x512_8 (VLSIDA/sky130_sram_macros, LEF SIZE 483.86 x
# 326.1 um = 157 787 um^2 for 512 x 32 data bits, periphery included): 9.63 um^2 per bit, i.e.
# 2.57 sky130_fd_sc_hd NAND2 areas (3.7536 um^2).  Other libraries get the same NAND2-equivalents
# per bit: an assumption (SRAM and logic density do not scale alike between processes).
SRAM_MACRO_UM2, SRAM_MACRO_BITS, SKY130_NAND2_UM2 = 483.86 * 326.1, 512 * 32, 3.7536
SRAM_GE_PER_BIT = SRAM_MACRO_UM2 / SRAM_MACRO_BITS / SKY130_NAND2_UM2
SRAM_SOURCE = ("OpenRAM sky130_sram_2kbyte_1rw_32x512_8 (github.com/VLSIDA/sky130_sram_macros): "
               f"{SRAM_MACRO_UM2 / SRAM_MACRO_BITS:.2f} um^2/bit = {SRAM_GE_PER_BIT:.2f} NAND2-eq/bit")
ROLE_ORDER = ("counter_bank", "postproc", "pe", "layer_table", "tile", "accelerator")
DISCLAIMER = ("Pre-layout estimates: logic synthesis and static analysis only. No placement, routing, "
              "wire load, clock tree or parasitics; zero-delay simulation (no glitches); an ideal clock. "
              "Use the figures to compare designs through one flow, not as silicon numbers.")


def _fmt(value, digits=3):
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def _lib(record, key):
    return record["libraries"].get(key)


def _bits(record):
    arith = record["arith"]
    return arith["exp_bits_a"] if record["pe_kind"] == "dnateq" else 8


def _gated(record):
    """Built with rtl_gen --clock-gating."""
    return bool(record.get("clock_gating"))


def _plain_pes(records):
    """PE records without clock gating (the sweeps compare these)."""
    return [r for r in records if r["top"] == "pe" and not _gated(r)]


def _energy(record, method):
    power = record.get("power") or {}
    return (power.get(method) or {}).get("energy_per_element_pj")


def summarize(records, primary):
    """The flat per-design rows of ``report.json``."""
    rows = []
    for r in records:
        lib = _lib(r, primary)
        power = r.get("power") or {}
        timing = lib["timing"] or {}
        pe = lib["modules"].get("pe", {})
        rows.append({
            "config": r.get("config", r["design"]), "pe_kind": r["pe_kind"], "top": r["top"],
            "clock_gating": _gated(r),
            "pe_count": r["pes"], "lanes": r["lanes"], "code_bits": _bits(r), "library": primary,
            "area_um2": lib["area_um2"], "kge": lib["kge"],
            "pe_area_um2": pe.get("area_um2"), "pe_kge": pe.get("kge"),
            "pe_area_per_element_um2": pe["area_um2"] / r["lanes"] if pe else None,
            "area_um2_by_library": {k: v["area_um2"] for k, v in r["libraries"].items()},
            "fmax_mhz": timing.get("fmax_mhz"),
            "power_mw": (power.get("opensta") or {}).get("total_mw"),
            "power_mw_toggle": (power.get("toggle") or {}).get("total_mw"),
            "energy_per_element_pj": _energy(r, "toggle"),
            "energy_per_element_pj_opensta": _energy(r, "opensta"),
            "elements_per_cycle": power.get("elements_per_cycle"),
            "modules": {role: {"area_um2": m["area_um2"], "kge": m["kge"], "flops": m["flops"],
                               **({"breakdown": m["breakdown"]} if "breakdown" in m else {})}
                        for role, m in lib["modules"].items()},
        })
    return rows


def _headline(records, lanes, bits):
    pes = _plain_pes(records)
    dna = [r for r in pes if r["pe_kind"] == "dnateq" and r["lanes"] == lanes and _bits(r) == bits]
    int8 = [r for r in pes if r["pe_kind"] == "int8" and r["lanes"] == lanes]
    if not dna or not int8:
        raise SynthError(f"the report needs a DNA-TEQ and an INT8 PE at {lanes} lanes ({bits}-bit codes)")
    return dna[0], int8[0]


def ratios(records, primary, lanes, bits):
    """Headline ratios (DNA-TEQ PE over INT8 PE at ``lanes`` and ``bits``) and the same per lane count."""
    dna, int8 = _headline(records, lanes, bits)

    def pair(d, i):
        return {"lanes": d["lanes"],
                "pe_area_dnateq_over_int8": _ratio(_lib(d, primary)["modules"]["pe"]["area_um2"],
                                                   _lib(i, primary)["modules"]["pe"]["area_um2"]),
                "pe_area_dnateq_over_int8_by_library": {
                    k: _ratio(d["libraries"][k]["modules"]["pe"]["area_um2"], i["libraries"][k]["modules"]["pe"]["area_um2"])
                    for k in d["libraries"] if k in i["libraries"]},
                "pe_energy_dnateq_over_int8": _ratio(_energy(d, "toggle"), _energy(i, "toggle")),
                "pe_energy_dnateq_over_int8_opensta": _ratio(_energy(d, "opensta"), _energy(i, "opensta")),
                "fmax_dnateq_over_int8": _ratio((_lib(d, primary)["timing"] or {}).get("fmax_mhz"),
                                                (_lib(i, primary)["timing"] or {}).get("fmax_mhz"))}

    by_lanes = []
    pes = _plain_pes(records)
    for d in sorted((r for r in pes if r["pe_kind"] == "dnateq" and _bits(r) == bits), key=lambda r: r["lanes"]):
        i = next((r for r in pes if r["pe_kind"] == "int8" and r["lanes"] == d["lanes"]), None)
        if i:
            by_lanes.append(pair(d, i))
    headline = pair(dna, int8)
    headline.pop("lanes")
    result = {"lanes": lanes, "code_bits": bits, "library": primary, **headline,
              "energy_definition": "energy per dot-product element at equal throughput: power / (elements per "
                                   "cycle x f), elements per cycle as measured in the simulation",
              "by_lanes": by_lanes}
    gated = _gated_pe(records, dna)
    if gated:
        result["clock_gated"] = {key: value for key, value in pair(gated, int8).items() if key != "lanes"}
        result["clock_gated"]["config"] = gated.get("config", gated["design"])
    accelerators = _accelerator_areas(records, primary)
    if "dnateq" in accelerators and "int8" in accelerators:
        d, i = accelerators["dnateq"], accelerators["int8"]
        result["accelerator_area_dnateq_over_int8"] = _ratio(d["area_um2"], i["area_um2"])
        result["accelerator_area_with_sram_buffers_dnateq_over_int8"] = _ratio(d["with_sram_default_um2"],
                                                                               i["with_sram_default_um2"])
        result["accelerator_logic_area_dnateq_over_int8"] = _ratio(d["logic_um2"], i["logic_um2"])
        if "dnateq clock-gated" in accelerators:
            g = accelerators["dnateq clock-gated"]
            result["accelerator_area_with_sram_buffers_dnateq_clock_gated_over_int8"] = _ratio(
                g["with_sram_default_um2"], i["with_sram_default_um2"])
        result["accelerator_areas"] = accelerators
    return result


def _gated_pe(records, dna):
    """The clock-gated twin of the DNA-TEQ PE ``dna`` (same lanes and bits), if the sweep has one."""
    return next((r for r in records if r["top"] == "pe" and _gated(r) and r["pe_kind"] == "dnateq"
                 and r["lanes"] == dna["lanes"] and _bits(r) == _bits(dna)), None)


def _accelerator_label(record):
    return record["pe_kind"] + (" clock-gated" if _gated(record) else "")


def _buffer_role(name):
    """Manifest buffer name -> module role: weights -> weight_buffer."""
    return f"{name[:-1] if name.endswith('s') else name}_buffer"


def _accelerator_areas(records, primary):
    """Per accelerator: its area as synthesized, without its flip-flop buffers, and with its buffers
    as SRAM macros at the synthesized depths and at rtl_gen's default depths (from a tile manifest
    of the same kind, lanes and PE count if present, else any tile of that kind)."""
    result = {}
    for r in (r for r in records if r["top"] == "accelerator"):
        lib = r["libraries"][primary]
        nand2 = lib["nand2_um2"]
        manifest = _manifest(r)
        tiles = [t for t in records if t["top"] == "tile" and t["pe_kind"] == r["pe_kind"] and t["lanes"] == r["lanes"]]
        tile = next((t for t in tiles if t["pes"] == r["pes"]), tiles[0] if tiles else None)
        defaults = _manifest(tile)["buffers"] if tile else {}
        flop_buffers = sram_built = sram_default = 0.0
        buffers = {}
        for name, b in manifest["buffers"].items():
            module = lib["modules"].get(_buffer_role(name))
            instances = b.get("instances", 1)
            depth = defaults.get(name, {}).get("depth")
            flop_buffers += module["area_um2"] * instances if module else 0.0
            sram_built += b["depth"] * b["width"] * instances * SRAM_GE_PER_BIT * nand2
            sram_default += (depth or 0) * b["width"] * instances * SRAM_GE_PER_BIT * nand2
            buffers[name] = {"depth": b["depth"], "default_depth": depth, "width": b["width"], "instances": instances,
                             "flip_flop_um2": module and module["area_um2"] * instances}
        logic = lib["area_um2"] - flop_buffers
        result[_accelerator_label(r)] = {
            "config": r.get("config", r["design"]), "pes": r["pes"], "area_um2": lib["area_um2"],
            "flip_flop_buffers_um2": flop_buffers, "logic_um2": logic, "with_sram_built_um2": logic + sram_built,
            "with_sram_default_um2": logic + sram_default if defaults else None, "buffers": buffers,
            "fmax_mhz": (lib["timing"] or {}).get("fmax_mhz")}
    return result


# ---- markdown -------------------------------------------------------------------------------------
def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _module_table(dna, int8, libraries):
    header = ["module"]
    for key in libraries:
        header += [f"DNA-TEQ {key} um^2", "kGE", f"INT8 {key} um^2", "kGE", "ratio"]
    header += ["DNA-TEQ flops", "INT8 flops"]
    rows = []
    for role in ROLE_ORDER:
        d = dna["libraries"][libraries[0]]["modules"].get(role)
        i = int8["libraries"][libraries[0]]["modules"].get(role)
        if d is None and i is None:
            continue
        row = [role.replace("_", " ")]
        for key in libraries:
            dm, im = dna["libraries"][key]["modules"].get(role), int8["libraries"][key]["modules"].get(role)
            row += [dm and dm["area_um2"], dm and dm["kge"], im and im["area_um2"], im and im["kge"],
                    _ratio(dm and dm["area_um2"], im and im["area_um2"])]
        row += [d and d["flops"], i and i["flops"]]
        rows.append(row)
    per_element = ["PE per element per cycle (PE / lanes)"]
    for key in libraries:
        dp, ip = dna["libraries"][key]["modules"]["pe"], int8["libraries"][key]["modules"]["pe"]
        per_element += [dp["area_um2"] / dna["lanes"], dp["kge"] / dna["lanes"], ip["area_um2"] / int8["lanes"],
                        ip["kge"] / int8["lanes"], _ratio(dp["area_um2"], ip["area_um2"])]
    rows.append(per_element + ["", ""])
    return _table(header, rows)


#: Hints for register names of the generated RTL (shown beside the netlist's own grouping).
REGISTER_HINTS = {"bin": "counting bank: one counter per bin", "shadow": "shadow bank: the drain reads it",
                  "product": "count x table product (its cone is the multiplier)", "acc": "accumulator",
                  "o__payload": "output register", "products": "stage 1: per-lane exponent sums",
                  "count": "count entering post-processing"}


def _describe(group, entry):
    kind, _, name = group.partition(" ")
    if kind == "registers":
        hint = REGISTER_HINTS.get(name)
        return (f"registers `{name}` ({entry['flops']} flops) and the logic only they use"
                + (f" ({hint})" if hint else ""))
    if kind == "shared":
        return f"logic feeding several register groups: {name}"
    if kind == "output":
        return f"logic feeding only output `{name}`" + (" (the drain's n_bins:1 read multiplexer)"
                                                        if name == "head" else "")
    if kind == "instance":
        return f"instances of {name} ({entry['flops']} flops)"
    if kind == "other" and name:
        return f"other small groups ({entry['flops']} flops)"
    return "logic feeding only sub-module inputs (e.g. clock-gate enables) or nothing"


def _breakdown_rows(label, breakdown, pe_area, skip=(), min_share=0.01):
    rows, small, small_flops = [], 0.0, 0
    for group, entry in sorted(breakdown.items(), key=lambda kv: -kv[1]["area_um2"]):
        if group in skip:
            continue
        if entry["area_um2"] / pe_area < min_share:
            small += entry["area_um2"]
            small_flops += entry["flops"]
            continue
        rows.append([f"{label}: {_describe(group, entry)}", entry["area_um2"], entry["area_um2"] / pe_area,
                     entry["flops"], entry["sequential_area_um2"]])
    if small:
        rows.append([f"{label}: the rest (groups under {min_share:.0%} of the PE each)", small, small / pe_area,
                     small_flops, ""])
    return rows


def _counter_bank_text(dna, primary):
    """The counter bank's flip-flops explained from the manifest, checked against the netlist."""
    arith = dna["arith"]
    manifest = _manifest(dna)
    shadow = bool(manifest.get("parameters", {}).get("double_buffer", manifest.get("drain", {}).get("double_buffer")))
    bank = dna["libraries"][primary]["modules"].get("counter_bank")
    if not bank:
        return ""
    banks = 2 if shadow else 1
    expected = banks * arith["n_bins"] * arith["count_width"]
    gates = sum(e["flops"] for g, e in bank.get("breakdown", {}).items() if g.startswith("instance"))
    what = (f"{arith['n_bins']} bins x {arith['count_width']} b in the counting bank"
            + (f" + the same in the shadow bank (double_buffer)" if shadow else " (no shadow bank)"))
    counted = bank["flops"] - gates
    check = "matches" if counted == expected else f"the netlist has {counted}"
    gate_text = f" plus {gates} flip-flops of clock gates" if gates else ""
    return (f"Counter bank flip-flops: {what} = {expected} ({check}){gate_text}; manifest drain: "
            f"{manifest.get('drain', {}).get('cycles', arith['n_bins'])} cycles through one n_bins:1 multiplexer.")


def _where_area_goes(dna, primary):
    lib = dna["libraries"][primary]
    modules = lib["modules"]
    pe = modules["pe"]["area_um2"]
    rows = []
    skip = set()
    for role in ("counter_bank", "postproc"):
        m = modules.get(role)
        if not m:
            continue
        skip.add(f"instance {m['module']}")
        if "breakdown" in m:
            rows += _breakdown_rows(role.replace("_", " "), m["breakdown"], pe)
        else:
            rows.append([role.replace("_", " "), m["area_um2"], m["area_um2"] / pe, m["flops"], m["sequential_area_um2"]])
    if "breakdown" in modules["pe"]:
        rows += _breakdown_rows("rest of the PE", modules["pe"]["breakdown"], pe, skip=skip)
    rows.append(["PE total", pe, 1.0, modules["pe"]["flops"], modules["pe"]["sequential_area_um2"]])
    text = ("Split read from the mapped netlist: flip-flops grouped by the register they implement; a "
            "combinational cell goes to the register group (or output port) whose inputs it alone feeds, "
            "cells feeding several groups are listed as shared (in the counter bank: the per-bin decode "
            "and adders, whose sum feeds both the counter and, at a chunk's end, the shadow bank).")
    return "\n\n".join(x for x in [_counter_bank_text(dna, primary), text, _table(
        ["part", f"{primary} um^2", "share of PE", "flops", "of it flip-flop um^2"], rows)] if x)


def _power_table(records):
    rows = []
    for r in records:
        p = r.get("power")
        if not p:
            continue
        toggle, sta = p.get("toggle") or {}, p["opensta"]
        rows.append([r.get("config", r["design"]), p["simulation"].split(":")[0], p["cycles"],
                     p["elements_per_cycle"], sta["total_mw"], sta["energy_per_element_pj"],
                     toggle.get("total_mw"), toggle.get("clock_mw"), toggle.get("register_mw"),
                     toggle.get("energy_per_element_pj")])
    return _table(["design", "simulation", "cycles", "elements/cycle", "OpenSTA mW", "OpenSTA pJ/elem",
                   "toggle mW", "of it clock mW", "of it flip-flop D/Q mW", "toggle pJ/elem"], rows)


def _lanes_table(records, primary, bits):
    rows = []
    pes = _plain_pes(records)
    for lanes in sorted({r["lanes"] for r in pes}):
        d = next((r for r in pes if r["pe_kind"] == "dnateq" and r["lanes"] == lanes and _bits(r) == bits), None)
        i = next((r for r in pes if r["pe_kind"] == "int8" and r["lanes"] == lanes), None)
        if not d or not i:
            continue
        da, ia = d["libraries"][primary]["modules"]["pe"]["area_um2"], i["libraries"][primary]["modules"]["pe"]["area_um2"]
        rows.append([lanes, da / lanes, ia / lanes, da / ia, _energy(d, "toggle"), _energy(i, "toggle"),
                     _ratio(_energy(d, "toggle"), _energy(i, "toggle")),
                     _ratio(_energy(d, "opensta"), _energy(i, "opensta")),
                     (d.get("power") or {}).get("elements_per_cycle"), (i.get("power") or {}).get("elements_per_cycle"),
                     (d["libraries"][primary]["timing"] or {}).get("fmax_mhz"),
                     (i["libraries"][primary]["timing"] or {}).get("fmax_mhz")])
    return _table(["lanes", "DNA-TEQ um^2/elem", "INT8 um^2/elem", "area ratio", "DNA-TEQ pJ/elem",
                   "INT8 pJ/elem", "energy ratio (toggle)", "energy ratio (OpenSTA)", "DNA-TEQ elem/cycle",
                   "INT8 elem/cycle", "DNA-TEQ Fmax MHz", "INT8 Fmax MHz"], rows)


def _bits_table(records, primary, lanes):
    rows = []
    for r in sorted((r for r in _plain_pes(records) if r["lanes"] == lanes),
                    key=lambda r: (r["pe_kind"] != "dnateq", _bits(r))):
        lib = r["libraries"][primary]
        arith = r["arith"]
        rows.append([r["pe_kind"], _bits(r) if r["pe_kind"] == "dnateq" else 8,
                     arith.get("n_bins", ""), arith.get("count_width", ""), lib["modules"]["pe"]["area_um2"],
                     lib["modules"]["pe"]["kge"], lib["modules"].get("counter_bank", {}).get("area_um2", ""),
                     _energy(r, "toggle"), (lib["timing"] or {}).get("fmax_mhz")])
    return _table(["kind", "code bits", "bins", "counter bits", f"PE {primary} um^2", "PE kGE", "counter bank um^2",
                   "pJ/elem (toggle)", "Fmax MHz"], rows)


def _tiles_table(records, primary):
    rows = []
    for r in sorted((r for r in records if r["top"] == "tile"), key=lambda r: (r["pes"], r["pe_kind"])):
        lib = r["libraries"][primary]
        power = r.get("power") or {}
        table = lib["modules"].get("layer_table")
        rows.append([r["pe_kind"], r["pes"], r["lanes"], lib["area_um2"], lib["kge"], lib["area_um2"] / r["pes"],
                     table and table["area_um2"], (lib["timing"] or {}).get("fmax_mhz"),
                     (power.get("opensta") or {}).get("total_mw"), _energy(r, "opensta")])
    return _table(["kind", "PEs", "lanes", f"tile {primary} um^2", "kGE", "um^2 per PE", "layer table um^2",
                   "Fmax MHz", "OpenSTA mW", "OpenSTA pJ/elem"], rows)


def _memory_section(records, primary):
    lines = [f"SRAM assumption: {SRAM_SOURCE}; the same NAND2 equivalents per bit are applied to every library.", ""]
    rows = []
    for r in records:
        for key, lib in r["libraries"].items():
            for role, m in lib["modules"].items():
                if m.get("memory_bits") and key == primary:
                    rows.append([r.get("config", r["design"]), role, m["memory_bits"], m["area_um2"],
                                 m["memory_bits"] * SRAM_GE_PER_BIT * lib["nand2_um2"]])
    if rows:
        lines.append("Memories Yosys inferred and built from flip-flops (the module's whole area), beside the "
                     "same bits as an SRAM macro:")
        lines += ["", _table(["design", "module", "bits", f"flip-flop {primary} um^2", f"SRAM estimate {primary} um^2"],
                             rows), ""]
    rows = []
    for r in (r for r in records if r["top"] == "tile"):
        nand2 = r["libraries"][primary]["nand2_um2"]
        for name, b in _manifest(r)["buffers"].items():
            total = b.get("total_bits", b["bits"])
            rows.append([r.get("config", r["design"]), name, b["depth"], b["width"], b.get("instances", 1), total,
                         total * SRAM_GE_PER_BIT * nand2])
    if rows:
        lines.append("Buffers an accelerator of each tile would have (the tiles' manifests, rtl_gen's default "
                     "depths), as SRAM:")
        lines += ["", _table(["design", "buffer", "depth", "width", "instances", "bits",
                              f"SRAM estimate {primary} um^2"], rows), ""]
    return "\n".join(lines)


def _model_section(records, bits):
    rows = []
    for entry in _plain_pes(records):
        if entry["pe_kind"] == "dnateq" and _bits(entry) != bits:
            continue
        lanes, arith = entry["lanes"], entry["arith"]
        power = entry.get("power") or {}
        n = power.get("elements") and round(power["elements"] / max(1, power.get("outputs_checked", 1)))
        if entry["pe_kind"] == "dnateq":
            model, parts = energy_model.dnateq_element_pj(arith, n or arith["max_vector_length"])
        else:
            model, parts = energy_model.int8_element_pj(lanes, arith["acc_width"])
        fetch = energy_model.operand_fetch_pj(_manifest(entry)["buffers"], lanes)
        rows.append([entry["pe_kind"], lanes, model, "; ".join(f"{k}: {v:.3g}" for k, v in parts.items()),
                     fetch, _energy(entry, "toggle")])
    rows.sort(key=lambda r: (r[1], r[0]))
    by_lanes = {}
    for row in rows:
        by_lanes.setdefault(row[1], {})[row[0]] = row
    ratio_rows = [[lanes, _ratio(pair["dnateq"][2], pair["int8"][2]),
                   _ratio(pair["dnateq"][2] + pair["dnateq"][4], pair["int8"][2] + pair["int8"][4]),
                   _ratio(pair["dnateq"][5], pair["int8"][5])]
                  for lanes, pair in sorted(by_lanes.items()) if len(pair) == 2]
    return "\n\n".join([
        _table(["kind", "lanes", "arithmetic pJ/elem (45 nm)", "breakdown (pJ)", "operand fetch pJ/elem (SRAM)",
                "netlist pJ/elem (toggle, 0.18 um)"], rows),
        _table(["lanes", "DNA-TEQ/INT8, arithmetic", "DNA-TEQ/INT8, arithmetic + fetch", "DNA-TEQ/INT8, netlist"],
               ratio_rows)])


def _manifest(record):
    return json.loads(Path(record["manifest"]).read_text())


def _accelerator_section(records, primary):
    accelerators = {_accelerator_label(r): r for r in records if r["top"] == "accelerator"}
    if not accelerators:
        return "No accelerator in this sweep."
    roles = []
    for r in accelerators.values():
        roles += [role for role in r["libraries"][primary]["modules"] if role not in roles]
    kinds = sorted(accelerators)
    header = ["module"] + [f"{kind} {h}" for kind in kinds for h in (f"{primary} um^2", "kGE", "flops", "memory bits")]
    rows = []
    for role in roles:
        row = [role.replace("_", " ")]
        for kind in kinds:
            m = accelerators[kind]["libraries"][primary]["modules"].get(role)
            row += [m and m["area_um2"], m and m["kge"], m and m["flops"], m and m["memory_bits"]]
        rows.append(row)
    first = accelerators[kinds[0]]
    depths = ", ".join(f"{name} {buffer['depth']}" for name, buffer in _manifest(first)["buffers"].items())
    areas = _accelerator_areas(records, primary)
    totals = []
    for kind in kinds:
        a = areas[kind]
        default = ", ".join(f"{n} {b['default_depth']}" for n, b in a["buffers"].items())
        totals.append([kind, a["area_um2"], a["flip_flop_buffers_um2"], a["logic_um2"], a["with_sram_built_um2"],
                       a["with_sram_default_um2"], default, a["fmax_mhz"]])
    base = areas.get("int8")
    ratio_rows = []
    if base:
        for kind in kinds:
            if kind == "int8":
                continue
            a = areas[kind]
            ratio_rows.append([f"{kind} / int8", _ratio(a["area_um2"], base["area_um2"]),
                               _ratio(a["logic_um2"], base["logic_um2"]),
                               _ratio(a["with_sram_default_um2"], base["with_sram_default_um2"]),
                               _ratio(a["fmax_mhz"], base["fmax_mhz"])])
    return "\n\n".join([
        f"{first['pes']} PEs, {first['lanes']} lanes, buffers of {depths} entries (shallow: Yosys builds "
        "them from flip-flops). Not simulated (its AXI interfaces need a bus driver), so no power figure. "
        "Module areas include what they instantiate; a buffer role is one instance.",
        _table(header, rows),
        "The accelerator with its buffers as SRAM: the synthesized area minus the flip-flop buffers "
        f"(module area x instances), plus SRAM macros ({SRAM_SOURCE}) for the buffers at the synthesized depths "
        "and at rtl_gen's default depths (read from a tile manifest of the same kind and lanes).",
        _table(["accelerator", f"as synthesized {primary} um^2", "flip-flop buffers um^2", "without buffers um^2",
                "with SRAM buffers, synthesized depths um^2", "with SRAM buffers, default depths um^2",
                "default depths", "Fmax MHz"], totals),
        _table(["ratio", "as synthesized", "without buffers", "with SRAM buffers at default depths", "Fmax"],
               ratio_rows) if ratio_rows else ""])


def _clock_gating_section(records, primary, lanes, bits):
    dna, int8 = _headline(records, lanes, bits)
    gated = _gated_pe(records, dna)
    if gated is None:
        return "No clock-gated design in this sweep (the default sweep adds one)."
    rows = []
    for label, r in (("DNA-TEQ", dna), ("DNA-TEQ, --clock-gating", gated), ("INT8", int8)):
        lib = r["libraries"][primary]
        power = r.get("power") or {}
        toggle = power.get("toggle") or {}
        timing = lib["timing"] or {}
        rows.append([label, lib["modules"]["pe"]["area_um2"], lib["modules"]["pe"]["flops"],
                     lib["modules"].get("clock_gate", {}).get("area_um2"),
                     timing.get("fmax_mhz"), timing.get("path_fraction_of_period"),
                     toggle.get("total_mw"), toggle.get("clock_mw"), _energy(r, "toggle"), _energy(r, "opensta"),
                     _ratio(lib["modules"]["pe"]["area_um2"], int8["libraries"][primary]["modules"]["pe"]["area_um2"]),
                     _ratio(_energy(r, "toggle"), _energy(int8, "toggle"))])
    return "\n\n".join([
        f"The headline DNA-TEQ PE regenerated with `rtl_gen --clock-gating` ({gated.get('config')}): each register "
        "group that loads only on an enable is clocked by `dnateq_clock_gate` (a falling-edge flip-flop holding "
        "the enable, ANDed with the clock) instead of holding its value through a multiplexer.",
        _table(["design", f"PE {primary} um^2", "PE flops", "one clock gate um^2", "Fmax MHz",
                "limiting path, fraction of period", "toggle mW", "of it clock mW", "toggle pJ/elem",
                "OpenSTA pJ/elem", "PE area / INT8", "energy / INT8 (toggle)"], rows),
        "How the tools treat the gated clocks:",
        "* **Gate-level simulation**: the gate's flip-flop and AND are simulated like every other cell, so the "
        "gated flip-flops see real pulses; the bit-exact check against quant.golden covers them. The harness "
        "samples every net once a cycle while the clock is high, when a gated clock reads 1 exactly in the "
        "cycles it pulses; the toggle figure charges each such cycle one rise and one fall of the gated net "
        "(the AND's output energy, the C V^2/2 of its load and the clock pins' internal energy), as clock power.",
        "* **OpenSTA timing**: the clock `clk` propagates through each gate's AND (ideal, zero delay) to the "
        "flip-flops it clocks; OpenSTA infers a clock-gating setup check on the AND (path group "
        "`clock_gating_default`), and the paths into the falling-edge enable flip-flops have half a period. "
        "Fmax here is set by the path whose required time, scaled with the period, runs out first (a "
        "half-cycle path needs twice its delay), from the worst path of up to 50 endpoints per path group.",
        "* **OpenSTA report_power** gives every clock pin behind a gate the full clock activity: on an 8-flip-flop "
        "group whose gate enable is held at 0, its sequential power is the same as with the enable at 1 "
        "(`tests/test_synth_smoke.py`); only the AND's own power changes. So the OpenSTA figure does not see "
        "what gating saves, and adds the gates' cost.",
        "* **Clock trees**: the top's `clk` is an ideal clock with no tree (area and energy of a clock tree are "
        "not counted for any design); each gated clock gets a buffer tree from the fanout repair (counted), "
        "as clock-tree synthesis would give it. Without it one AND drives a whole bank and OpenSTA's "
        "flip-flop power behind it is about 20x too high (slew far outside the tables). This biases the "
        "comparison against clock gating."])


def _plots(records, primary, bits, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    files = []
    pes = [r for r in _plain_pes(records) if r["pe_kind"] == "int8" or _bits(r) == bits]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for kind, style in (("dnateq", "o-"), ("int8", "s--")):
        rs = sorted((r for r in pes if r["pe_kind"] == kind), key=lambda r: r["lanes"])
        lanes = [r["lanes"] for r in rs]
        axes[0].plot(lanes, [r["libraries"][primary]["modules"]["pe"]["area_um2"] / r["lanes"] for r in rs], style,
                     label=kind)
        energies = [(r["lanes"], _energy(r, "toggle")) for r in rs if _energy(r, "toggle") is not None]
        if energies:
            axes[1].plot(*zip(*energies), style, label=kind)
    axes[0].set(xscale="log", yscale="log", xlabel="lanes", ylabel=f"PE area per element, um^2 ({primary})",
                title="Area per element per cycle")
    axes[1].set(xscale="log", xlabel="lanes", ylabel="pJ per element (toggle x Liberty)",
                title="Energy per element at equal throughput")
    for ax in axes:
        ax.set_xticks(sorted({r["lanes"] for r in pes}), labels=[str(l) for l in sorted({r["lanes"] for r in pes})])
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    files.append(_save(fig, out_dir / "pe_vs_lanes.png"))

    dna = sorted((r for r in pes if r["pe_kind"] == "dnateq"), key=lambda r: r["lanes"])
    if dna:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        labels = [str(r["lanes"]) for r in dna]
        mods = [r["libraries"][primary]["modules"] for r in dna]
        # Counter-bank groups that reach 5 % of a PE get their own bar segment.
        bank_groups = []
        for m in mods:
            for group, entry in m["counter_bank"].get("breakdown", {}).items():
                if entry["area_um2"] >= 0.05 * m["pe"]["area_um2"] and group not in bank_groups:
                    bank_groups.append(group)
        parts = [(f"counter bank: {g}", lambda m, g=g: m["counter_bank"].get("breakdown", {}).get(g, {}).get("area_um2", 0.0))
                 for g in bank_groups]
        parts += [("counter bank: rest", lambda m: m["counter_bank"]["area_um2"] - sum(
                      m["counter_bank"].get("breakdown", {}).get(g, {}).get("area_um2", 0.0) for g in bank_groups)),
                  ("post-processing", lambda m: m["postproc"]["area_um2"]),
                  ("rest of PE", lambda m: m["pe"]["area_um2"] - m["counter_bank"]["area_um2"] - m["postproc"]["area_um2"])]
        bottom = [0.0] * len(dna)
        for name, get in parts:
            values = [get(m) for m in mods]
            ax.bar(labels, values, bottom=bottom, label=name)
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.set(xlabel="lanes", ylabel=f"um^2 ({primary})", title="Where the DNA-TEQ PE area goes (from the netlist)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        files.append(_save(fig, out_dir / "dnateq_area_breakdown.png"))

    tiles = [r for r in records if r["top"] == "tile"]
    if tiles:
        fig, ax = plt.subplots(figsize=(6, 4))
        for kind, style in (("dnateq", "o-"), ("int8", "s--")):
            rs = sorted((r for r in tiles if r["pe_kind"] == kind), key=lambda r: r["pes"])
            ax.plot([r["pes"] for r in rs], [r["libraries"][primary]["area_um2"] for r in rs], style, label=kind)
        ax.set(xscale="log", yscale="log", xlabel="PEs per tile", ylabel=f"tile area, um^2 ({primary})",
               title="Tile area against PE count")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        files.append(_save(fig, out_dir / "tile_vs_pes.png"))
    return files


def _save(fig, path):
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return path.name


def _relative(text):
    """Paths inside the repository written relative to it (the report is committed)."""
    return text.replace(f"{REPO_ROOT}/", "")


#: In report.json, netlist groups under this share of their module are merged into one entry.
BREAKDOWN_MIN_SHARE = 0.005


def _compact(records):
    """Copies of ``records`` whose area breakdowns merge the many tiny groups (report.json size)."""
    records = copy.deepcopy(records)
    for r in records:
        for lib in r["libraries"].values():
            for m in lib["modules"].values():
                if "breakdown" not in m:
                    continue
                kept, rest = {}, {"area_um2": 0.0, "flops": 0, "sequential_area_um2": 0.0}
                for group, entry in m["breakdown"].items():
                    if entry["area_um2"] >= BREAKDOWN_MIN_SHARE * m["area_um2"]:
                        kept[group] = entry
                    else:
                        rest = {k: rest[k] + entry[k] for k in rest}
                if rest["area_um2"]:
                    kept[f"other groups (each < {BREAKDOWN_MIN_SHARE:.1%} of the module)"] = rest
                m["breakdown"] = kept
    return records


def write_report(records, meta, out_dir, lanes, bits):
    """Write ``report.json``, ``report.md`` and the plots into ``out_dir``."""
    records = _compact(records)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    libraries = list(records[0]["libraries"])
    primary = libraries[0]
    summary = {"meta": meta, "designs": summarize(records, primary), "ratios": ratios(records, primary, lanes, bits),
               "records": records}
    (out_dir / "report.json").write_text(_relative(json.dumps(summary, indent=1, default=str)) + "\n")
    plots = _plots(records, primary, bits, out_dir)
    dna, int8 = _headline(records, lanes, bits)
    r = summary["ratios"]
    settings = records[0]["settings"]
    lib_meta = {key: records[0]["libraries"][key] for key in libraries}
    power_library = next((rec["power"]["library"] for rec in records if rec.get("power")), None)
    lines = [
        "# DNA-TEQ vs INT8: area, timing and power from one open flow", "",
        f"**{DISCLAIMER}**", "",
        "## Flow", "",
        _table(["item", "value"], [
            ["Yosys", meta["tools"]["yosys"]], ["OpenSTA", meta["tools"]["opensta"]],
            ["Verilator", meta["tools"]["verilator"]], ["Amaranth", meta["tools"]["amaranth"]],
            *[[f"library {key}", f"{lib['library']} ({lib['liberty']}); corner: {lib['corner']}; NAND2 = "
               f"{lib['nand2_cell']} {lib['nand2_um2']:g} um^2; timing: "
               f"{'yes' if lib['timing'] else 'no'}"] for key, lib in lib_meta.items()],
            ["clock", f"{1000 / settings['clock_ns']:g} MHz ({settings['clock_ns']:g} ns) for timing constraints "
                      "and power, every design"],
            ["power library", power_library or "none (no library with power tables)"],
            ["fanout repair", f"buffer trees above {settings['max_fanout']} loads ({lib_meta[primary]['liberty']} "
                              "buffer with the best drive per area); the clk port's net untouched (ideal clock, "
                              "no clock tree counted); gated clocks (--clock-gating) buffered like data nets"],
            ["output load", f"{settings['output_load_nand2']} NAND2 input capacitances per top-level output"],
            ["activity source", meta["activity_source"]],
            ["command", meta["command"]],
            ["run time", f"this invocation {meta['seconds']:.0f} s wall, {meta['cpu_seconds']:.0f} s CPU, on "
                         f"{meta['cpus']} cores, load average {meta['load_average']:.1f} at the end (other jobs share "
                         f"the machine); {meta.get('cached', 0)} of {len(records)} designs from the cache; computing the "
                         f"designs took {meta.get('design_seconds', 0):.0f} s of design time ({meta.get('jobs', 1)} at a "
                         "time)"],
        ]), "",
        "## Headline", "",
        f"DNA-TEQ PE ({bits}-bit codes) beside the INT8 PE, both with {lanes} lanes, same flow, same layer:", "",
        _table(["ratio (DNA-TEQ / INT8)", "value"], [
            [f"PE area ({primary})", r["pe_area_dnateq_over_int8"]],
            *[[f"PE area ({k})", v] for k, v in r["pe_area_dnateq_over_int8_by_library"].items() if k != primary],
            ["energy per element, toggle x Liberty", r["pe_energy_dnateq_over_int8"]],
            ["energy per element, OpenSTA report_power", r["pe_energy_dnateq_over_int8_opensta"]],
            ["Fmax", r["fmax_dnateq_over_int8"]],
            *([[f"PE area, --clock-gating ({primary})", r["clock_gated"]["pe_area_dnateq_over_int8"]],
               ["energy per element, toggle, --clock-gating", r["clock_gated"]["pe_energy_dnateq_over_int8"]],
               ["energy per element, OpenSTA, --clock-gating", r["clock_gated"]["pe_energy_dnateq_over_int8_opensta"]],
               ["Fmax, --clock-gating", r["clock_gated"]["fmax_dnateq_over_int8"]]] if "clock_gated" in r else []),
            *([["accelerator area, as synthesized (shallow flip-flop buffers)", r["accelerator_area_dnateq_over_int8"]],
               ["accelerator area, buffers as SRAM at default depths",
                r["accelerator_area_with_sram_buffers_dnateq_over_int8"]]]
              if "accelerator_area_dnateq_over_int8" in r else []),
            *([["accelerator area, buffers as SRAM at default depths, --clock-gating",
                r["accelerator_area_with_sram_buffers_dnateq_clock_gated_over_int8"]]]
              if "accelerator_area_with_sram_buffers_dnateq_clock_gated_over_int8" in r else [])]), "",
        "Energy per element = power / (elements per cycle x f) at the same clock: energy per dot-product "
        "element at equal throughput. Accelerators: 4 PEs; see Accelerator.", "",
        "## Per module", "",
        _module_table(dna, int8, libraries), "",
        "## Where the DNA-TEQ area goes", "",
        _where_area_goes(dna, primary), "",
        "## Sweep over lanes (PE, per element per cycle)", "",
        _lanes_table(records, primary, bits), "",
        "## Sweep over code bits (PE)", "",
        _bits_table(records, primary, lanes), "",
        "## Sweep over PE count (tile)", "",
        _tiles_table(records, primary), "",
        "## Power", "",
        _power_table(records), "",
        "Two figures per design, both at the same clock and from the same simulated layer:", "",
        "* **OpenSTA `report_power`** (Debian OpenSTA 2019) with the simulated toggle rate and duty of every "
        "input port bit. That version honours only `-global`, `-input` and `-input_ports` activities: every "
        "register output and internal net gets a *propagated* probability, not what the simulation did, "
        "so the counter bank's real (low) register activity is not seen. It also charges the rise *and* the "
        "fall table energy for each transition (measured: 2x the internal power of the toggle method on an "
        "inverter chain with identical activity; later OpenSTA versions average the two).",
        "* **toggle x Liberty**: a zero-delay gate-level Verilator simulation of the mapped netlist counts "
        "the rising and falling transitions of every net; each costs the driver's `internal_power` energy "
        "(at the net's load and a " f"{settings['slew_ns']:g} ns input slew) plus C V^2/2 of the pins it drives, "
        "the clock costs every clock pin's internal energy and C V^2/2 twice a cycle, plus leakage. It sees "
        "the true register activity; it misses glitches (which hit the INT8 multipliers more than the counters) "
        "and wires. Tiles are simulated at RTL only (input activity), so they have the OpenSTA figure alone.",
        "", "Energy per element = power / (elements per cycle x f), elements per cycle as simulated "
        "(a DNA-TEQ PE whose drain of n_bins cycles outlasts a vector's beats stalls, and pays for it here).", "",
        "## Clock gating", "",
        _clock_gating_section(records, primary, lanes, bits), "",
        "## Accelerator", "",
        _accelerator_section(records, primary), "",
        "## Memories", "",
        _memory_section(records, primary), "",
        "## Cross-check: energy per element from operation counts", "",
        f"Model: {energy_model.SOURCE}; adder energy linear in width, multiplier energy in the product of "
        "widths (our scaling); operand fetch at Horowitz's SRAM access energy for the buffers the manifest "
        "records. The arithmetic column ignores registers, clock and wires; the netlist figure pays for "
        "clocking every flip-flop, which is where the counter bank spends. Compare ratios, not absolute "
        "values (45 nm vs 0.18 um).", "",
        _model_section(records, bits), "",
        "## Critical paths", "",
        _table(["design", "Fmax MHz", "slack at clock, ns", "from", "to"], [
            [rec.get("config", rec["design"]), rec["libraries"][primary]["timing"]["fmax_mhz"],
             rec["libraries"][primary]["timing"]["slack_ns"], rec["libraries"][primary]["timing"]["startpoint"],
             rec["libraries"][primary]["timing"]["endpoint"]]
            for rec in records if rec["libraries"][primary]["timing"]]), "",
        "Full path reports: `synth/out/designs/<design>/<library>/critical_path.txt`.", "",
        "## Plots", "",
        *[f"![{name}]({name})" for name in plots], "",
    ]
    (out_dir / "report.md").write_text(_relative("\n".join(lines)) + "\n")
    return summary


#: What the regression baseline keeps of each design and of the ratios (synth/baseline/*.json).
BASELINE_FIELDS = ("area_um2_by_library", "fmax_mhz", "power_mw", "power_mw_toggle", "energy_per_element_pj",
                   "energy_per_element_pj_opensta", "elements_per_cycle")
BASELINE_RATIOS = ("pe_area_dnateq_over_int8", "pe_energy_dnateq_over_int8", "pe_energy_dnateq_over_int8_opensta",
                   "fmax_dnateq_over_int8")


def baseline_summary(report):
    """The measured figures of a ``report.json`` record that a regression test compares."""
    return {"tools": report["meta"]["tools"], "activity_source": report["meta"]["activity_source"],
            "designs": {row["config"]: {key: row[key] for key in BASELINE_FIELDS} for row in report["designs"]},
            "ratios": {key: report["ratios"][key] for key in BASELINE_RATIOS}}
