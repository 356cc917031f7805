"""Fixed-point arithmetic of the DNA-TEQ datapath: compile-time parameters and per-layer programs.

The datapath counts, per output, how often each exponent sum occurs, then computes one integer::

    acc = sum_k C[k] * T[k]                     (k over the flat bin layout below)
    Y   = saturate_{out_width}( (acc + 2**(R-1)) >> R )      (no rounding term when R = 0)
    y  ~= Y * out_scale                          (out_scale = q * 2**R, applied by the host)

Flat bin layout (fixed by the compile-time maxima ``Uw = 2**exp_bits_w``, ``Ua = 2**exp_bits_a``)::

    [0,              Uw+Ua-1)   C_wa[t], t = u_w + u_a      table A_w*A_a*b**t / q
    [Uw+Ua-1,      2Uw+Ua-1)    C_w[j],  j = u_w            table A_w*B_a*b**j / q   (offsets only)
    [2Uw+Ua-1,   2Uw+2Ua-1)     C_a[j],  j = u_a            table B_w*A_a*b**j / q   (offsets only)
    [2Uw+2Ua-1,  2Uw+2Ua)       C_0                         table B_w*B_a / q        (offsets only)

Every counter adds the product sign (+1 or -1) of each element whose weight and activation are
both non-zero.  ``q`` is chosen so that the largest table magnitude is ``2**(table_width-1) - 1``;
table entries are signed ``table_width``-bit integers, rounded half away from zero.  The four
constant multiplies of the textbook formulation are folded into the table, so post-processing is
a single multiply-accumulate loop over the bins.
"""

from dataclasses import asdict, dataclass

import numpy as np

from .errors import QuantError
from .expcode import ExpCode

__all__ = ["DnaTeqArith", "LayerProgram", "compile_layer", "signed_width"]


def signed_width(magnitude):
    """Bits of a two's-complement integer that holds every value in ``[-magnitude, magnitude]``."""
    return int(magnitude).bit_length() + 1


@dataclass(frozen=True)
class DnaTeqArith:
    """Compile-time parameters that fix the DNA-TEQ datapath's arithmetic.

    Parameters
    ----------
    exp_bits_w, exp_bits_a : int
        Widest exponent field the hardware accepts for weights and for activations (1..8).  A
        signed ``n``-bit code has ``n - 1`` exponent bits, an unsigned one ``n``.
    offsets : bool
        Whether the ``C_w``, ``C_a`` and ``C_0`` counters exist (needed when ``beta != 0``).
    table_width : int
        Width of the signed table entries ``T[k]`` (4..32).
    max_vector_length : int
        Longest dot product the datapath accepts; the post-processing accumulator is sized so
        that no vector up to this length can overflow it.
    count_depth : int or None
        Most elements counted between two drains of the counter bank into the accumulator
        (None: ``max_vector_length``, a drain per vector).  Counters are sized so that it cannot
        overflow them.  Chunked counting does not change any result: the accumulator sums every
        drain before the output is rounded.
    out_width : int
        Width of the signed, saturated output ``Y`` (8..64).
    """

    exp_bits_w: int = 3
    exp_bits_a: int = 4
    offsets: bool = False
    table_width: int = 16
    max_vector_length: int = 4096
    count_depth: int = None
    out_width: int = 32

    def __post_init__(self):
        for name, lo, hi in (("exp_bits_w", 1, 8), ("exp_bits_a", 1, 8), ("table_width", 4, 32),
                             ("max_vector_length", 1, 1 << 24), ("out_width", 8, 64)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
                raise QuantError(f"{name} must be an integer in {lo}..{hi}, got {value!r}")
        object.__setattr__(self, "offsets", bool(self.offsets))
        if self.count_depth is None:
            object.__setattr__(self, "count_depth", self.max_vector_length)
        depth = self.count_depth
        if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) \
                or not 1 <= depth <= self.max_vector_length:
            raise QuantError(f"count_depth must be an integer in 1..max_vector_length, got {depth!r}")

    # ---- bin layout ---------------------------------------------------------------------------
    @property
    def n_exp_w(self):
        """``Uw``: number of weight exponent codes."""
        return 1 << self.exp_bits_w

    @property
    def n_exp_a(self):
        """``Ua``: number of activation exponent codes."""
        return 1 << self.exp_bits_a

    @property
    def bins_wa(self):
        """Number of exponent-sum counters ``C_wa``."""
        return self.n_exp_w + self.n_exp_a - 1

    @property
    def base_w(self):
        """Flat index of ``C_w[0]``."""
        return self.bins_wa

    @property
    def base_a(self):
        """Flat index of ``C_a[0]``."""
        return self.bins_wa + self.n_exp_w

    @property
    def base_0(self):
        """Flat index of ``C_0``."""
        return self.bins_wa + self.n_exp_w + self.n_exp_a

    @property
    def n_bins(self):
        """Counters (and table entries) per PE."""
        return self.base_0 + 1 if self.offsets else self.bins_wa

    # ---- derived widths -----------------------------------------------------------------------
    @property
    def count_width(self):
        """Width of a signed counter: holds ``[-count_depth, count_depth]``."""
        return signed_width(self.count_depth)

    @property
    def table_max(self):
        """Largest table magnitude, ``2**(table_width-1) - 1``."""
        return (1 << (self.table_width - 1)) - 1

    @property
    def terms_per_element(self):
        """Counters one element updates: 1 (``C_wa``) or 4 (with offsets)."""
        return 4 if self.offsets else 1

    @property
    def acc_width(self):
        """Width of the post-processing accumulator, wide enough for any vector."""
        return signed_width(self.terms_per_element * self.max_vector_length * self.table_max)

    def to_dict(self):
        """JSON-serialisable parameters plus every derived width (for the manifest)."""
        record = asdict(self)
        record.update(n_exp_w=self.n_exp_w, n_exp_a=self.n_exp_a, bins_wa=self.bins_wa,
                      base_w=self.base_w, base_a=self.base_a, base_0=self.base_0,
                      n_bins=self.n_bins, count_width=self.count_width, acc_width=self.acc_width)
        return record

    @classmethod
    def from_dict(cls, record):
        """Build from a record written by :meth:`to_dict` (derived keys are checked, not trusted)."""
        fields = {k: record[k] for k in cls.__dataclass_fields__ if k in record}
        arith = cls(**fields)
        derived = arith.to_dict()
        for key, value in record.items():
            if key in derived and derived[key] != value:
                raise QuantError(f"manifest value {key}={value!r} disagrees with the derived {derived[key]!r}")
        return arith


