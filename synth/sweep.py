"""The configurations a report compares, generated with ``python -m rtl_gen`` and run in parallel.

Each configuration is one ``rtl_gen`` command line.  Its Verilog and manifest go to
``synth/out/rtl/<id>/`` (regenerated only when the generator's sources or the arguments change)
and its flow result to ``synth/out/designs/<id>/``, cached under a digest of everything the
result depends on: the generated Verilog and manifest (without its generator record), the Liberty
files, the flow's own sources and settings, the quant modules that encode the layer and compute
the golden outputs, and the layer data's source.  A re-run with nothing changed costs seconds.
"""

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from quant.toolchain import REPO_ROOT

from .design import load_design
from .errors import SynthError
from .flow import run_design
from .workload import layer_for

__all__ = ["Config", "default_configs", "full_configs", "small_configs", "run_configs", "OUT_DIR"]

OUT_DIR = Path(__file__).resolve().parent / "out"
GENERATOR_SOURCES = ("hw", "rtl_gen", "quant")
#: The comparison point of the headline ratios: 8 lanes, 4-bit codes, one PE.
HEADLINE_LANES, HEADLINE_BITS = 8, 4
#: The accelerator of the sweeps: one tile of 4 PEs; weight, activation, output buffers of 16, 16, 4 entries.
ACCELERATOR_PES, ACCELERATOR_BUFFER_DEPTHS = 4, (16, 16, 4)


@dataclass(frozen=True)
class Config:
    """One generated design: kind, top, PEs, lanes and (DNA-TEQ) code bits; how to simulate it."""

    pe_kind: str
    top: str = "pe"
    pe_count: int = 1
    lanes: int = HEADLINE_LANES
    bits: int = HEADLINE_BITS        # DNA-TEQ code bits: signed weights (bits-1 exponent bits), unsigned activations
    simulation: str = "gate"         # "gate", "rtl" or "none"
    buffer_depths: tuple = ()        # weight, activation, output buffer depths (rtl_gen's defaults if empty)
    clock_gating: bool = False       # rtl_gen --clock-gating (DNA-TEQ only)

    @property
    def id(self):
        bits = f"-b{self.bits}" if self.pe_kind == "dnateq" else ""
        depths = f"-d{'x'.join(map(str, self.buffer_depths))}" if self.buffer_depths else ""
        gated = "-cg" if self.clock_gating else ""
        return f"{self.pe_kind}-{self.top}-p{self.pe_count}-l{self.lanes}{bits}{depths}{gated}"

    def rtl_gen_args(self):
        args = ["--pe-kind", self.pe_kind, "--top", self.top, "--pe-count", str(self.pe_count),
                "--lanes", str(self.lanes)]
        if self.pe_kind == "dnateq":
            args += ["--exp-bits-w", str(self.bits - 1), "--exp-bits-a", str(self.bits)]
        for flag, depth in zip(("--weight-buffer-depth", "--activation-buffer-depth", "--output-buffer-depth"),
                               self.buffer_depths):
            args += [flag, str(depth)]
        if self.clock_gating:
            args.append("--clock-gating")
        return args


def _grid(lanes, bits, pe_counts):
    """PEs of both kinds per lane count (the headline pair first), DNA-TEQ bit widths, tiles."""
    lanes = sorted(lanes, key=lambda l: l != HEADLINE_LANES)
    configs = [Config(kind, lanes=l) for l in lanes for kind in ("dnateq", "int8")]
    configs += [Config("dnateq", bits=b) for b in bits if b != HEADLINE_BITS]
    # Tiles: a gate-level simulation of P PEs would take P times the compile time, so their
    # power uses the RTL simulation's input activity with OpenSTA only.
    configs += [Config(kind, top="tile", pe_count=p, simulation="rtl") for p in pe_counts
                for kind in ("dnateq", "int8")]
    # The accelerator (AXI4-Lite registers, AXI4-Stream data, buffers, controller): area and timing
    # only.  Yosys builds buffers from flip-flops, which at rtl_gen's default depths (~90 kbit here)
    # takes Yosys many minutes, so they are shallow; the report gives the SRAM estimate of the
    # default-depth buffers from the tiles' manifests.
    configs += [Config(kind, top="accelerator", pe_count=ACCELERATOR_PES, simulation="none",
                       buffer_depths=ACCELERATOR_BUFFER_DEPTHS) for kind in ("dnateq", "int8")]
    # DNA-TEQ with rtl_gen --clock-gating: the headline PE (gate-level power) and the accelerator.
    configs += [Config("dnateq", clock_gating=True),
                Config("dnateq", top="accelerator", pe_count=ACCELERATOR_PES, simulation="none",
                       buffer_depths=ACCELERATOR_BUFFER_DEPTHS, clock_gating=True)]
    return configs


