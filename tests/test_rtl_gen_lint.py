"""Verilator ``--lint-only -Wall`` on the generated Verilog of both PE kinds: clean but for the
waivers listed below, each with its reason."""

import json
import re
import shutil
import subprocess

import pytest

from rtl_gen.cli import main
from rtl_gen.generate import MANIFEST

#: rule -> why it is waived for generated code.
WAIVERS = {
    "WIDTHEXPAND": "Amaranth writes operands at their own width and relies on Verilog's context widening",
    "WIDTHTRUNC": "the same on the narrowing side: results are assigned to the (narrower) declared width",
    "PROCASSINIT": "Amaranth gives registers their reset value as a declaration initialiser as well",
}
#: UNUSEDSIGNAL is waived for internal nets only (Amaranth keeps a wire per field of a structured
#: signal and alias wires of merged registers); an unused *port* of any module still fails.
UNUSED = "UNUSEDSIGNAL"
#: (module, port) -> why that port may be unused.
UNUSED_PORTS = {
    ("dnateq_layer_table", "rst"): "the table is configuration that reset keeps; Amaranth gives every "
                                   "synchronous module a reset port",
}
SMALL = ["--pe-count", "3", "--lanes", "2", "--exp-bits-w", "2", "--exp-bits-a", "3", "--max-vector-length", "64"]
VARIANTS = {
    "dnateq-tile": SMALL,
    "dnateq-tile-offsets-one-bank-chunked": [*SMALL, "--offsets", "--no-double-buffer", "--count-depth", "8"],
    "dnateq-pe": [*SMALL, "--top", "pe"],
    "int8-tile": [*SMALL, "--pe-kind", "int8"],
}
_WARNING = re.compile(r"^%Warning-(\w+): ([^:]+):\d+:\d+: (.*)$", re.MULTILINE)


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator is not on PATH")
@pytest.mark.parametrize("variant", VARIANTS)
def test_generated_verilog_is_lint_clean(tmp_path, variant):
    assert main([*VARIANTS[variant], "-o", str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    command = ["verilator", "--lint-only", "-Wall", *(f"-Wno-{rule}" for rule in WAIVERS),
               "--top-module", manifest["top"], *(str(tmp_path / name) for name in manifest["verilog"])]
    lint = subprocess.run(command, capture_output=True, text=True)
    ports = {name: {port["name"] for port in module_ports} for name, module_ports in manifest["ports"].items()}
    unwaived = []
    for rule, path, message in _WARNING.findall(lint.stderr):
        signal = re.search(r"'([^']*)'", message)
        module = path.rsplit("/", 1)[-1].removesuffix(".v")
        if rule != UNUSED or (signal and signal.group(1) in ports[module]
                              and (module, signal.group(1)) not in UNUSED_PORTS):
            unwaived.append(f"{rule} {path}: {message}")
    errors = [line for line in lint.stderr.splitlines()
              if line.startswith("%Error") and not line.startswith("%Error: Exiting due to")]
    assert not unwaived and not errors, "\n".join(unwaived + errors)
