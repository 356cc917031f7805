"""Tiles: ``P`` PEs of one kind in lockstep, fed by joined streams, with one output stream."""

from amaranth import Cat, Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .dnateq_pe import DnaTeqPe
from .hierarchy import MAX_PORT_BITS, place, place_array, port_bits
from .int8_pe import Int8Pe
from .interfaces import activation_beat_layout, shift_shape, table_write_signature
from .layer_table import LayerTable
from .params import check_int, read_only

__all__ = ["LockstepTile", "DnaTeqTile", "Int8Tile"]


class LockstepTile(wiring.Component):
    """``pes`` identical PEs: a weight stream each, one broadcast activation stream, one output stream.

    The input streams are *joined*: a beat moves only when the activation stream and every weight
    stream are valid and the PEs are ready, and then every stream sees ``ready`` together (each
    ``ready`` depends on all ``valid``; no ``valid`` depends on a ``ready``).  Every PE sees the same
    handshakes and vector ends, so all PEs are always in the same control state (lockstep): PE 0's
    ``i.ready`` and ``o.valid`` are the tile's (and, for DNA-TEQ, only PE 0's table reads go to the
    table).  The tile adds no pipeline stage: its latency is the PE's.

    Parameters
    ----------
    pes : int
        PEs in the tile, 1..4096, as long as the input (or output) ports total at most
        :data:`hw.hierarchy.MAX_PORT_BITS` bits.
    make_pe : callable
        Returns a new PE (all calls give the same configuration).
    members : dict, optional
        Extra signature members of the kind of tile (layer inputs).

    Attributes
    ----------
    w : In(stream.Signature(ArrayLayout(weight_lane, lanes))).array(pes)
        Weight lanes of each PE.
    a : In(stream.Signature(activation_beat_layout(activation_lane, lanes)))
        Activation lanes for every PE and ``last`` (the beat ends the vector).
    o : Out(stream.Signature(ArrayLayout(signed(out_width), pes)))
        The ``Y`` of every PE for one vector.
    """

    role = "tile"
    pes = read_only("pe_count")
    pe = read_only("pe", "PE 0 (every PE has its configuration).")

    def __init__(self, *, pes, make_pe, members=None):
        self._pe_count = check_int("pes", pes, 1, 4096)
        self._make_pe = make_pe
        self._pe = pe = make_pe()          # PE 0; it also answers for the configuration
        signature = wiring.Signature({
            "w": In(stream.Signature(data.ArrayLayout(pe.weight_lane, pe.lanes))).array(self._pe_count),
            "a": In(stream.Signature(activation_beat_layout(pe.activation_lane, pe.lanes))),
            "o": Out(stream.Signature(data.ArrayLayout(signed(pe.out_width), self._pe_count))),
            **(members or {}),
        })
        widest = max(port_bits(signature))
        if widest > MAX_PORT_BITS:
            raise ValueError(f"a tile of {pes} PEs has {widest} port bits in one direction, more than Amaranth "
                             f"converts ({MAX_PORT_BITS}); use fewer PEs per tile")
        super().__init__(signature)

    @property
    def lanes(self):
        return self._pe.lanes

    @property
    def out_width(self):
        return self._pe.out_width

    @property
    def latency(self):
        """Cycles from accepting a vector's last beat to ``o.valid``: the PE's latency."""
        return self._pe.latency

    @property
    def parameters(self):
        return {"pe": self._pe.parameters, "pes": self._pe_count}

    def _connect_layer(self, m, platform, pes):
        """Connect the layer inputs of this kind of tile to its PEs (none by default)."""

    def elaborate(self, platform):
        m = Module()
        pes = place_array(platform, self._pe, self._make_pe, self._pe_count)
        inputs = [self.a, *self.w]
        all_valid, moves = Signal(), Signal()     # named once: Amaranth would repeat the expression per use
        m.d.comb += [all_valid.eq(Cat(stream.valid for stream in inputs).all()),
                     moves.eq(all_valid & pes[0].i.ready)]
        m.d.comb += [stream.ready.eq(moves) for stream in inputs]
        for index, (pe, weights) in enumerate(zip(pes, self.w)):
            m.submodules[f"pe{index}"] = pe
            m.d.comb += [
                pe.i.valid.eq(all_valid),
                pe.i.payload.w.eq(weights.payload),
                pe.i.payload.a.eq(self.a.payload.a),
                pe.i.payload.last.eq(self.a.payload.last),
                pe.o.ready.eq(self.o.ready),
            ]
        m.d.comb += [self.o.payload.eq(Cat(pe.o.payload for pe in pes)), self.o.valid.eq(pes[0].o.valid)]
        self._connect_layer(m, platform, pes)
        return m


class DnaTeqTile(LockstepTile):
    """A tile of :class:`DnaTeqPe` with the layer table and the layer's output shift.

    During drains (in lockstep) the table reads PE 0 asks for are broadcast to every PE.

    Parameters
    ----------
    arith : quant.arith.DnaTeqArith
    lanes : int
    pes : int
    double_buffer, clock_gating : bool, optional
        As in :class:`DnaTeqPe`.

    Attributes
    ----------
    w, a, o
        As in :class:`LockstepTile`; lanes are ``{zero, sign, exp}``.
    table_write : In(table_write_signature(arith))
        Layer table write port (``addr``, ``data``, ``en``); write between layers.
    shift : In(range(arith.acc_width))
        Output shift ``R`` of the layer.
    """

    module_name = "dnateq_tile"

    def __init__(self, *, arith, lanes, pes, double_buffer=True, clock_gating=False):
        super().__init__(
            pes=pes, make_pe=lambda: DnaTeqPe(arith=arith, lanes=lanes, double_buffer=double_buffer,
                                              clock_gating=clock_gating),
            members={"table_write": In(table_write_signature(arith)), "shift": In(shift_shape(arith))})
        self._table = LayerTable(arith=arith)

    @property
    def arith(self):
        return self._table.arith

    @property
    def layer_table(self):
        """The :class:`LayerTable` submodule."""
        return self._table

    def _connect_layer(self, m, platform, pes):
        m.submodules.layer_table = table = place(platform, self._table)
        wiring.connect(m, wiring.flipped(self.table_write), table.write)
        m.d.comb += [table.read.addr.eq(pes[0].table.addr), table.read.en.eq(pes[0].table.en)]
        for pe in pes:
            m.d.comb += [pe.table.data.eq(table.read.data), pe.shift.eq(self.shift)]


class Int8Tile(LockstepTile):
    """A tile of :class:`Int8Pe` (no layer inputs); lanes are signed bytes.

    Parameters
    ----------
    lanes : int
    pes : int
    max_vector_length : int
    out_width : int, optional
    """

    module_name = "int8_tile"

    def __init__(self, *, lanes, pes, max_vector_length, out_width=32):
        super().__init__(pes=pes, make_pe=lambda: Int8Pe(lanes=lanes, max_vector_length=max_vector_length,
                                                         out_width=out_width))

    @property
    def arith(self):
        return self._pe.arith
