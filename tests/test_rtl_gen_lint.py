"""Verilator ``--lint-only -Wall`` on the generated Verilog of both PE kinds, PEs, tiles and accelerators:
clean but for the waivers listed below, each with its reason."""

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
_KEPT_BY_RESET = "Amaranth gives every synchronous module a reset port"
#: (module, port) -> why that port may be unused.
UNUSED_PORTS = {
    ("dnateq_layer_table", "rst"): f"the table is configuration that reset keeps; {_KEPT_BY_RESET}",
    **{(f"{kind}_{name}_buffer", "rst"): f"buffer contents are data whose validity the controller tracks; "
                                         f"{_KEPT_BY_RESET}"
       for kind in ("dnateq", "int8") for name in ("weight", "activation", "output")},
    **{(f"{kind}_accelerator", f"{stream}_tdata"): "AXI4-Stream data is whole bytes: the bits above the last "
                                                   "code slot of a beat are padding"
       for kind in ("dnateq", "int8") for stream in ("s_axis_w", "s_axis_a")},
}
SMALL = ["--pe-count", "3", "--lanes", "2", "--exp-bits-w", "2", "--exp-bits-a", "3", "--max-vector-length", "64"]
ACCELERATOR = ["--pe-count", "6", "--pes-per-tile", "3", *SMALL[2:], "--weight-buffer-depth", "8",
               "--activation-buffer-depth", "4", "--output-buffer-depth", "2"]
VARIANTS = {
    "dnateq-tile": [*SMALL, "--top", "tile"],
    "dnateq-tile-offsets-noshadow-chunked": [*SMALL, "--top", "tile", "--offsets", "--no-double-buffer",
                                             "--count-depth", "8"],
    "dnateq-pe": [*SMALL, "--top", "pe"],
    "int8-tile": [*SMALL, "--top", "tile", "--pe-kind", "int8"],
    "dnateq-accelerator": ACCELERATOR,
    "dnateq-accelerator-one-tile-offsets": [*SMALL, "--offsets", "--count-depth", "8"],
    "int8-accelerator": [*ACCELERATOR, "--pe-kind", "int8"],
    # --clock-gating: gated clocks (hw/clock_gate.py: a negedge enable flip-flop and an AND) for the
    # counters, the shadow bank and the pipeline registers.  No new waiver: the gates only add
    # instances of the rules above (the gate's `enabled` initialiser is PROCASSINIT, its internal
    # `falling_clk` alias an unused internal net); any other rule or an unused port still fails.
    "dnateq-pe-clock-gating": [*SMALL, "--top", "pe", "--clock-gating"],
    "dnateq-tile-offsets-noshadow-chunked-clock-gating": [*SMALL, "--top", "tile", "--offsets",
                                                          "--no-double-buffer", "--count-depth", "8", "--clock-gating"],
    "dnateq-accelerator-clock-gating": [*ACCELERATOR, "--offsets", "--count-depth", "8", "--clock-gating"],
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
