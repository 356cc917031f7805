"""Bench bookkeeping: every cocotb run's report reaches the terminal summary, also under pytest-xdist.

A bench test attaches its report (elements checked, seed, ...) to ``user_properties`` (the
``bench`` fixture does); xdist ships ``user_properties`` with each test report to the controller, where
:func:`pytest_runtest_logreport` collects them, so the totals are the same with and without ``-n``.
"""

import json

import pytest

from verif.harness import BUILD_ROOT, TRAFFIC, VERIF_DIR, build, run_bench
from verif.stimulus import VECTOR_DIR

_REPORT_KEY = "verif_report"
#: Cycles per layer measured by the accelerator benches, for checking a cycle model against the RTL.
CYCLES_FILE = VERIF_DIR / "results" / "cycles.json"
_REPORTS = []
_SKIPPED_VECTORS = {}


@pytest.fixture(scope="session")
def built():
    """``built(variant)`` -> manifest path; generation and the Verilator build happen once per variant."""
    cache = {}

    def get(variant):
        if variant not in cache:
            cache[variant] = build(variant)
        return cache[variant]

    return get


@pytest.fixture(params=list(TRAFFIC))
def traffic(request):
    """Bench settings of one crossing of random input idle cycles and output backpressure."""
    idle, backpressure = TRAFFIC[request.param]
    return {"idle": idle, "backpressure": backpressure}


@pytest.fixture
def bench(request, rng, tmp_path, built):
    """``bench(variant, module, testcase, **settings)`` runs one cocotb test and records its report.

    The cocotb seed is the one the ``rng`` fixture logged for this test, so the summary's seeds
    are the ones pytest prints and ``DNATEQ_SEED`` shifts.
    """
    seed = dict(request.node.user_properties)["seed"]

    def run(variant, module, testcase, **settings):
        report = run_bench(variant, built(variant), module, testcase, seed, tmp_path, **settings)
        request.node.user_properties.append((_REPORT_KEY, json.dumps(report)))
        return report

    return run


@pytest.fixture
def real_layers(bench):
    """``real_layers(variant, module, **settings)``: the bench's ``real_layers`` test, skipped visibly
    while ``verif/vectors/`` holds no exported layer or none that fits the variant."""

    def run(variant, module, **settings):
        if not any(VECTOR_DIR.glob("*.npz")):
            pytest.skip(f"no real-layer vectors yet: {VECTOR_DIR}/*.npz is empty (exported by another engineer)")
        report = bench(variant, module, "real_layers", **settings)
        if not report["elements"]:
            pytest.skip(f"no vector file fits {variant.id}: {report['skipped_vectors']}")
        return report

    return run


def pytest_runtest_logreport(report):
    if report.when != "call":
        return
    for key, value in report.user_properties:
        if key == _REPORT_KEY:
            entry = json.loads(value)
            _REPORTS.append((report.nodeid, entry))
            for name, reason in entry.get("skipped_vectors", []):
                _SKIPPED_VECTORS[name] = reason


def pytest_terminal_summary(terminalreporter):
    if not _REPORTS:
        return
    total = sum(entry["elements"] for _, entry in _REPORTS)
    terminalreporter.write_sep("-", f"RTL benches: {total:,} PE elements checked bit-exactly against quant.golden "
                                    f"in {len(_REPORTS)} cocotb runs")
    for nodeid, entry in sorted(_REPORTS):
        cycles = f"{entry['cycles']:>8} cycles" if "cycles" in entry else ""
        terminalreporter.write_line(f"seed {entry['seed']:>10}  {entry['elements']:>9,} elements {cycles}  {nodeid}")
    for name, reason in sorted(_SKIPPED_VECTORS.items()):
        terminalreporter.write_line(f"vectors/{name} not run on every variant: {reason}")
    terminalreporter.write_line(f"reproduce one run: pytest '<node id>' (same DNATEQ_SEED); builds in {BUILD_ROOT}")


def pytest_sessionfinish(session):
    """Write the accelerator benches' cycles per layer (in the xdist controller, or the only process)."""
    if hasattr(session.config, "workerinput"):
        return
    runs = {nodeid: {"variant": entry["variant"], "seed": entry["seed"], "layers": entry["layers"]}
            for nodeid, entry in _REPORTS if "layers" in entry}
    if runs:
        CYCLES_FILE.parent.mkdir(exist_ok=True)
        CYCLES_FILE.write_text(json.dumps(dict(sorted(runs.items())), indent=1) + "\n")