def default_configs():
    """What ``make synth`` runs: lanes 1/4/8/16, bits 3/4/5, tiles of 1/16/64 PEs, the accelerators,
    and the clock-gated DNA-TEQ PE and accelerator."""
    return _grid(lanes=(1, 4, 8, 16), bits=(3, 4, 5), pe_counts=(1, 16, 64))


def full_configs():
    """The larger sweep (``make synth SWEEP=full``)."""
    return _grid(lanes=(1, 2, 4, 8, 16, 32), bits=(3, 4, 5, 6), pe_counts=(1, 4, 16, 64, 256))


def small_configs():
    """The regression baseline: the DNA-TEQ and INT8 PEs at 4 lanes, gate-level power included."""
    return [Config("dnateq", lanes=4), Config("int8", lanes=4)]


# ---- generation -----------------------------------------------------------------------------------
def _digest(*parts, files=()):
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    for path in files:
        digest.update(str(path).encode())
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def _sources(*folders):
    return sorted(p for folder in folders for p in (REPO_ROOT / folder).rglob("*.py"))


def generate(config, out_dir=OUT_DIR):
    """``python -m rtl_gen`` for ``config`` into ``out_dir/rtl/<id>``, unless already up to date."""
    rtl_dir = out_dir / "rtl" / config.id
    stamp = rtl_dir / "generated.sha256"
    digest = _digest(config.rtl_gen_args(), files=_sources(*GENERATOR_SOURCES))
    if stamp.is_file() and stamp.read_text() == digest and (rtl_dir / "manifest.json").is_file():
        return rtl_dir / "manifest.json"
    rtl_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "rtl_gen", *config.rtl_gen_args(), "-o", str(rtl_dir)]
    run = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if run.returncode:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        raise SynthError(f"rtl_gen failed for {config.id}: {last}")
    stamp.write_text(digest)
    return rtl_dir / "manifest.json"


# ---- running -----------------------------------------------------------------------------------
#: Modules that only present results; editing them does not invalidate cached design results.
PRESENTATION = {"report.py", "energy_model.py", "__main__.py"}


def _quant_sources():
    """The quant modules the flow has loaded (layer encoding, golden model, arithmetic): the
    stimulus and the checked outputs depend on them, the rest of quant does not matter here."""
    files = {Path(module.__file__).resolve() for name, module in list(sys.modules.items())
             if (name == "quant" or name.startswith("quant.")) and getattr(module, "__file__", None)}
    return sorted(files)


def _cache_key(design, libraries, settings, layer_source, simulation):
    flow_sources = [p for p in _sources("synth") if p.name not in PRESENTATION]
    files = [*design.verilog, *[path for _, path in libraries], *flow_sources, *_quant_sources()]
    # The manifest without its generator record (run time, output folder): regenerating the same
    # design must not invalidate its result.
    manifest = {k: v for k, v in design.manifest.items() if k != "generator"}
    return _digest(settings.to_dict(), layer_source, simulation, [key for key, _ in libraries], manifest, files=files)


def run_config(config, libraries, settings, layer, out_dir=OUT_DIR, log=print):
    """Generate and run one configuration (cached); returns its result record."""
    design = load_design(generate(config, out_dir))
    if config.simulation != "none" and design.kind == "dnateq":
        layer = layer_for(layer, design.arith, settings.seed)
    work = out_dir / "designs" / config.id
    key = _cache_key(design, [(k, lib.path) for k, lib in libraries], settings, layer.source, config.simulation)
    cached = work / "result.json"
    if cached.is_file():
        record = json.loads(cached.read_text())
        if record.get("cache_key") == key:
            log(f"  {config.id}: cached")
            return record
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        record = run_design(design, libraries, settings, Path(scratch) / "run", layer, config.simulation)
        # Keep the reviewable artefacts: netlists, logs, critical paths (not the simulators).
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        for path in (Path(scratch) / "run").rglob("*"):
            if path.is_file() and path.suffix in (".v", ".log", ".txt", ".tcl", ".ys") and "obj" not in path.parts:
                target = work / path.relative_to(Path(scratch) / "run")
                target.parent.mkdir(parents=True, exist_ok=True)
                path.replace(target)
    record["config"] = config.id
    record["cache_key"] = key
    record["seconds"] = round(time.perf_counter() - start, 1)
    cached.write_text(json.dumps(record, indent=1))
    log(f"  {config.id}: {record['seconds']} s")
    return record


def run_configs(configs, libraries, settings, layer, jobs=2, out_dir=OUT_DIR, log=print):
    """Run every configuration, ``jobs`` at a time; results in the order of ``configs``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run_config, c, libraries, settings, layer, out_dir, log) for c in configs]
        return [f.result() for f in futures]
