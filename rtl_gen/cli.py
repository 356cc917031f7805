"""Command line of ``python -m rtl_gen``."""

import argparse
import shlex
import sys

from quant.arith import DnaTeqArith

from .config import DEFAULT_PES_PER_TILE, PE_KINDS, TOPS, RtlConfig
from .generate import generate

__all__ = ["build_parser", "config_from_args", "main"]

_DEFAULTS = RtlConfig()
_ARITH_FIELDS = tuple(DnaTeqArith.__dataclass_fields__)


def _integer(group, flag, metavar, text, default_text=None):
    """An integer option whose default is the field of the same name of RtlConfig or of its arith."""
    dest = flag.lstrip("-").replace("-", "_")
    owner = _DEFAULTS.arith if dest in _ARITH_FIELDS else _DEFAULTS
    default = getattr(owner, dest) if default_text is None else None
    group.add_argument(flag, type=int, default=default, metavar=metavar,
                       help=f"{text} (default: {default_text or default})")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m rtl_gen",
        description="Generate the Verilog of the DNA-TEQ (or INT8 baseline) hardware, one file per module, "
                    "and manifest.json with every parameter, width, latency and port.",
        epilog="Files are rewritten only when their text changes, so simulator caches stay valid.")
    shape = parser.add_argument_group("array")
    shape.add_argument("--pe-kind", choices=PE_KINDS, default=_DEFAULTS.pe_kind,
                       help=f"processing element kind (default: {_DEFAULTS.pe_kind})")
    shape.add_argument("--top", choices=tuple(TOPS), default=_DEFAULTS.top,
                       help=f"top module to generate (default: {_DEFAULTS.top})")
    _integer(shape, "--pe-count", "N", "total PEs")
    _integer(shape, "--pes-per-tile", "P", "PEs per tile; tiles = pe-count / pes-per-tile",
             f"{DEFAULT_PES_PER_TILE}, or pe-count if smaller")
    _integer(shape, "--lanes", "L", "elements per PE per cycle")
    path = parser.add_argument_group("datapath (DNA-TEQ only unless noted)")
    _integer(path, "--exp-bits-w", "B", "weight exponent bits; a signed n-bit code has n-1")
    _integer(path, "--exp-bits-a", "B", "activation exponent bits; an unsigned n-bit code has n, "
                                        "a signed one n-1")
    path.add_argument("--offsets", action=argparse.BooleanOptionalAction, default=_DEFAULTS.arith.offsets,
                      help="C_w, C_a, C_0 counters for codes with beta != 0 (default: off)")
    _integer(path, "--table-width", "W", "bits of a signed table entry")
    _integer(path, "--max-vector-length", "N", "longest dot product, also for INT8")
    _integer(path, "--count-depth", "D", "elements counted between drains, a multiple of --lanes",
             "max-vector-length")
    _integer(path, "--out-width", "W", "bits of the signed output Y, also for INT8")
    path.add_argument("--no-double-buffer", dest="double_buffer", action="store_false",
                      help="no shadow counter bank: the input stalls during every drain")
    path.add_argument("--clock-gating", action=argparse.BooleanOptionalAction, default=_DEFAULTS.clock_gating,
                      help="clock the counters, the shadow bank and the pipeline registers only when they load "
                           f"(default: {'on' if _DEFAULTS.clock_gating else 'off'})")
    buffers = parser.add_argument_group("accelerator buffers")
    _integer(buffers, "--weight-buffer-depth", "E", "entries (lanes weight codes) of each PE's weight buffer; "
                                                    "N is at most E x lanes")
    _integer(buffers, "--activation-buffer-depth", "E", "entries (lanes activation codes) of the activation FIFO")
    _integer(buffers, "--output-buffer-depth", "E", "entries (one Y, a column) of each PE's output FIFO")
    parser.add_argument("-o", "--out", default="build/rtl", metavar="DIR",
                        help="output folder (default: build/rtl)")
    return parser


def _config(args):
    options = {key: value for key, value in vars(args).items() if key != "out"}
    arith = {key: options.pop(key) for key in _ARITH_FIELDS}
    return RtlConfig(arith=DnaTeqArith(**arith), **options)


def config_from_args(argv):
    """The :class:`RtlConfig` a command line (without ``-o``) describes; ``ValueError`` if it is invalid."""
    return _config(build_parser().parse_args(argv))


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = _config(args)
        top = config.make_top()
    except ValueError as err:
        parser.error(str(err))
    command = shlex.join(["python", "-m", "rtl_gen", *(sys.argv[1:] if argv is None else argv)])
    manifest, written = generate(config, args.out, top=top, command=command)
    print(f"{manifest['top']}: {len(manifest['verilog'])} Verilog files in {args.out} "
          f"({len(written)} changed), manifest.json, {manifest['generator']['seconds']:.1f} s")
    return 0
