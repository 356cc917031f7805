"""Verilog and manifest generator of the DNA-TEQ hardware: ``python -m rtl_gen --help``.

:class:`RtlConfig` holds the parameters, :func:`generate` writes one Verilog file per distinct
module (composed hierarchically) and ``manifest.json`` (``docs/architecture.md`` §4).
"""

from .config import RtlConfig
from .generate import generate

__all__ = ["RtlConfig", "generate"]
