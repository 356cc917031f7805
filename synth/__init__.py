"""Synthesis flow: area, timing and power of the generated DNA-TEQ and INT8 designs.

``python -m synth report`` (or ``make synth``) generates a sweep of designs with ``rtl_gen``, maps
each onto standard cells with Yosys, times it with OpenSTA, simulates a layer through it with
Verilator for power, and writes ``synth/out/report.md`` and ``report.json``.  See
``docs/synthesis.md``.
"""
