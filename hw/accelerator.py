"""The accelerator: tiles, buffers, unpackers, controller and register file behind AXI4-Lite and AXI4-Stream.

One structure serves both PE kinds (:class:`Accelerator`); :class:`DnaTeqAccelerator` and
:class:`Int8Accelerator` supply the tile, the unpackers and the layer registers of their kind.
``docs/hardware.md`` (*Accelerator*) describes the data flow, the packing and the loop order;
``docs/registers.md`` the register map.
"""

import operator
from functools import partial, reduce

from amaranth import Const, Module, Mux
from amaranth.lib import wiring

from .axi import FlatInterface, axis_sink_signature, byte_width, connect_flat, flat_members, interface_ports
from .buffer import Buffer
from .buffered_tile import BufferedTile
from .controller import Controller
from .hierarchy import place, place_array
from .params import check_int, read_only
from .register_file import DATA_WIDTH, RegisterFile
from .register_map import address_width, register_map
from .tile import DnaTeqTile, Int8Tile
from .unpacker import ExpCodeUnpacker, Int8Unpacker

__all__ = ["buffer_shapes", "Accelerator", "DnaTeqAccelerator", "Int8Accelerator"]

_STREAMS = {"weights": "s_axis_w", "activations": "s_axis_a", "outputs": "m_axis_y"}


def _delegated(path, doc=None):
    """A read-only property giving the attribute at dotted ``path`` of the object."""
    return property(operator.attrgetter(path), doc=doc)


def buffer_shapes(*, tiles, pes_per_tile, lanes, code_bits, out_width, depths):
    """Per buffer (``weights``, ``activations``, ``outputs``): ``depth`` and ``width`` of an entry,
    ``bits`` of one instance, ``instances`` and ``total_bits``.

    Every PE has a weight buffer (an entry: the ``lanes`` weight slots of a beat) and an output
    buffer (an entry: its ``Y`` of one column); one activation buffer (an entry: ``lanes``
    activation slots) serves all.  ``code_bits`` are the weight and activation
    slot widths; ``depths`` the entries per buffer.
    """
    w_bits, a_bits = code_bits
    shapes = {"weights": (lanes * w_bits, tiles * pes_per_tile), "activations": (lanes * a_bits, 1),
              "outputs": (out_width, tiles * pes_per_tile)}
    return {name: {"depth": depths[name], "width": width, "bits": depths[name] * width, "instances": instances,
                   "total_bits": depths[name] * width * instances}
            for name, (width, instances) in shapes.items()}


