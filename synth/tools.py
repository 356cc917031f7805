"""Finding the external tools (Yosys, OpenSTA, Verilator), with one-line errors that say how to get them."""

import os
import shutil
import subprocess

from .errors import SynthError

__all__ = ["find_tool", "tool_version"]


def find_tool(name, env_var, install):
    """Path of ``name`` on PATH, or of ``$env_var`` when set; ``install`` says how to get it."""
    chosen = os.environ.get(env_var, name)
    path = shutil.which(chosen)
    if path is None:
        raise SynthError(f"{chosen} not found: {install} (or set {env_var}=/path/to/{name})")
    return path


def tool_version(path, flag):
    """What ``path flag`` prints, first line."""
    run = subprocess.run([path, flag], capture_output=True, text=True)
    return ((run.stdout or run.stderr).strip().splitlines() or ["unknown"])[0]
