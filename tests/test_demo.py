"""``demo.py`` and ``python -m verif.cosim``: hardware sized from tuned codes; one-line argument errors."""

import subprocess
import sys

import pytest

from demo import hardware_options
from quant.expcode import ExpCode
from quant.toolchain import REPO_ROOT


def params(*layers):
    """A tune/search record with one layer per ``(w_code, a_code)`` pair."""
    return {"layers": {f"layer{i}": {"w_code": w.to_dict(), "a_code": a.to_dict()} for i, (w, a) in enumerate(layers)}}


def test_hardware_fits_the_widest_exponent_field_of_every_layer():
    narrow = (ExpCode(bits=4, base=1.5, alpha=0.1), ExpCode(bits=4, base=1.5, alpha=0.2, signed=False))
    wide = (ExpCode(bits=7, base=1.1, alpha=0.01), ExpCode(bits=5, base=1.1, alpha=0.3))
    # signed 7-bit weights carry 6 exponent bits; unsigned 4-bit activations 4, signed 5-bit ones 4
    assert hardware_options(params(narrow, wide)) == ["--exp-bits-w", 6, "--exp-bits-a", 4]


def test_an_offset_in_any_code_turns_on_the_offset_counters():
    plain = (ExpCode(bits=4, base=1.5, alpha=0.1), ExpCode(bits=4, base=1.5, alpha=0.2, signed=False))
    shifted = (ExpCode(bits=4, base=1.5, alpha=0.1), ExpCode(bits=4, base=1.5, alpha=0.2, beta=0.05, signed=False))
    assert "--offsets" not in hardware_options(params(plain))
    assert hardware_options(params(plain, shifted))[-1] == "--offsets"


@pytest.mark.parametrize("command, fragment", [
    (["demo.py", "--pe-count", "0"], "--pe-count: expected a positive integer, got '0'"),
    (["demo.py", "--limit", "x"], "--limit: expected a positive integer, got 'x'"),
    (["-m", "verif.cosim", "--model", "lenet5"], "the following arguments are required: --params, --out"),
    (["-m", "verif.cosim", "--model", "lenet5", "--params", "p.json", "--out", "o.json", "--rows", "0"],
     "--rows and --columns must be positive"),
])
def test_bad_arguments_give_one_line_errors(command, fragment):
    proc = subprocess.run([sys.executable, *command], capture_output=True, text=True, cwd=REPO_ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and fragment in proc.stderr, proc.stderr
