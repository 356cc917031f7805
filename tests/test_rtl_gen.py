"""python -m rtl_gen: manifest contract (docs/architecture.md §4), argument errors, rewrite-on-change."""

import json
import subprocess
import sys

import pytest

from hw import DnaTeqPe, Int8Pe
from hw.hierarchy import HierarchicalBuild, module_ports
from hw.sim import raised
from quant.arith import DnaTeqArith
from quant.golden import int8_acc_width
from quant.toolchain import REPO_ROOT
from rtl_gen.cli import config_from_args, main
from rtl_gen.config import DEFAULT_PES_PER_TILE
from rtl_gen.docs import REGISTERS_PAGE, registers_page
from rtl_gen.generate import MANIFEST

CONTRACT_KEYS = {"top", "pe_kind", "pe_count", "verilog", "tiles", "pes_per_tile", "lanes", "arith", "modules",
                 "latency", "ports", "registers", "buffers", "generator"}
SMALL = ["--lanes", "2", "--exp-bits-w", "2", "--exp-bits-a", "2", "--max-vector-length", "32",
         "--table-width", "12"]
TILE = ["--top", "tile"]


def generate(out, *args):
    assert main([*args, "-o", str(out)]) == 0
    return json.loads((out / MANIFEST).read_text())


def mtimes(out):
    return {path.name: path.stat().st_mtime_ns for path in out.glob("*.v")}


def test_dnateq_manifest_holds_the_contract_keys_and_the_components_figures(tmp_path):
    manifest = generate(tmp_path, *SMALL, *TILE, "--pe-count", "8", "--pes-per-tile", "4", "--offsets",
                        "--count-depth", "8")
    assert CONTRACT_KEYS <= set(manifest)
    arith = DnaTeqArith(exp_bits_w=2, exp_bits_a=2, max_vector_length=32, table_width=12, offsets=True,
                        count_depth=8)
    assert DnaTeqArith.from_dict(manifest["arith"]) == arith and manifest["arith"] == arith.to_dict()
    shape = ("top", "pe_count", "tiles", "pes_per_tile", "lanes")
    assert [manifest[key] for key in shape] == ["dnateq_tile", 8, 2, 4, 2]
    assert manifest["modules"] == {"counter_bank": "dnateq_counter_bank", "postproc": "dnateq_postproc",
                                   "pe": "dnateq_pe", "layer_table": "dnateq_layer_table", "tile": "dnateq_tile"}
    pe = DnaTeqPe(arith=arith, lanes=2)
    assert manifest["ports"]["dnateq_pe"] == [vars(port) for port in HierarchicalBuild().convert(pe).ports]
    assert manifest["latency"] == {"counter_bank": pe.counter_bank.latency, "postproc": pe.postproc.latency,
                                   "pe": pe.latency, "layer_table": 1, "tile": pe.latency}
    assert manifest["drain"] == {"cycles": pe.drain_cycles, "double_buffer": True, "chunked": True}
    assert manifest["verilog"] == [f"{name}.v" for name in manifest["modules"].values()]
    for name in manifest["modules"].values():
        text = (tmp_path / f"{name}.v").read_text()
        assert manifest["ports"][name] == [vars(port) for port in module_ports(text, name)]
    assert manifest["registers"] == []
    assert all(buffer["bits"] == buffer["depth"] * buffer["width"] for buffer in manifest["buffers"].values())
    assert manifest["generator"]["command"].startswith("python -m rtl_gen --lanes 2")
    assert DnaTeqArith(**manifest["parameters"]["arith"]) == arith
    assert manifest["widths"]["table_addr"] == len(pe.table.addr)


def test_int8_manifest_records_the_mac_widths(tmp_path):
    manifest = generate(tmp_path, *TILE, "--pe-kind", "int8", "--pe-count", "3", "--lanes", "4",
                        "--max-vector-length", "100")
    assert CONTRACT_KEYS <= set(manifest)
    assert manifest["arith"] == {"max_vector_length": 100, "acc_width": int8_acc_width(100), "out_width": 32}
    assert manifest["modules"] == {"pe": "int8_pe", "tile": "int8_tile"}
    pe = Int8Pe(lanes=4, max_vector_length=100)
    assert manifest["ports"]["int8_pe"] == [vars(port) for port in HierarchicalBuild().convert(pe).ports]
    assert manifest["latency"] == {"pe": pe.latency, "tile": pe.latency}


AXI_LITE = ["awaddr", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready", "bresp", "bvalid", "bready",
            "araddr", "arvalid", "arready", "rdata", "rresp", "rvalid", "rready"]
AXI_STREAM = ["tdata", "tvalid", "tready", "tlast"]


