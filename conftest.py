"""Repository-wide pytest set-up: toolchain environment, logged random seeds, the `slow` marker."""

import os
import zlib

import numpy as np
import pytest

from quant.toolchain import configure_environment

configure_environment()

_SEEDS = []


@pytest.fixture
def rng(request):
    """A NumPy generator whose seed is derived from the test id (or $DNATEQ_SEED) and logged."""
    base = int(os.environ.get("DNATEQ_SEED", "0"))
    seed = (zlib.crc32(request.node.nodeid.encode()) + base) & 0xFFFFFFFF
    request.node.user_properties.append(("seed", seed))
    _SEEDS.append((request.node.nodeid, seed))
    print(f"seed={seed}")
    return np.random.default_rng(seed)


def pytest_terminal_summary(terminalreporter):
    if _SEEDS:
        offset = os.environ.get("DNATEQ_SEED", "0")
        terminalreporter.write_sep("-", f"{len(_SEEDS)} seeded tests (DNATEQ_SEED offset {offset}; "
                                        "-v lists every seed, each test prints its own)")
        for nodeid, seed in (_SEEDS if terminalreporter.verbosity > 0 else []):
            terminalreporter.write_line(f"{seed:>10}  {nodeid}")
