"""The DNA-TEQ exponential code: one definition of "code to value" for the whole project.

A tensor quantized with an :class:`ExpCode` stores, per element, an integer *code* of ``bits``
bits: an optional sign bit above an ``exp_bits``-bit exponent field ``u``.  The code decodes to::

    value = (-1)**sign * level[u]
    level[u] = alpha * base**u + beta          (u = 0 .. 2**exp_bits - 1)
    level[0] = 0                               if zero_code (u = 0 is reserved for exact zero)

The hardware never decodes a value: it adds exponents and counts (see :mod:`quant.golden`).  The
code layout below (sign above exponent, zero as ``u == 0``) is what the RTL unpacker reads, so it is
part of the hardware contract documented in ``docs/format.md``.
"""

from dataclasses import asdict, dataclass

import numpy as np

from .errors import QuantError, check_bits, check_finite

__all__ = ["ExpCode", "ROUNDING_MODES", "exp_levels", "exp_thresholds"]

#: Supported encoder rounding modes: nearest level in the linear domain, or in the log domain.
ROUNDING_MODES = ("linear", "log")


def exp_levels(alpha, beta, base, n_exp, zero_code):
    """Magnitudes ``alpha * base**u + beta`` for ``u = 0 .. n_exp-1``; ``level[0] = 0`` with a zero code.

    The one formula for code magnitudes; :class:`ExpCode` and the parameter search both use it.
    """
    levels = alpha * base ** np.arange(n_exp, dtype=np.float64) + beta
    if zero_code:
        levels[0] = 0.0
    return levels


def exp_thresholds(levels, alpha, beta, base, zero_code, rounding):
    """Decision boundaries between consecutive levels (``len(levels) - 1`` values).

    A magnitude ``m`` gets code ``u = number of thresholds <= m`` (ties go to the larger level).
    In ``"log"`` mode the boundary between two non-zero levels is the level at ``u + 1/2``
    (rounding of ``log_b``); the boundary between zero and the first level is their midpoint.
    """
    mid = 0.5 * (levels[:-1] + levels[1:])
    if rounding == "log":
        first = 1 if zero_code else 0  # boundaries from here on lie between non-zero levels
        u = np.arange(first, len(levels) - 1, dtype=np.float64)
        mid[first:] = alpha * base ** (u + 0.5) + beta
    return mid


