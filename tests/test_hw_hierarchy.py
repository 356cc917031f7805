"""HierarchicalBuild: each distinct module converted once, instantiated by name, ports as declared."""

import re

from amaranth import Shape

from hw import DnaTeqPe, DnaTeqTile, Int8Pe
from hw.hierarchy import HierarchicalBuild, port_bits
from hw.sim import rejection
from quant.arith import DnaTeqArith

ARITH = DnaTeqArith(exp_bits_w=2, exp_bits_a=2, table_width=8, max_vector_length=16)


def test_a_tile_is_one_module_per_role_with_instances(rng):
    pes = int(rng.integers(2, 6))
    build = HierarchicalBuild()
    top = build.convert(DnaTeqTile(arith=ARITH, lanes=2, pes=pes))
    names = [module.name for module in build.modules]
    assert names == ["dnateq_counter_bank", "dnateq_postproc", "dnateq_pe", "dnateq_layer_table", "dnateq_tile"]
    assert top is build.modules[-1]
    assert len(re.findall(r"^\s*dnateq_pe pe\d+ \(", top.verilog, re.MULTILINE)) == pes
    for module in build.modules:          # each text defines exactly its own module
        assert re.findall(r"^module (\S+)\(", module.verilog, re.MULTILINE) == [module.name]


def test_ports_are_the_signature_plus_clock_and_reset():
    pe = DnaTeqPe(arith=ARITH, lanes=3)
    module = HierarchicalBuild().convert(pe)
    expected = {"__".join(path): Shape.cast(member.shape).width for path, member, _ in pe.signature.flatten(pe)}
    assert {port.name: port.width for port in module.ports} == {**expected, "clk": 1, "rst": 1}
    outputs = {"__".join(path) for path, member, _ in pe.signature.flatten(pe) if member.flow.name == "Out"}
    assert {port.name for port in module.ports if port.direction == "output"} == outputs


def test_port_bits_add_up_the_ports_of_the_converted_module():
    tile = DnaTeqTile(arith=ARITH, lanes=2, pes=3)
    module = HierarchicalBuild().convert(tile)
    widths = {direction: sum(port.width for port in module.ports
                             if port.direction == direction and port.name not in ("clk", "rst"))
              for direction in ("input", "output")}
    assert port_bits(tile.signature) == (widths["input"], widths["output"])


def test_two_configurations_of_one_module_are_refused():
    build = HierarchicalBuild()
    build.convert(Int8Pe(lanes=2, max_vector_length=16))
    assert rejection(lambda: build.convert(Int8Pe(lanes=4, max_vector_length=16))) == \
        "module int8_pe is used with two configurations in one build"