@dataclass(frozen=True)
class LayerProgram:
    """Everything the DNA-TEQ hardware is loaded with to run one layer.

    Attributes
    ----------
    arith : DnaTeqArith
        The datapath it was compiled for.
    w_code, a_code : ExpCode
        Codes of weights and activations (same base).
    vector_length : int
        Dot-product length ``N`` of the layer.
    table : numpy.ndarray of int64
        ``arith.n_bins`` signed table entries in the flat bin layout.
    shift : int
        Output right shift ``R``.
    out_scale : float
        Real value of one output LSB: ``y ~= Y * out_scale``.
    """

    arith: DnaTeqArith
    w_code: ExpCode
    a_code: ExpCode
    vector_length: int
    table: np.ndarray
    shift: int
    out_scale: float

    def registers(self):
        """Run-time configuration values of the layer, as plain ints (register-map order)."""
        return {
            "w_bits": self.w_code.bits, "a_bits": self.a_code.bits,
            "w_exp_bits": self.w_code.exp_bits, "a_exp_bits": self.a_code.exp_bits,
            "w_signed": int(self.w_code.signed), "a_signed": int(self.a_code.signed),
            "w_zero_code": int(self.w_code.zero_code), "a_zero_code": int(self.a_code.zero_code),
            "vector_length": self.vector_length, "shift": self.shift,
        }

    def to_dict(self):
        """JSON-serialisable record (the table as a list of ints)."""
        return {"arith": asdict(self.arith), "w_code": self.w_code.to_dict(),
                "a_code": self.a_code.to_dict(), "vector_length": self.vector_length,
                "table": [int(v) for v in self.table], "shift": self.shift,
                "out_scale": self.out_scale}

    @classmethod
    def from_dict(cls, record):
        """Inverse of :meth:`to_dict`."""
        return cls(arith=DnaTeqArith(**record["arith"]), w_code=ExpCode.from_dict(record["w_code"]),
                   a_code=ExpCode.from_dict(record["a_code"]), vector_length=int(record["vector_length"]),
                   table=np.asarray(record["table"], dtype=np.int64), shift=int(record["shift"]),
                   out_scale=float(record["out_scale"]))


def _round_half_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def compile_layer(arith, w_code, a_code, vector_length):
    """Compile a layer's codes into the table and shift the hardware is loaded with.

    Parameters
    ----------
    arith : DnaTeqArith
    w_code, a_code : ExpCode
        Weight and activation codes; they must share the base.
    vector_length : int
        Dot-product length ``N`` (sets the output shift so that ``Y`` cannot saturate).

    Returns
    -------
    LayerProgram
    """
    if not np.isclose(w_code.base, a_code.base, rtol=1e-12, atol=0):
        raise QuantError(f"weights and activations must share the base ({w_code.base} != {a_code.base})")
    for who, code, limit in (("weight", w_code, arith.exp_bits_w), ("activation", a_code, arith.exp_bits_a)):
        if code.exp_bits > limit:
            raise QuantError(f"{who} code has {code.exp_bits} exponent bits, the hardware at most {limit}")
        if code.beta != 0 and not arith.offsets:
            raise QuantError(f"{who} code has beta={code.beta:g} but the hardware has no offset counters")
    if isinstance(vector_length, bool) or not isinstance(vector_length, (int, np.integer)) \
            or not 1 <= vector_length <= arith.max_vector_length:
        raise QuantError(f"vector_length must be in 1..{arith.max_vector_length}, got {vector_length!r}")

    b = w_code.base
    values = np.zeros(arith.n_bins, dtype=np.float64)
    uw = np.arange(w_code.n_exp)
    ua = np.arange(a_code.n_exp)
    reach_w = uw[w_code.min_exp:]
    reach_a = ua[a_code.min_exp:]
    sums = np.unique(reach_w[:, None] + reach_a[None, :])
    values[sums] = w_code.alpha * a_code.alpha * b ** sums.astype(np.float64)
    if arith.offsets:
        values[arith.base_w + reach_w] = w_code.alpha * a_code.beta * b ** reach_w.astype(np.float64)
        values[arith.base_a + reach_a] = w_code.beta * a_code.alpha * b ** reach_a.astype(np.float64)
        values[arith.base_0] = w_code.beta * a_code.beta
    q = np.abs(values).max() / arith.table_max
    table = _round_half_away(values / q).astype(np.int64)
    # Each element updates one counter per group, so this bounds |acc| for any data.
    groups = [table[:arith.bins_wa]]
    if arith.offsets:
        groups += [table[arith.base_w:arith.base_a], table[arith.base_a:arith.base_0], table[arith.base_0:]]
    worst = int(vector_length) * sum(int(np.abs(g).max()) for g in groups)
    shift = max(0, signed_width(worst) - arith.out_width)
    return LayerProgram(arith=arith, w_code=w_code, a_code=a_code, vector_length=int(vector_length),
                        table=table, shift=shift, out_scale=float(q * 2.0 ** shift))
