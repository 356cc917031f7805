"""A tile with its storage: per PE a weight buffer, a weight unpacker and an output buffer."""

from functools import partial

from amaranth import Cat, Module, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .buffer import Buffer, buffer_port
from .hierarchy import place, place_array
from .params import read_only

__all__ = ["BufferedTile", "TILE_STREAMS"]

#: Members of a tile that carry its streams; its other members are layer inputs.
TILE_STREAMS = ("w", "a", "o")


class BufferedTile(wiring.Component):
    """A tile and, per PE, a weight buffer, a weight unpacker and an output buffer.

    A PE's weight buffer holds an entry per beat of its row of ``W`` (``lanes`` code slots); the
    weight buffers of a tile are written together (one entry of the weight stream is a tile's
    rows) and read together, at the address the controller gives.  A beat moves into the tile when
    the activation ``beat`` is valid and the tile is ready.  A PE's output buffer holds its ``Y``
    of successive columns; the output buffers are written and read together too.  (Per-PE
    buffers, rather than one wide buffer per tile, make the generator convert one small memory
    module however many PEs a tile has.)

    Parameters
    ----------
    make_tile : callable
        Returns the tile (a :class:`hw.tile.LockstepTile`).
    weight_unpacker : callable
        ``(rows=1) -> Unpacker`` of one PE's weight slots.
    weight_depth, output_depth : int
        Entries of each weight buffer and of the output buffer.
    prefix : str
        First part of the Verilog module names (the PE kind).

    Attributes
    ----------
    weight_write : In(addr, data, en)
        ``data``: a tile's ``pes x lanes`` weight slots, PE ``p`` in slots ``p*lanes ..``.
    weight_read : In(addr, en)
    beat : In(stream.Signature(a, last, live_lanes))
        Unpacked activation lanes and ``last`` for the tile, ``live_lanes`` for the weight unpackers;
        the weight lanes are the weight buffers' read data.
    result_valid : Out(1), result_ready : In(1)
        The tile's output handshake.
    output_write, output_read : In(addr, en)
    output_data : Out(pes * out_width)
        The output buffers' read data: PE ``p``'s ``Y`` in bits ``p*out_width ..``.
    weight_format, <layer inputs of the tile>
        Present when the unpacker / the tile has them (DNA-TEQ: code format, table, shift).
    """

    role = "buffered_tile"
    tile = read_only("tile")
    weight_buffer = read_only("weight_buffer", "PE 0's weight :class:`Buffer` (every PE has one like it).")
    output_buffer = read_only("output_buffer", "PE 0's output :class:`Buffer` (every PE has one like it).")
    weight_unpacker = read_only("weight_unpacker", "PE 0's weight unpacker (every PE has one like it).")

    def __init__(self, *, make_tile, weight_unpacker, weight_depth, output_depth, prefix):
        self._tile = tile = make_tile()
        self._make_weight_unpacker = partial(weight_unpacker, rows=1)
        self._weight_unpacker = self._make_weight_unpacker()
        self._make_weight_buffer = partial(Buffer, name="weight", depth=weight_depth,
                                           width=tile.lanes * self._weight_unpacker.code_bits, prefix=prefix)
        self._weight_buffer = self._make_weight_buffer()
        self._make_output_buffer = partial(Buffer, name="output", depth=output_depth, width=tile.out_width,
                                           prefix=prefix)
        self._output_buffer = self._make_output_buffer()
        self.module_name = f"{prefix}_buffered_tile"
        weight_depth, output_depth = self._weight_buffer.depth, self._output_buffer.depth
        self._tile_layer = {name: member for name, member in tile.signature.members.items()
                            if name not in TILE_STREAMS}
        layer = dict(self._tile_layer)
        if "format" in self._weight_unpacker.signature.members:
            layer["weight_format"] = self._weight_unpacker.signature.members["format"]
        super().__init__({
            "weight_write": In(buffer_port(weight_depth, write_width=tile.pes * self._weight_buffer.width)),
            "weight_read": In(buffer_port(weight_depth)),
            "beat": In(stream.Signature(data.StructLayout({
                "a": data.ArrayLayout(tile.pe.activation_lane, tile.lanes), "last": 1,
                "live_lanes": range(tile.lanes + 1)}))),
            "result_valid": Out(1), "result_ready": In(1),
            "output_write": In(buffer_port(output_depth)), "output_read": In(buffer_port(output_depth)),
            "output_data": Out(unsigned(tile.pes * tile.out_width)),
            **layer,
        })

    @property
    def parameters(self):
        return {"tile": self._tile.parameters, "weight_buffer": self._weight_buffer.parameters,
                "output_buffer": self._output_buffer.parameters, "weight_unpacker": self._weight_unpacker.parameters}

    @property
    def latency(self):
        """Cycles from a beat's handshake to ``result_valid`` (the tile's; the buffers are outside that path)."""
        return self._tile.latency

    def elaborate(self, platform):
        m = Module()
        pes = self._tile.pes
        m.submodules.tile = tile = place(platform, self._tile)
        weight_buffers = place_array(platform, self._weight_buffer, self._make_weight_buffer, pes)
        unpackers = place_array(platform, self._weight_unpacker, self._make_weight_unpacker, pes)
        output_buffers = place_array(platform, self._output_buffer, self._make_output_buffer, pes)
        width = self._weight_buffer.width
        for index, (weight_buffer, unpacker, output_buffer, weights) in enumerate(
                zip(weight_buffers, unpackers, output_buffers, tile.w)):
            m.submodules[f"weight_buffer{index}"] = weight_buffer
            m.submodules[f"weight_unpacker{index}"] = unpacker
            m.submodules[f"output_buffer{index}"] = output_buffer
            m.d.comb += [
                weight_buffer.write.addr.eq(self.weight_write.addr), weight_buffer.write.en.eq(self.weight_write.en),
                weight_buffer.write.data.eq(self.weight_write.data[index * width:(index + 1) * width]),
                weight_buffer.read.addr.eq(self.weight_read.addr), weight_buffer.read.en.eq(self.weight_read.en),
                unpacker.codes.eq(weight_buffer.read.data), unpacker.live_lanes.eq(self.beat.payload.live_lanes),
                weights.valid.eq(self.beat.valid), weights.payload.eq(unpacker.fields[0]),
                output_buffer.write.addr.eq(self.output_write.addr), output_buffer.write.en.eq(self.output_write.en),
                output_buffer.write.data.eq(tile.o.payload[index]),
                output_buffer.read.addr.eq(self.output_read.addr), output_buffer.read.en.eq(self.output_read.en),
            ]
            if "weight_format" in self.signature.members:
                m.d.comb += unpacker.format.eq(self.weight_format)
        m.d.comb += [
            tile.a.valid.eq(self.beat.valid), tile.a.payload.a.eq(self.beat.payload.a),
            tile.a.payload.last.eq(self.beat.payload.last), self.beat.ready.eq(tile.a.ready),
            self.result_valid.eq(tile.o.valid), tile.o.ready.eq(self.result_ready),
            self.output_data.eq(Cat(output_buffer.read.data for output_buffer in output_buffers)),
        ]
        for name, member in self._tile_layer.items():
            if member.is_signature:
                wiring.connect(m, wiring.flipped(getattr(self, name)), getattr(tile, name))
            else:
                m.d.comb += getattr(tile, name).eq(getattr(self, name))
        return m