class Accelerator(wiring.Component):
    """``tiles`` tiles of one PE kind, their buffers and controller, an AXI4-Lite register file and AXI4-Stream ports.

    Data flow: ``s_axis_w`` -> the weight buffers of the tile being loaded (one per PE);
    ``s_axis_a`` -> the activation buffer (a FIFO); each cycle the controller reads one beat from
    every weight buffer (same address) and one from the activation buffer, the unpackers turn the
    code slots into lanes (padding lanes of a vector's last beat become zero lanes) and every tile
    takes the beat; the tiles' ``Y`` go to their output buffers (FIFOs of columns) and out on
    ``m_axis_y`` tile by tile.  Loop order: see :mod:`hw.controller`.

    Parameters
    ----------
    tiles : int
        Tiles (each a :class:`BufferedTile`).
    make_tile : callable
        Returns a tile (:class:`hw.tile.LockstepTile`); all calls give the same configuration.
    max_vector_length : int
        Longest vector the PEs take.
    weight_unpacker, activation_unpacker : callable
        ``(rows) -> Unpacker`` of the weight / activation operand.
    weight_buffer_depth, activation_buffer_depth, output_buffer_depth : int
        Entries: a PE's ``lanes`` weight slots; ``lanes`` activation slots; a PE's ``Y`` of one column.

    Attributes
    ----------
    s_axil_* : AXI4-Lite subordinate, 32-bit data, :attr:`addr_width` address bits.
    s_axis_w_* : AXI4-Stream in: ``TDATA`` one weight buffer entry (tile rows x lanes code slots).
    s_axis_a_* : AXI4-Stream in: ``TDATA`` one activation buffer entry (lanes code slots).
    m_axis_y_* : AXI4-Stream out: ``TDATA`` the ``Y`` of one tile's PEs for one column.
    """

    role = "accelerator"
    tiles = read_only("tiles")
    buffered_tile = read_only("buffered_tile", "Tile 0 with its buffers (every tile has its configuration).")
    controller = read_only("controller", "The :class:`Controller` submodule.")
    register_file = read_only("register_file", "The :class:`RegisterFile` submodule.")

    def __init__(self, *, tiles, make_tile, max_vector_length, weight_unpacker, activation_unpacker,
                 weight_buffer_depth, activation_buffer_depth, output_buffer_depth):
        self._tiles = check_int("tiles", tiles, 1, (1 << 16) - 1)
        self._make_buffered_tile = partial(BufferedTile, make_tile=make_tile, weight_unpacker=weight_unpacker,
                                           weight_depth=weight_buffer_depth, output_depth=output_buffer_depth,
                                           prefix=self.kind)
        self._buffered_tile = self._make_buffered_tile()
        self._activation_unpacker = activation_unpacker(rows=1)
        self._activation_buffer = Buffer(name="activation", depth=activation_buffer_depth,
                                         width=self.lanes * self._activation_unpacker.code_bits, prefix=self.kind)
        self._controller = Controller(tiles=self._tiles, pes_per_tile=self.pes_per_tile, lanes=self.lanes,
                                      weight_depth=weight_buffer_depth, activation_depth=activation_buffer_depth,
                                      output_depth=output_buffer_depth, max_vector_length=max_vector_length,
                                      prefix=self.kind)
        registers = register_map(kind=self.kind, tiles=self._tiles, pes_per_tile=self.pes_per_tile, lanes=self.lanes,
                                 code_bits=self.code_bits, out_width=self.tile.out_width, max_n=self.max_n,
                                 arith=self.arith if self.kind == "dnateq" else None)
        self._register_file = RegisterFile(registers=registers, addr_width=address_width(registers),
                                           module_name=f"{self.kind}_register_file")
        super().__init__({
            **flat_members("s_axil", self._register_file.axi_signature),
            **{name: member for stream, prefix in _STREAMS.items()
               for name, member in flat_members(prefix, self.stream_signature(stream)).items()},
        })

    # ---- configuration --------------------------------------------------------------------------
    tile = _delegated("_buffered_tile.tile", "Tile 0.")
    pes_per_tile = _delegated("tile.pes")
    lanes = _delegated("tile.lanes")
    arith = _delegated("tile.arith")
    registers = _delegated("_register_file.registers", "The register map (:class:`hw.registers.Register` s).")
    addr_width = _delegated("_register_file.addr_width", "AXI4-Lite address bits.")
    max_n = _delegated("_controller.max_n", "Longest ``N`` a layer may have (``MAX_N``).")

    @property
    def pe_count(self):
        return self._tiles * self.pes_per_tile

    @property
    def parameters(self):
        return {"buffered_tile": self._buffered_tile.parameters, "tiles": self._tiles,
                "activation_buffer": self._activation_buffer.parameters,
                "registers": self._register_file.parameters}

    @property
    def code_bits(self):
        """Slot widths of the packed weight and activation codes."""
        return self._buffered_tile.weight_unpacker.code_bits, self._activation_unpacker.code_bits

    def stream_signature(self, stream):
        """Signature of the ``weights``, ``activations`` or ``outputs`` stream (flipped for outputs)."""
        widths = {"weights": self.pes_per_tile * self._buffered_tile.weight_buffer.width,
                  "activations": self._activation_buffer.width,
                  "outputs": self.pes_per_tile * self._buffered_tile.output_buffer.width}
        signature = axis_sink_signature(byte_width(widths[stream]))
        return signature.flip() if stream == "outputs" else signature

    @property
    def buffers(self):
        """Per buffer: ``depth``, ``width`` (bits per entry), ``bits`` (one instance), ``instances``, ``total_bits``."""
        return buffer_shapes(tiles=self._tiles, pes_per_tile=self.pes_per_tile, lanes=self.lanes,
                             code_bits=self.code_bits, out_width=self.tile.out_width,
                             depths={"weights": self._controller.weight_depth,
                                     "activations": self._controller.activation_depth,
                                     "outputs": self._controller.output_depth})

    @property
    def axi(self):
        """AXI parameters and the standard port names of every interface (the benches bind them from here)."""
        w_bits, a_bits = self.code_bits
        streams = {
            "weights": {"slot_bits": w_bits, "slots_per_beat": self.pes_per_tile * self.lanes,
                        "packet": "one row block: the beats of its tiles in order, ceil(N/lanes) each"},
            "activations": {"slot_bits": a_bits, "slots_per_beat": self.lanes,
                            "packet": "one column of A (ceil(N/lanes) beats); A is sent once per row block"},
            "outputs": {"word_bits": self.tile.out_width, "words_per_beat": self.pes_per_tile,
                        "packet": "the whole layer; a beat per (block, column, tile holding rows < M)"},
        }
        record = {"s_axil": {"addr_width": self.addr_width, "data_width": DATA_WIDTH,
                             "ports": interface_ports("s_axil", self._register_file.axi_signature)}}
        for stream, prefix in _STREAMS.items():
            signature = self.stream_signature(stream)
            record[prefix] = {"stream": stream, "data_width": len(getattr(self, f"{prefix}_tdata")),
                              **streams[stream], "ports": interface_ports(prefix, signature)}
        return record

    @property
    def manifest(self):
        """This accelerator's part of ``manifest.json``: shape, register map, AXI ports, rates, ``max_n``
        (what :class:`hw.driver.Driver` needs)."""
        return {"pe_kind": self.kind, "tiles": self._tiles, "pes_per_tile": self.pes_per_tile, "lanes": self.lanes,
                "registers": [register.to_dict() for register in self.registers], "axi": self.axi,
                "throughput": self.throughput, "max_n": self.max_n}

    @property
    def latency(self):
        """Cycles from the handshake of a column's last activation beat to ``m_axis_y_tvalid`` of its first
        output beat, with weights loaded and the array idle: activation buffer write, issue (buffer read),
        the tile, output buffer write, output read."""
        return 1 + self._controller.latency + self.tile.latency + 1 + self._controller.latency

    @property
    def throughput(self):
        """Steady-state rates (``hw.perf_model`` turns them into cycles per layer)."""
        return {"weight_entries_per_cycle": 1, "activation_beats_per_cycle": 1, "output_beats_per_cycle": 1,
                "peak_elements_per_cycle": self.pe_count * self.lanes,
                "vector": self._vector_throughput()}

    # ---- the kind of accelerator (subclasses) -----------------------------------------------------
    kind = None

    def _vector_throughput(self):
        """How fast the tiles take a vector (a description for the manifest)."""
        raise NotImplementedError

    def _format_error(self, regs):
        """High when the layer configuration in ``regs`` is beyond the hardware."""
        return Const(0)

    def _connect_layer(self, m, regs, tiles, activation_unpacker):
        """Connect the kind's layer registers to the (buffered) tiles and the activation unpacker."""

    # ---- hardware ---------------------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        m.submodules.register_file = regs = place(platform, self._register_file)
        m.submodules.controller = ctrl = place(platform, self._controller)
        m.submodules.activation_buffer = activation_buffer = place(platform, self._activation_buffer)
        m.submodules.activation_unpacker = activation_unpacker = place(platform, self._activation_unpacker)
        tiles = place_array(platform, self._buffered_tile, self._make_buffered_tile, self._tiles)

        axil = self._register_file.axi_signature
        connect_flat(m, FlatInterface(self, "s_axil", axil), FlatInterface(regs, "s_axil", axil), axil)
        weights, activations, outputs = (FlatInterface(self, prefix, self.stream_signature(stream))
                                         for stream, prefix in _STREAMS.items())
        m.d.comb += [
            regs.locked.eq(ctrl.status.busy), regs.status.eq(ctrl.status), regs.cycles.cycles.eq(ctrl.cycles),
            ctrl.start.eq(regs.ctrl.start), ctrl.format_error.eq(self._format_error(regs)),
            ctrl.shape.m.eq(regs.m.m), ctrl.shape.n.eq(regs.n.n), ctrl.shape.k.eq(regs.k.k),
            # stream intake
            ctrl.weights.valid.eq(weights.tvalid), ctrl.weights.payload.last.eq(weights.tlast),
            weights.tready.eq(ctrl.weights.ready),
            ctrl.activations.valid.eq(activations.tvalid), ctrl.activations.payload.last.eq(activations.tlast),
            activations.tready.eq(ctrl.activations.ready),
            activation_buffer.write.addr.eq(ctrl.activation_write.addr),
            activation_buffer.write.en.eq(ctrl.activation_write.en),
            activation_buffer.write.data.eq(activations.tdata),
            # beats to the tiles
            activation_buffer.read.addr.eq(ctrl.activation_read.addr),
            activation_buffer.read.en.eq(ctrl.activation_read.en),
            activation_unpacker.codes.eq(activation_buffer.read.data),
            activation_unpacker.live_lanes.eq(ctrl.beat.payload.live_lanes),
            ctrl.beat.ready.eq(tiles[0].beat.ready),      # the tiles are in lockstep
            ctrl.result_valid.eq(tiles[0].result_valid),
            # output stream
            ctrl.outputs.ready.eq(outputs.tready),
            outputs.tvalid.eq(ctrl.outputs.valid), outputs.tlast.eq(ctrl.outputs.payload.last),
        ]
        for index, tile in enumerate(tiles):
            m.submodules[f"tile{index}"] = tile
            m.d.comb += [
                tile.weight_write.addr.eq(ctrl.weight_write.addr), tile.weight_write.en.eq(ctrl.weight_write.en[index]),
                tile.weight_write.data.eq(weights.tdata),
                tile.weight_read.addr.eq(ctrl.weight_read.addr), tile.weight_read.en.eq(ctrl.weight_read.en),
                tile.beat.valid.eq(ctrl.beat.valid), tile.beat.payload.a.eq(activation_unpacker.fields[0]),
                tile.beat.payload.last.eq(ctrl.beat.payload.last),
                tile.beat.payload.live_lanes.eq(ctrl.beat.payload.live_lanes),
                tile.result_ready.eq(ctrl.result_ready),
                tile.output_write.addr.eq(ctrl.output_write.addr), tile.output_write.en.eq(ctrl.output_write.en),
                tile.output_read.addr.eq(ctrl.output_read.addr), tile.output_read.en.eq(ctrl.output_read.en),
            ]
        m.d.comb += outputs.tdata.eq(reduce(operator.or_, (Mux(ctrl.outputs.payload.tile == index, tile.output_data, 0)
                                                          for index, tile in enumerate(tiles))))
        self._connect_layer(m, regs, tiles, activation_unpacker)
        return m