@pytest.mark.parametrize("kind", ["dnateq", "int8"])
def test_the_accelerator_is_the_default_top_with_its_registers_ports_and_buffers(tmp_path, kind):
    args = [*SMALL, "--pe-kind", kind, "--pe-count", "6", "--pes-per-tile", "3", "--out-width", "24",
            "--weight-buffer-depth", "8", "--activation-buffer-depth", "4", "--output-buffer-depth", "2"]
    manifest = generate(tmp_path, *args)
    config = config_from_args(args)
    assert CONTRACT_KEYS <= set(manifest) and manifest["top"] == f"{kind}_accelerator"
    assert manifest["registers"] == [register.to_dict() for register in config.registers()]
    roles = {"accelerator", "controller", "register_file", "buffered_tile", "weight_buffer", "activation_buffer",
             "output_buffer", "weight_unpacker", "activation_unpacker", "tile", "pe"}
    assert roles <= set(manifest["modules"]) and manifest["modules"]["controller"] == f"{kind}_controller"
    assert set(manifest["latency"]) == set(manifest["modules"])
    top_ports = {port["name"]: port for port in manifest["ports"][manifest["top"]]}
    for prefix, signals in (("s_axil", AXI_LITE), ("s_axis_w", AXI_STREAM), ("s_axis_a", AXI_STREAM),
                            ("m_axis_y", AXI_STREAM)):
        assert manifest["axi"][prefix]["ports"] == {signal: f"{prefix}_{signal}" for signal in signals}
        assert all(f"{prefix}_{signal}" in top_ports for signal in signals)
        width = manifest["axi"][prefix]["data_width"]
        data = top_ports[f"{prefix}_{'wdata' if prefix == 's_axil' else 'tdata'}"]
        assert data["width"] == width and width % 8 == 0
        assert (data["direction"] == "output") == (prefix == "m_axis_y")
    assert set(top_ports) == {f"{prefix}_{signal}" for prefix, signals in (("s_axil", AXI_LITE),
                                                                            ("s_axis_w", AXI_STREAM),
                                                                            ("s_axis_a", AXI_STREAM),
                                                                            ("m_axis_y", AXI_STREAM))
                              for signal in signals} | {"clk", "rst"}
    assert manifest["buffers"] == config.buffers()
    assert manifest["buffers"]["weights"]["instances"] == 6 and manifest["buffers"]["outputs"]["instances"] == 6
    assert manifest["max_n"] == 16 and manifest["throughput"]["peak_elements_per_cycle"] == 12


def test_docs_registers_md_is_the_rendered_register_map():
    assert REGISTERS_PAGE.read_text() == registers_page(), "run python -m rtl_gen.docs"


def test_tiles_default_to_64_pes(tmp_path):
    manifest = generate(tmp_path, "--pe-kind", "int8", "--pe-count", "1024", "--top", "pe")
    assert (manifest["pes_per_tile"], manifest["tiles"]) == (DEFAULT_PES_PER_TILE, 1024 // DEFAULT_PES_PER_TILE)
    assert manifest["top"] == "int8_pe"


def test_files_are_rewritten_only_when_their_text_changes(tmp_path):
    generate(tmp_path, *SMALL, *TILE, "--pe-count", "2")
    before = mtimes(tmp_path)
    generate(tmp_path, *SMALL, *TILE, "--pe-count", "2")
    assert mtimes(tmp_path) == before
    generate(tmp_path, *SMALL, *TILE, "--pe-count", "2", "--out-width", "16")     # the bank does not see Y
    after = mtimes(tmp_path)
    assert after["dnateq_counter_bank.v"] == before["dnateq_counter_bank.v"]
    assert after["dnateq_postproc.v"] != before["dnateq_postproc.v"]


def test_another_design_in_the_same_folder_removes_the_stale_files(tmp_path):
    generate(tmp_path, *SMALL, *TILE, "--pe-count", "2")
    manifest = generate(tmp_path, "--pe-kind", "int8", "--pe-count", "2", "--top", "pe")
    assert sorted(path.name for path in tmp_path.glob("*.v")) == manifest["verilog"] == ["int8_pe.v"]


@pytest.mark.parametrize("args,message", [
    (["--pe-count", "6", "--pes-per-tile", "4"], "pe_count (6) must be a multiple of pes_per_tile (4)"),
    (["--lanes", "3", "--count-depth", "100"],
     "count_depth (100) must be a multiple of lanes (3) when it is below max_vector_length (4096)"),
    (["--exp-bits-a", "9"], "exp_bits_a must be an integer in 1..8, got 9"),
    (["--pe-kind", "int8", "--max-vector-length", "100000", "--out-width", "16"],
     f"out_width (16) must be at least the INT8 accumulator width ({int8_acc_width(100000)} bits for "
     "max_vector_length=100000)"),
    (["--top", "soc"], "argument --top: invalid choice: 'soc' (choose from 'accelerator', 'pe', 'tile')"),
    (["--activation-buffer-depth", "1"], "activation_buffer_depth must be an integer >= 2, got 1"),
    (["--lanes", "many"], "argument --lanes: invalid int value: 'many'"),
])
def test_bad_arguments_give_a_one_line_error(tmp_path, capsys, args, message):
    assert raised(lambda: main([*args, "-o", str(tmp_path)]), SystemExit).code == 2
    error = capsys.readouterr().err
    assert error.splitlines()[-1] == f"python -m rtl_gen: error: {message}" and "Traceback" not in error
    assert not list(tmp_path.iterdir())


def test_the_module_runs_as_a_command(tmp_path):
    done = subprocess.run([sys.executable, "-m", "rtl_gen", "--help"], cwd=REPO_ROOT, capture_output=True,
                          text=True, check=True)
    for option in ("--pe-kind", "--pe-count", "--pes-per-tile", "--lanes", "--exp-bits-w", "--exp-bits-a",
                   "--offsets", "--table-width", "--max-vector-length", "--count-depth", "--no-double-buffer",
                   "--weight-buffer-depth", "--top", "--out"):
        assert option in done.stdout
