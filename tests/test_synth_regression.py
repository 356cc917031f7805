"""Regression guard of the synthesis flow: re-run the small configuration (the DNA-TEQ and INT8 PEs at
4 lanes, both libraries, gate-level power) and compare with the committed ``synth/baseline/small.json``.

Tolerances: area 2 %, Fmax 5 %, power and energy per element 5 %, simulated elements per cycle 1 %,
DNA-TEQ/INT8 ratios 3 %.  The flow is deterministic with the pinned tools, so a larger change means
the RTL, the flow or a tool changed: look, then rewrite the baseline on purpose with
``python -m synth report --sweep small --out OUT`` and
``python -m synth baseline OUT/report.json synth/baseline/small.json``.
"""

import json
import subprocess
import sys

import pytest

from quant.toolchain import REPO_ROOT
from synth.report import baseline_summary

BASELINE = REPO_ROOT / "synth" / "baseline" / "small.json"
TOLERANCE = {"area_um2_by_library": 0.02, "fmax_mhz": 0.05, "power_mw": 0.05, "power_mw_toggle": 0.05,
             "energy_per_element_pj": 0.05, "energy_per_element_pj_opensta": 0.05, "elements_per_cycle": 0.01}
RATIO_TOLERANCE = 0.03


def _close(now, then, tolerance):
    if then is None or now is None:
        return now is then
    return abs(now - then) <= tolerance * abs(then)


@pytest.mark.slow
def test_small_configuration_matches_the_baseline(tmp_path):
    run = subprocess.run([sys.executable, "-m", "synth", "report", "--sweep", "small", "--out", str(tmp_path)],
                         cwd=REPO_ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    now = baseline_summary(json.loads((tmp_path / "report.json").read_text()))
    then = json.loads(BASELINE.read_text())
    assert set(now["designs"]) == set(then["designs"])
    drifts = []
    for design, fields in then["designs"].items():
        for key, value in fields.items():
            current = now["designs"][design][key]
            pairs = [(f"{key}[{lib}]", current.get(lib), v) for lib, v in value.items()] if isinstance(value, dict) \
                else [(key, current, value)]
            drifts += [f"{design} {name}: {c} vs baseline {b}" for name, c, b in pairs
                       if not _close(c, b, TOLERANCE[key])]
    drifts += [f"ratio {key}: {now['ratios'][key]} vs baseline {value}" for key, value in then["ratios"].items()
               if not _close(now["ratios"][key], value, RATIO_TOLERANCE)]
    assert not drifts, "\n".join(drifts)
