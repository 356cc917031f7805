"""Benchmark: DNA-TEQ search of all 36 encoder linears of all-MiniLM-L6-v2 (weights + calibration activations).

Writes ``bench/results/search_minilm.json``.  Target (issue 6): under 60 s on this machine for the
whole model.  Calibration (FP32 forward of the calibration tweets) is timed apart from the search;
each threshold setting is timed with a cold search (no cache).  Wall time depends on what else runs
on the machine, so the process CPU time and the 1-minute load average are recorded too.

    python bench/search_minilm.py [--calib 256]
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from quant.models import load_task
from quant.models.pipeline import bits_summary, dnateq_codes, search_model

RESULTS = Path(__file__).parent / "results" / "search_minilm.json"
TARGET_SECONDS = 60.0
#: The default thresholds of ``python -m quant search`` and the tightest of the tuning grid.
SETTINGS = ({"thr_w": 0.2, "thr_a": 0.2}, {"thr_w": 0.05, "thr_a": 0.05})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calib", type=int, default=256, help="calibration tweets (default 256)")
    args = parser.parse_args()
    task = load_task("minilm")
    start = time.perf_counter()
    activations = task.calibrate(args.calib)
    calib_seconds = time.perf_counter() - start
    runs = []
    for setting in SETTINGS:
        load = os.getloadavg()[0]
        start, cpu_start = time.perf_counter(), time.process_time()
        searches = search_model(task.layers, activations, **setting, progress=True)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        per_layer = [{"name": n, "seconds": r.seconds, "w_bits": r.w_code.bits, "a_bits": r.a_code.bits,
                      "weights": int(layer.weight.size), "activations": int(activations[n].size)}
                     for layer, (n, r) in zip(task.layers, searches.items())]
        runs.append({**setting, "seconds": seconds, "cpu_seconds": cpu_seconds, "load_average_1min": load,
                     "under_target": seconds < TARGET_SECONDS,
                     "slowest_layer_seconds": max(r["seconds"] for r in per_layer),
                     "avg_bits": bits_summary(task.layers, dnateq_codes(searches))["avg_bits"],
                     "layers": per_layer})
        print(f"thr_w={setting['thr_w']} thr_a={setting['thr_a']}: {len(per_layer)} layers in {seconds:.1f} s "
              f"wall, {cpu_seconds:.1f} s CPU, load average {load:.1f} (target {TARGET_SECONDS:.0f} s)")
    record = {"model": "all-MiniLM-L6-v2", "layers": len(task.layers), "calib_tweets": args.calib,
              "calibration_seconds": calib_seconds, "target_seconds": TARGET_SECONDS,
              "machine": platform.platform(), "numpy": np.__version__, "runs": runs}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
