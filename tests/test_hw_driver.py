"""hw.driver in pure Python: its packets and result decoding round-trip through an independent reading of the
documented formats, on manifests written by rtl_gen; register encoding; refusals."""

import json
from dataclasses import replace

import numpy as np
import pytest

from hw.driver import Driver
from hw.sim import random_codes
from quant.arith import DnaTeqArith, compile_layer
from quant.golden import dnateq_matmul, int8_matmul
from rtl_gen.cli import main
from rtl_gen.generate import MANIFEST

SMALL = ["--pe-count", "6", "--pes-per-tile", "3", "--lanes", "3", "--exp-bits-w", "2", "--exp-bits-a", "3",
         "--max-vector-length", "40", "--table-width", "12", "--out-width", "24", "--weight-buffer-depth", "8"]


@pytest.fixture(scope="module", params=["dnateq", "int8"])
def manifest(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    assert main([*SMALL, "--pe-kind", request.param, "-o", str(out)]) == 0
    return json.loads((out / MANIFEST).read_text())


def slots(word, count, bits):
    return [(word >> (index * bits)) & ((1 << bits) - 1) for index in range(count)]


def read_weights(manifest, packets, m, n):
    """W back from the weight packets, as docs/hardware.md describes them."""
    p, lanes, tiles = manifest["pes_per_tile"], manifest["lanes"], manifest["tiles"]
    bits, beats = manifest["axi"]["s_axis_w"]["slot_bits"], -(-n // lanes)
    w = np.zeros((m, n), dtype=np.int64)
    for block, packet in enumerate(packets):
        active = len(packet) // beats
        assert len(packet) == active * beats and active == min(tiles, -(-(m - block * tiles * p) // p))
        for index, word in enumerate(packet):
            tile, beat = divmod(index, beats)
            for slot, code in enumerate(slots(word, p * lanes, bits)):
                row, col = block * tiles * p + tile * p + slot // lanes, beat * lanes + slot % lanes
                if row < m and col < n:
                    w[row, col] = code
                else:
                    assert code == 0, "padding slots are code 0"
            assert word >> (p * lanes * bits) == 0
    return w


def read_activations(manifest, packets, n):
    """A back from the packets of one row block: a packet per column."""
    lanes, bits = manifest["lanes"], manifest["axi"]["s_axis_a"]["slot_bits"]
    columns = []
    for packet in packets:
        elements = [code for word in packet for code in slots(word, lanes, bits)]
        assert elements[n:] == [0] * (len(elements) - n)
        columns.append(elements[:n])
    return np.array(columns).T


def output_words(manifest, y):
    """The m_axis_y words of a result Y, in the documented order."""
    p, tiles, width = manifest["pes_per_tile"], manifest["tiles"], manifest["axi"]["m_axis_y"]["word_bits"]
    m, k = y.shape
    words = []
    for start in range(0, m, tiles * p):
        for column in range(k):
            for tile in range(tiles):
                rows = range(start + tile * p, start + tile * p + p)
                if rows[0] < m:
                    words.append(sum((int(y[row, column]) & ((1 << width) - 1)) << (index * width)
                                     for index, row in enumerate(rows) if row < m))
    return words


def layer(rng, manifest, m, n, k):
    """A random layer of the manifest's kind: (transactions, W codes, A codes, golden Y)."""
    driver = Driver(manifest)
    if manifest["pe_kind"] == "int8":
        w, a = rng.integers(-128, 128, (m, n)), rng.integers(-128, 128, (n, k))
        return driver.int8_layer(w, a), w & 0xFF, a & 0xFF, int8_matmul(w, a)
    arith = DnaTeqArith.from_dict(manifest["arith"])
    w_code, a_code = random_codes(rng, arith, a_signed=bool(rng.integers(2)))
    prog = compile_layer(arith, w_code, a_code, n)
    w, a = rng.integers(0, 1 << w_code.bits, (m, n)), rng.integers(0, 1 << a_code.bits, (n, k))
    return driver.dnateq_layer(prog, w, a), w, a, dnateq_matmul(prog, w, a)


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (6, 6, 2), (7, 13, 3), (20, 24, 1), (13, 2, 4)])
def test_packets_and_results_round_trip(rng, manifest, m, n, k):
    transactions, w, a, y = layer(rng, manifest, m, n, k)
    driver = Driver(manifest)
    blocks = -(-m // (manifest["tiles"] * manifest["pes_per_tile"]))
    assert transactions.shape == (m, n, k)
    assert np.array_equal(read_weights(manifest, transactions.weight_packets, m, n), w)
    assert len(transactions.activation_packets) == blocks * k
    for block in range(blocks):                   # A goes again with every row block
        assert np.array_equal(read_activations(manifest, transactions.activation_packets[block * k:(block + 1) * k],
                                               n), a)
    words = output_words(manifest, y)
    assert len(words) == transactions.output_beats
    assert np.array_equal(driver.decode_outputs(words, m, k), y)
    expected_order = [entry for block in range(blocks)
                      for entry in [("weights", block)] + [("activations", block * k + c) for c in range(k)]]
    assert transactions.feed_order == expected_order


def test_register_writes_configure_then_start(rng, manifest):
    transactions, *_ = layer(rng, manifest, 5, 7, 2)
    names = [write.name for write in transactions.register_writes]
    assert names[:3] == ["M", "N", "K"] and names[-1] == "CTRL"
    registers = {register["name"]: register for register in manifest["registers"]}
    for write in transactions.register_writes:
        register = registers[write.name]
        assert register["offset"] <= write.offset < register["offset"] + 4 * register["count"]
    assert transactions.register_writes[-1].value == 1
    if manifest["pe_kind"] == "dnateq":
        table = [write for write in transactions.register_writes if write.name == "LAYER_TABLE"]
        assert len(table) == manifest["arith"]["n_bins"] == registers["LAYER_TABLE"]["count"]
        assert {"CODES", "SHIFT"} <= set(names)


def test_fields_encode_at_their_bit_positions(manifest):
    driver = Driver(manifest)
    assert driver.encode("M", m=0x12345) == 0x12345
    assert driver.decode("STATUS", 0b100_0110) == {"busy": 0, "done": 1, "error": 1, "cause": 4}
    if manifest["pe_kind"] == "dnateq":
        assert driver.encode("CODES", w_bits=4, w_signed=1, a_bits=3, a_zero_code=1) == 0x2314
        assert driver.encode("LAYER_TABLE", entry=-1) == 0xFFF          # 12-bit two's complement
    with pytest.raises(ValueError, match="register M has no field n"):
        driver.encode("M", n=1)
    with pytest.raises(ValueError, match="CTRL.start = 2 does not fit 1 bits"):
        driver.encode("CTRL", start=2)


def test_layers_the_hardware_would_refuse_are_refused_here(rng, manifest):
    driver = Driver(manifest)
    with pytest.raises(ValueError, match=r"N = 25 is above MAX_N = 24 of this accelerator"):
        layer(rng, manifest, 2, 25, 1)
    with pytest.raises(ValueError, match="an 2 x 1 result has 1 output beats, got 2"):
        driver.decode_outputs([0, 0], 2, 1)
    w, a = np.zeros((2, 3), dtype=int), np.zeros((4, 1), dtype=int)
    if manifest["pe_kind"] == "int8":
        with pytest.raises(ValueError, match=r"got \(2, 3\) and \(4, 1\)"):
            driver.int8_layer(w, a)
        with pytest.raises(ValueError, match="a DNA-TEQ layer needs a DNA-TEQ accelerator, this one is int8"):
            driver.dnateq_layer(None, w, a)
    else:
        with pytest.raises(ValueError, match="prog must be a quant.arith.LayerProgram"):
            driver.dnateq_layer(None, w, a)
        arith = DnaTeqArith.from_dict(manifest["arith"])
        prog = compile_layer(replace(arith, out_width=16), *random_codes(rng, arith), 3)
        with pytest.raises(ValueError, match="the program was compiled for 16-bit Y, the hardware has 24"):
            driver.dnateq_layer(prog, w, np.zeros((3, 1), dtype=int))
        prog = compile_layer(replace(arith, offsets=True), *random_codes(rng, arith), 3)
        with pytest.raises(ValueError, match="the program has 24 table entries, the hardware 11"):
            driver.dnateq_layer(prog, w, np.zeros((3, 1), dtype=int))
        with pytest.raises(ValueError, match="an INT8 layer needs an INT8 accelerator, this one is dnateq"):
            driver.int8_layer(w, a)


def test_a_manifest_without_an_accelerator_is_refused(manifest):
    with pytest.raises(ValueError, match="describes no accelerator"):
        Driver({key: value for key, value in manifest.items() if key != "axi"})


def test_a_driver_reads_its_manifest_from_a_folder_or_a_file(tmp_path, manifest):
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    for path in (tmp_path, tmp_path / MANIFEST):
        assert Driver.from_file(path).manifest == manifest
