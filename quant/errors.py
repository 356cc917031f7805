"""Errors raised by the quant library.

Every error the library raises on bad input is a :class:`QuantError` whose message is a single
line naming the problem, so that command-line front ends can print it without a traceback.
"""

import numpy as np

__all__ = ["QuantError", "check_finite", "check_nonempty", "check_bits"]


class QuantError(ValueError):
    """Bad input to the quant library; ``str(err)`` is one line that names the problem."""


def check_nonempty(name, array):
    """Raise :class:`QuantError` if ``array`` has no elements."""
    if np.size(array) == 0:
        raise QuantError(f"{name} is empty")


def check_finite(name, array):
    """Raise :class:`QuantError` if ``array`` is empty or holds NaN or Inf values."""
    check_nonempty(name, array)
    bad = ~np.isfinite(array)
    if bad.any():
        kind = "NaN" if np.isnan(array).any() else "Inf"
        raise QuantError(f"{name} holds {int(bad.sum())} {kind}/non-finite value(s)")


def check_bits(name, bits, lo=2, hi=8):
    """Raise :class:`QuantError` unless ``bits`` is an integer in ``[lo, hi]``."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not lo <= bits <= hi:
        raise QuantError(f"{name} must be an integer in {lo}..{hi}, got {bits!r}")
