"""Benchmark: wall time of ``python -m rtl_gen`` for 64 and 1024 PEs, both PE kinds.

Each run is a fresh process (imports, elaboration, conversion, writing), as a user would run it.
Targets (issue 3): 64 PEs in < 10 s, 1024 PEs in < 60 s.  The default top is the whole
accelerator; with the defaults its tiles have 64 PEs, so 1024 PEs are 16 instances of one tile
module.  The last case puts all 1024 DNA-TEQ PEs in one tile (a tile module of 1024 PE instances,
beside 1024 weight buffers, unpackers and output buffers) to show how the hierarchical conversion
scales; it is a stress case beyond the targets.  (An INT8 tile of 1024 PEs exceeds Amaranth's
65536 port bits per module.)  The load average is recorded because the machine is shared.
Writes ``bench/results/gen_time.json``, prints a table.

    python bench/gen_time.py [--repeats 1]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "gen_time.json"
#: (pe kind, PE count, extra options, target seconds; None for the stress case)
CASES = [("dnateq", 64, [], 10.0), ("dnateq", 1024, [], 60.0), ("int8", 64, [], 10.0), ("int8", 1024, [], 60.0),
         ("dnateq", 1024, ["--pes-per-tile", "1024"], None)]


def run_once(kind, pe_count, extra, out_dir):
    """Seconds of one ``python -m rtl_gen`` process, and the manifest it wrote."""
    command = [sys.executable, "-m", "rtl_gen", "--pe-kind", kind, "--pe-count", str(pe_count), *extra,
               "-o", str(out_dir)]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    return seconds, json.loads((out_dir / "manifest.json").read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="runs per configuration (best is kept)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for index, (kind, pe_count, extra, target) in enumerate(CASES):
            out_dir = Path(scratch) / str(index)
            load = os.getloadavg()[0]
            runs = [run_once(kind, pe_count, extra, out_dir) for _ in range(args.repeats)]
            seconds = [s for s, _ in runs]
            manifest = runs[-1][1]
            verilog_bytes = sum((out_dir / name).stat().st_size for name in manifest["verilog"])
            rows.append({"pe_kind": kind, "pe_count": pe_count, "options": extra,
                         "pes_per_tile": manifest["pes_per_tile"], "tiles": manifest["tiles"],
                         "seconds_best": min(seconds), "seconds_all": seconds, "target_seconds": target,
                         "met": None if target is None else min(seconds) < target,
                         "in_process_seconds": manifest["generator"]["seconds"],
                         "load_average": load, "verilog_files": len(manifest["verilog"]),
                         "verilog_bytes": verilog_bytes})
            row = rows[-1]
            goal = "stress case" if target is None else f"target < {target:.0f} s"
            print(f"{kind:<7} {pe_count:>5} PEs, {row['tiles']:>2} x {row['pes_per_tile']:>4}-PE tiles "
                  f"{row['seconds_best']:6.1f} s  ({goal}, "
                  f"in process {row['in_process_seconds']:.1f} s, load {load:.1f}, "
                  f"{verilog_bytes / 1e6:.1f} MB Verilog)")
    record = {"command": "python -m rtl_gen --pe-kind KIND --pe-count N [options] (others default: the accelerator)",
              "machine": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
              "all_met": all(row["met"] for row in rows if row["met"] is not None), "runs": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