@dataclass(frozen=True)
class ExpCode:
    """Parameters of one tensor's exponential code.

    Parameters
    ----------
    bits : int
        Total bits per element, sign included (2..8).
    base : float
        Exponential base ``b > 1``; all tensors of one layer share it.
    alpha : float
        Scale ``alpha > 0``.
    beta : float, optional
        Offset added to every non-zero level (default 0).  Levels must stay non-negative.
    signed : bool, optional
        Whether a sign bit is present (default True).  Unsigned codes (post-ReLU activations)
        give every bit to the exponent and clip negative inputs to the smallest level.
    zero_code : bool, optional
        Whether ``u = 0`` is reserved for exact zero (default True).
    rounding : {"linear", "log"}, optional
        Encoder decision rule: nearest level by absolute difference, or nearest in ``log_b``
        between non-zero levels (default "linear").
    """

    bits: int
    base: float
    alpha: float
    beta: float = 0.0
    signed: bool = True
    zero_code: bool = True
    rounding: str = "linear"

    def __post_init__(self):
        check_bits("bits", self.bits)
        for name in ("base", "alpha", "beta"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.floating, np.integer)) or not np.isfinite(value):
                raise QuantError(f"{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.base <= 1.0:
            raise QuantError(f"base must be > 1, got {self.base!r}")
        if self.alpha <= 0.0:
            raise QuantError(f"alpha must be > 0, got {self.alpha!r}")
        if self.rounding not in ROUNDING_MODES:
            raise QuantError(f"rounding must be one of {ROUNDING_MODES}, got {self.rounding!r}")
        object.__setattr__(self, "signed", bool(self.signed))
        object.__setattr__(self, "zero_code", bool(self.zero_code))
        if self.zero_code and self.n_exp < 2:
            raise QuantError("a zero code needs at least one non-zero level (exp_bits >= 1)")
        smallest = self.alpha * self.base ** self.min_exp + self.beta
        if smallest < 0:
            raise QuantError(f"beta={self.beta!r} makes the smallest level negative ({smallest:.3g})")
        levels = self.levels()
        if self.n_exp > 1 and not np.all(np.diff(levels) > 0):
            raise QuantError("levels are not strictly increasing (base too close to 1 for this alpha)")

    # ---- layout -------------------------------------------------------------------------------
    @property
    def exp_bits(self):
        """Width of the exponent field ``u``."""
        return self.bits - 1 if self.signed else self.bits

    @property
    def n_exp(self):
        """Number of exponent codes, ``2**exp_bits``."""
        return 1 << self.exp_bits

    @property
    def min_exp(self):
        """Smallest exponent code of a non-zero level (1 with a zero code, else 0)."""
        return 1 if self.zero_code else 0

    def levels(self):
        """Magnitude of every exponent code ``u = 0 .. n_exp-1``, as float64 (ascending)."""
        return exp_levels(self.alpha, self.beta, self.base, self.n_exp, self.zero_code)

    def thresholds(self):
        """Decision boundaries between consecutive magnitude levels (see :func:`exp_thresholds`)."""
        return exp_thresholds(self.levels(), self.alpha, self.beta, self.base, self.zero_code,
                              self.rounding)

    # ---- encode / decode ----------------------------------------------------------------------
    def encode(self, x):
        """Quantize floats to integer codes (sign bit above the exponent field).

        Parameters
        ----------
        x : array_like
            Finite values.

        Returns
        -------
        numpy.ndarray of uint8
            Codes, same shape as ``x``.  Exact zeros and values that round to the zero level get
            code 0 (sign bit clear).
        """
        x = np.asarray(x, dtype=np.float64)
        check_finite("tensor to encode", x)
        u = np.searchsorted(self.thresholds(), np.abs(x) if self.signed else np.maximum(x, 0.0),
                            side="right").astype(np.uint8)
        if not self.signed:
            return u
        negative = (x < 0) & ~((u == 0) & self.zero_code)
        return (negative.astype(np.uint8) << self.exp_bits) | u

    def split(self, codes):
        """Split codes into the hardware fields ``(zero, sign, exp)``.

        Returns
        -------
        zero, sign, exp : numpy.ndarray
            ``zero`` (bool) is set where the element is exactly zero; ``sign`` (uint8) is 1 for
            negative values (always 0 for unsigned codes); ``exp`` (uint8) is the exponent field.
        """
        codes = np.asarray(codes)
        if codes.size and (codes.min() < 0 or codes.max() >= (1 << self.bits)):
            raise QuantError(f"codes out of range for a {self.bits}-bit code")
        codes = codes.astype(np.uint8)
        exp = codes & np.uint8(self.n_exp - 1)
        sign = (codes >> self.exp_bits) & 1 if self.signed else np.zeros_like(codes)
        zero = (exp == 0) if self.zero_code else np.zeros(codes.shape, dtype=bool)
        return zero, sign.astype(np.uint8), exp

    def decode(self, codes):
        """Values of integer codes, as float64."""
        zero, sign, exp = self.split(codes)
        magnitude = self.levels()[exp]
        return np.where(sign.astype(bool), -magnitude, magnitude)

    def quantize(self, x):
        """``decode(encode(x))``: the nearest representable value of every element."""
        return self.decode(self.encode(x))

    # ---- serialisation ------------------------------------------------------------------------
    def to_dict(self):
        """JSON-serialisable record of the parameters."""
        return asdict(self)

    @classmethod
    def from_dict(cls, record):
        """Inverse of :meth:`to_dict`; unknown or missing keys give a one-line error."""
        if not isinstance(record, dict):
            raise QuantError(f"an ExpCode record must be a JSON object, got {type(record).__name__}")
        fields = set(cls.__dataclass_fields__)
        unknown = set(record) - fields
        if unknown:
            raise QuantError(f"unknown ExpCode field(s): {', '.join(sorted(unknown))}")
        try:
            return cls(**record)
        except TypeError as err:
            raise QuantError(f"malformed ExpCode record: {err}") from None
