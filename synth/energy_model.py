"""Energy per dot-product element from operation counts and published per-operation energies.

Source: M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
Digest of Technical Papers, pp. 10-14 (45 nm, 0.9 V).  Its figures used here:

=====================  =========
8-bit integer add      0.03 pJ
32-bit integer add     0.1 pJ
8-bit integer multiply 0.2 pJ
32-bit integer multiply 3.1 pJ
8 KB SRAM read, 64 b   10 pJ
32 KB SRAM read, 64 b  20 pJ
1 MB SRAM read, 64 b   100 pJ
=====================  =========

Operations of other widths are scaled from these points: an adder's energy linearly in its width
(between and beyond the 8- and 32-bit points), a multiplier's in the product of its operand
widths (an array multiplier has ``a x b`` partial-product cells).  Those scalings are this
model's assumption, not Horowitz's.  The model counts arithmetic only: no register, clock or
wiring energy, which is exactly what the netlist figures add (the report shows both).

Per element (one weight times one activation), with every width from the manifest:

* INT8: one 8x8 multiply; ``(L-1)/L`` adds of the adder tree (width ``16 + ceil(log2 L)``);
  ``1/L`` accumulator adds (``acc_width``).
* DNA-TEQ: one exponent add (``max(exp_bits_w, exp_bits_a) + 1`` bits); one counter increment
  (``count_width``-bit add); per vector of ``N`` elements, ``n_bins`` multiplies of a count by a
  table entry (``count_width x table_width``) and ``n_bins`` accumulator adds (``acc_width``),
  i.e. ``n_bins / N`` of each per element.
* Both, separately: fetching the operands from the buffers the manifest records (a weight of
  ``width / lanes`` bits per element; an activation likewise, shared by a tile's PEs), at the
  64-bit access energy of the nearest SRAM size Horowitz lists, scaled to the bits read.
"""

import math

__all__ = ["HOROWITZ_45NM_PJ", "SOURCE", "add_pj", "multiply_pj", "sram_read_pj", "operand_fetch_pj",
           "int8_element_pj", "dnateq_element_pj"]

SOURCE = ("M. Horowitz, \"Computing's energy problem (and what we can do about it)\", "
          "ISSCC 2014, pp. 10-14 (45 nm)")
HOROWITZ_45NM_PJ = {"add8": 0.03, "add32": 0.1, "mult8": 0.2, "mult32": 3.1,
                    "sram_8kb_64b": 10.0, "sram_32kb_64b": 20.0, "sram_1mb_64b": 100.0}


def add_pj(bits):
    """Integer add of ``bits`` bits: linear through Horowitz's 8- and 32-bit points."""
    slope = (HOROWITZ_45NM_PJ["add32"] - HOROWITZ_45NM_PJ["add8"]) / 24
    return HOROWITZ_45NM_PJ["add8"] + slope * (bits - 8)


def multiply_pj(a_bits, b_bits):
    """Integer multiply ``a_bits x b_bits``: proportional to ``a*b``, through the 32x32 point."""
    return HOROWITZ_45NM_PJ["mult32"] * a_bits * b_bits / (32 * 32)


def sram_read_pj(bits, capacity_bytes):
    """Reading ``bits`` from an SRAM: Horowitz's 64-bit access energy of the nearest listed size."""
    sizes = [(8 << 10, "sram_8kb_64b"), (32 << 10, "sram_32kb_64b"), (1 << 20, "sram_1mb_64b")]
    key = min(sizes, key=lambda s: abs(math.log(capacity_bytes / s[0])))[1]
    return HOROWITZ_45NM_PJ[key] * bits / 64


def operand_fetch_pj(buffers, lanes):
    """SRAM reads per element: its weight from its PE's weight buffer, its activation from the
    activation buffer, whose one read serves every PE of a tile (``buffers`` from the manifest)."""
    weights, activations = buffers["weights"], buffers["activations"]
    sharing = weights.get("instances", 1) / activations.get("instances", 1)
    return (sram_read_pj(weights["width"] / lanes, weights["bits"] / 8)
            + sram_read_pj(activations["width"] / lanes, activations["bits"] / 8) / sharing)


def int8_element_pj(lanes, acc_width):
    """Energy per element of the INT8 multiply-accumulate PE, with its breakdown."""
    tree_width = 16 + math.ceil(math.log2(lanes)) if lanes > 1 else 16
    parts = {"multiply 8x8": HOROWITZ_45NM_PJ["mult8"],
             f"adder tree ({tree_width} b)": add_pj(tree_width) * (lanes - 1) / lanes,
             f"accumulate ({acc_width} b)": add_pj(acc_width) / lanes}
    return sum(parts.values()), parts


def dnateq_element_pj(arith, vector_length):
    """Energy per element of the DNA-TEQ PE (``arith`` is the manifest's arith record)."""
    exp_width = max(arith["exp_bits_w"], arith["exp_bits_a"]) + 1
    per_vector = arith["n_bins"] / vector_length
    parts = {f"exponent add ({exp_width} b)": add_pj(exp_width),
             f"counter increment ({arith['count_width']} b)": add_pj(arith["count_width"]),
             f"post-processing multiply ({arith['count_width']}x{arith['table_width']}, x{per_vector:.3f})":
                 multiply_pj(arith["count_width"], arith["table_width"]) * per_vector,
             f"post-processing accumulate ({arith['acc_width']} b, x{per_vector:.3f})":
                 add_pj(arith["acc_width"]) * per_vector}
    return sum(parts.values()), parts