class DnaTeqAccelerator(Accelerator):
    """The accelerator of :class:`DnaTeqTile` s: exponent codes, a layer table and an output shift.

    Layer registers: ``CODES`` (per operand ``bits``, ``signed``, ``zero_code``: the unpackers'
    format), ``SHIFT`` and the ``TABLE`` window (written into every tile's layer table).  A start
    is refused (``FORMAT``) when an operand has ``bits - signed`` outside ``1 .. exp_bits`` or
    the shift is ``>= acc_width``.

    Parameters
    ----------
    arith : quant.arith.DnaTeqArith
    lanes, pes_per_tile, tiles : int
    double_buffer, clock_gating : bool, optional
        As in :class:`hw.DnaTeqPe`.
    weight_buffer_depth, activation_buffer_depth, output_buffer_depth : int
    """

    kind = "dnateq"
    module_name = "dnateq_accelerator"

    def __init__(self, *, arith, lanes, pes_per_tile, tiles, weight_buffer_depth, activation_buffer_depth,
                 output_buffer_depth, double_buffer=True, clock_gating=False):
        make_tile = partial(DnaTeqTile, arith=arith, lanes=lanes, pes=pes_per_tile, double_buffer=double_buffer,
                            clock_gating=clock_gating)
        super().__init__(
            tiles=tiles, make_tile=make_tile, max_vector_length=arith.max_vector_length,
            weight_unpacker=partial(ExpCodeUnpacker, exp_bits=arith.exp_bits_w, operand="weight", lanes=lanes),
            activation_unpacker=partial(ExpCodeUnpacker, exp_bits=arith.exp_bits_a, operand="activation",
                                        lanes=lanes),
            weight_buffer_depth=weight_buffer_depth, activation_buffer_depth=activation_buffer_depth,
            output_buffer_depth=output_buffer_depth)

    def _vector_throughput(self):
        pe = self.tile.pe
        banks = "counting and shadow bank: max(ceil(N/lanes), n_bins)" if pe.double_buffer \
            else "no shadow bank: ceil(N/lanes) + n_bins"
        return {"cycles_per_vector": f"per chunk of at most count_depth elements, {banks}",
                "n_bins": pe.drain_cycles, "count_depth": self.arith.count_depth}

    def _format_error(self, regs):
        codes = regs.codes
        return ((codes.w_bits < 1 + codes.w_signed) | (codes.w_bits > self.arith.exp_bits_w + codes.w_signed)
                | (codes.a_bits < 1 + codes.a_signed) | (codes.a_bits > self.arith.exp_bits_a + codes.a_signed)
                | (regs.shift.shift >= self.arith.acc_width))

    def _connect_layer(self, m, regs, tiles, activation_unpacker):
        codes = regs.codes

        def code_format(target, prefix):
            return [target.bits.eq(codes[f"{prefix}_bits"]), target.signed.eq(codes[f"{prefix}_signed"]),
                    target.zero_code.eq(codes[f"{prefix}_zero_code"])]

        m.d.comb += code_format(activation_unpacker.format, "a")
        for tile in tiles:
            m.d.comb += [*code_format(tile.weight_format, "w"),
                         tile.table_write.addr.eq(regs.layer_table.index),
                         tile.table_write.data.eq(regs.layer_table.entry),
                         tile.table_write.en.eq(regs.layer_table.write), tile.shift.eq(regs.shift.shift)]


