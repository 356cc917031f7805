"""Benchmark: adaptive search of one layer with 1M weights and 1M calibration activations.

Writes ``bench/results/search_speed.json``.  The target (issue 2) is < 2 s per 1M-element pair on
this machine.  Tensors are synthetic but shaped like real ones (Laplace weights; ReLU-sparse,
heavy-tailed activations) with a fixed seed; every configuration the search offers is timed.

    python bench/search_speed.py [--repeats 3]
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from quant.search import search_layer

RESULTS = Path(__file__).parent / "results" / "search_speed.json"
SIZE = 1 << 20
CONFIGS = [
    {"thr_w": 0.15, "thr_a": 0.15, "offsets": False},
    {"thr_w": 0.05, "thr_a": 0.05, "offsets": False},
    {"thr_w": 0.02, "thr_a": 0.02, "offsets": False},
    {"thr_w": 0.15, "thr_a": 0.15, "offsets": True},
    {"thr_w": 0.05, "thr_a": 0.05, "offsets": True},
    {"thr_w": 0.02, "thr_a": 0.02, "offsets": True},
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per configuration (best is kept)")
    args = parser.parse_args()
    rng = np.random.default_rng(2024)
    weights = rng.laplace(scale=0.05, size=SIZE)
    activations = np.maximum(rng.normal(size=SIZE), 0) * rng.exponential(size=SIZE)
    rows = []
    for config in CONFIGS:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = search_layer(weights, activations, **config)
            times.append(time.perf_counter() - start)
        rows.append({**config, "seconds_best": min(times), "seconds_all": times,
                     "w_bits": result.w_code.bits, "a_bits": result.a_code.bits,
                     "w_rmae": result.w_rmae, "a_rmae": result.a_rmae, "met": result.met})
        print(f"thr={config['thr_w']:<5} offsets={config['offsets']!s:<5} "
              f"{min(times):6.2f} s  bits w/a {result.w_code.bits}/{result.a_code.bits}")
    record = {"elements_per_tensor": SIZE, "target_seconds": 2.0, "machine": platform.platform(),
              "processor": platform.processor(), "numpy": np.__version__, "seed": 2024,
              "all_under_target": all(r["seconds_best"] < 2.0 for r in rows), "runs": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
