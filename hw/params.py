"""Validation of the hardware generators' constructor arguments.

Every check raises a :class:`ValueError` whose message is one line naming the argument, so the
command line (``python -m rtl_gen``) can print it as it is.
"""

import operator

import numpy as np

from quant.arith import DnaTeqArith

__all__ = ["check_int", "check_bool", "check_arith", "read_only", "Configured"]


def check_int(name, value, lo, hi=None):
    """``value`` as an ``int`` if it is an integer in ``lo..hi`` (no upper bound if ``hi`` is None)."""
    bounds = f"{lo}..{hi}" if hi is not None else f">= {lo}"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name} must be an integer {'in ' if hi is not None else ''}{bounds}, got {value!r}")
    return int(value)


def check_bool(name, value):
    """``value`` if it is a ``bool``."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_arith(arith):
    """``arith`` if it is a :class:`quant.arith.DnaTeqArith`."""
    if not isinstance(arith, DnaTeqArith):
        raise ValueError(f"arith must be a quant.arith.DnaTeqArith, got {type(arith).__name__}")
    return arith


def read_only(name, doc=None):
    """A read-only property giving the validated constructor argument kept in ``self._<name>``."""
    return property(operator.attrgetter(f"_{name}"), doc=doc)


class Configured:
    """Mixin for components configured by validated keyword arguments kept in ``self._<name>``.

    Every name in ``_PARAMETERS`` becomes a read-only property, and :attr:`parameters` is their
    JSON record (equal records mean equal hardware; a hierarchical build checks it per module).
    """

    _PARAMETERS = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in cls.__dict__.get("_PARAMETERS", ()):
            setattr(cls, name, read_only(name))

    @property
    def parameters(self):
        values = {name: getattr(self, name) for name in self._PARAMETERS}
        return {name: value.to_dict() if isinstance(value, DnaTeqArith) else value
                for name, value in values.items()}