class Int8Accelerator(Accelerator):
    """The accelerator of :class:`Int8Tile` s: signed bytes, no layer registers beyond ``M``, ``N``, ``K``.

    Parameters
    ----------
    lanes, pes_per_tile, tiles, max_vector_length : int
    out_width : int, optional
    weight_buffer_depth, activation_buffer_depth, output_buffer_depth : int
    """

    kind = "int8"
    module_name = "int8_accelerator"

    def __init__(self, *, lanes, pes_per_tile, tiles, max_vector_length, weight_buffer_depth,
                 activation_buffer_depth, output_buffer_depth, out_width=32):
        make_tile = partial(Int8Tile, lanes=lanes, pes=pes_per_tile, max_vector_length=max_vector_length,
                            out_width=out_width)
        super().__init__(
            tiles=tiles, make_tile=make_tile, max_vector_length=max_vector_length,
            weight_unpacker=partial(Int8Unpacker, operand="weight", lanes=lanes),
            activation_unpacker=partial(Int8Unpacker, operand="activation", lanes=lanes),
            weight_buffer_depth=weight_buffer_depth, activation_buffer_depth=activation_buffer_depth,
            output_buffer_depth=output_buffer_depth)

    def _vector_throughput(self):
        return {"cycles_per_vector": "ceil(N/lanes)"}
