"""Message bodies into Arrow columns, following the mapping of `tllschema.arrow`.

Two ways in, one result:

* :meth:`MessageColumns.from_rows` -- the columnar path for fixed-layout messages: a numpy
  ``(n, size)`` uint8 matrix holding the fixed part of n bodies; every field is sliced out of it
  as a whole column (integers, times, fixed point, enums, bits, byteN, nested messages, unions,
  fixed arrays, presence maps), no Python object per record. A batch holding a value this path
  does not decode the way the record decoder would (an array count out of range, an invalid
  union tag, a time beyond Arrow's range) raises :class:`NeedsRecordPath`: decode that batch with
  :meth:`from_bodies`, which reports the exact error.
* :meth:`MessageColumns.from_bodies` -- any message: each body through the generated decoder,
  then its values into Arrow columns.

Both keep every dictionary column (enums, union tags) over one growing, append-only dictionary
per column, seeded with the members in value order: successive batches differ only by appended
values (a dictionary delta), which the Arrow IPC file format accepts.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

from tllschema.arrow import (
    COARSE_SECONDS, UNION_TAG, enum_members, fixed_layout, message_fields, require_arrow, slot_fields,
    unsigned_of,
)
from tllschema.errors import DecodeError, SchemeError
from tllschema.model import (
    INT_TYPES, Array, Bytes, Message, MessageRef, Pointer, Scalar, SubType, UnionRef, WireType,
)
from tllschema.values import decimal128_decode

_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


class NeedsRecordPath(Exception):
    """The columnar path met a value it leaves to the record decoder (see module docstring)."""


class RowError(SchemeError):
    """A body could not be decoded or converted: ``row`` is its index in the batch."""

    def __init__(self, row: int, reason: str):
        self.row, self.reason = row, reason
        super().__init__(f"row {row}: {reason}")


def _np() -> Any:
    require_arrow()
    import numpy
    return numpy


# -- running dictionaries ------------------------------------------------------------------------
class _Dictionary:
    """One dictionary column's values across batches: seeded, then only appended to."""

    __slots__ = ("_array", "index", "values")

    def __init__(self, seed: Sequence[str]):
        self.values: list[str] = []
        self.index: dict[str, int] = {}
        self._array: Any = None
        for v in seed:
            self.add(v)

    def add(self, value: str) -> int:
        i = self.index.get(value)
        if i is None:
            i = self.index[value] = len(self.values)
            self.values.append(value)
            self._array = None
        return i

    def array(self) -> Any:
        if self._array is None:
            self._array = require_arrow().array(self.values, type=require_arrow().string())
        return self._array


def _seeds(t: WireType, out: list) -> None:
    """Append the dictionary seeds of a slot's fields in the order `_unify` meets them."""
    if isinstance(t, Scalar):
        if t.sub is SubType.ENUM:
            out.append(_Dictionary(enum_members(t)[1]))
    elif isinstance(t, (Array, Pointer)) and not (isinstance(t, Pointer) and t.string):
        _seeds(t.elem, out)
    elif isinstance(t, MessageRef):
        for f in t.message.fields:
            if not f.pmap:
                _seeds(f.type, out)
    elif isinstance(t, UnionRef):
        out.append(_Dictionary([f.name for f in t.union.fields]))
        for f in t.union.fields:
            _seeds(f.type, out)


def _has_dictionary(typ: Any) -> bool:
    pa = require_arrow()
    if pa.types.is_dictionary(typ):
        return True
    if pa.types.is_struct(typ):
        return any(_has_dictionary(typ.field(i).type) for i in range(typ.num_fields))
    if pa.types.is_list(typ):
        return _has_dictionary(typ.value_type)
    return False


def _unify(arr: Any, typ: Any, dicts: list, k: list) -> Any:
    """`arr` with each dictionary child re-indexed into its running dictionary (k: cursor)."""
    pa = require_arrow()
    np = _np()
    if pa.types.is_dictionary(typ):
        d = dicts[k[0]]
        k[0] += 1
        if not isinstance(arr, pa.DictionaryArray):
            arr = arr.dictionary_encode()
        vals = arr.dictionary.to_pylist()
        itype = typ.index_type
        if vals == d.values[:len(vals)]:
            return pa.DictionaryArray.from_arrays(arr.indices.cast(itype), d.array())
        remap = np.array([d.add(v) for v in vals] or [0], dtype=np.int64)
        idx = arr.indices
        raw = np.asarray(idx.fill_null(0).cast(pa.int64()))
        mask = np.asarray(idx.is_null()) if idx.null_count else None
        return pa.DictionaryArray.from_arrays(pa.array(remap[raw], mask=mask).cast(itype), d.array())
    if not _has_dictionary(typ):
        return arr
    mask = arr.is_null() if arr.null_count else None
    if pa.types.is_struct(typ):
        fields = [typ.field(i) for i in range(typ.num_fields)]
        children = [_unify(arr.field(i), f.type, dicts, k) for i, f in enumerate(fields)]
        return pa.StructArray.from_arrays(children, fields=fields, mask=mask)
    values = _unify(arr.values, typ.value_type, dicts, k)
    return pa.ListArray.from_arrays(arr.offsets, values, type=typ, mask=mask)


# -- helpers ---------------------------------------------------------------------------------------
def _column(rows: Any, off: int, size: int, dtype: str) -> Any:
    """One fixed-size field of every row as a 1-D numpy array of `dtype`."""
    np = _np()
    part = rows[:, off:off + size]
    try:   # one strided element per row (numpy >= 1.23 views a contiguous last axis)
        return np.ascontiguousarray(part.view(dtype)[:, 0])
    except ValueError:
        return np.ascontiguousarray(part).view(dtype).reshape(-1)


def _scatter(arrays: list, valid: Any) -> list:
    """Arrays holding the rows where `valid` (numpy bool) is true -> full length, null elsewhere."""
    pa = require_arrow()
    np = _np()
    if valid.all():
        return arrays
    idx = pa.array(np.cumsum(valid) - 1, mask=~valid)
    return [a.take(idx) for a in arrays]


def _dtype(name: str) -> str:
    size, _, signed = INT_TYPES[name]
    return f"<{'i' if signed else 'u'}{size}"


def _from_numpy(values: Any, typ: Any) -> Any:
    pa = require_arrow()
    np = _np()
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(typ, len(values), [None, pa.py_buffer(values)])


def _time_counts(raw: Any, t: Scalar, field: str) -> Any:
    """Integer time counts as int64 in the Arrow unit (coarse resolutions in seconds)."""
    np = _np()
    if t.name == "uint64" and len(raw) and raw.max() > _I64_MAX:
        raise NeedsRecordPath(field)
    v = raw.astype(np.int64)
    mul = COARSE_SECONDS.get(t.resolution)
    if mul:
        lim = _I64_MAX // mul
        if len(v) and (v.max() > lim or v.min() < -lim):
            raise NeedsRecordPath(field)
        v = v * mul
    return v


# -- the columnar path -----------------------------------------------------------------------------
Decoder = Callable[[Any], list]  # rows (n, size) uint8 -> one Arrow array per slot field


def _scalar_decoder(t: Scalar, name: str) -> Decoder:
    pa = require_arrow()
    np = _np()
    fields = slot_fields(name, t)
    typ = fields[0].type
    size = t.size
    if t.name == "decimal128":
        def dec128(rows: Any) -> list:
            lo = _column(rows, 0, 8, "<u8").tolist()
            hi = _column(rows, 8, 8, "<u8").tolist()
            return [pa.array([str(decimal128_decode(a, b)) for a, b in zip(lo, hi)], type=typ)]
        return dec128
    if t.name == "double":
        return lambda rows: [_from_numpy(_column(rows, 0, 8, "<f8"), typ)]
    dt = _dtype(t.name)
    if t.sub is SubType.ENUM:
        values, names = enum_members(t)
        vals = np.array(values, dtype=np.int64)

        def enum(rows: Any) -> list:
            raw = _column(rows, 0, size, dt).astype(np.int64)
            pos = np.searchsorted(vals, raw)
            ok = pos < len(vals)
            known = np.zeros(len(raw), dtype=bool)
            known[ok] = vals[pos[ok]] == raw[ok]
            if known.all():
                return [pa.DictionaryArray.from_arrays(pa.array(pos.astype(np.int32)), pa.array(names))]
            extra, first, inv = np.unique(raw[~known], return_index=True, return_inverse=True)
            order = np.argsort(first, kind="stable")      # in order of appearance, as decoded
            rank = np.empty(len(extra), dtype=np.int32)
            rank[order] = np.arange(len(extra), dtype=np.int32)
            extra = extra[order]
            idx = pos.astype(np.int32)
            idx[~known] = len(names) + rank[inv.reshape(-1)]
            dictionary = pa.array(names + [str(int(x)) for x in extra], type=pa.string())
            return [pa.DictionaryArray.from_arrays(pa.array(idx), dictionary)]
        return enum
    if t.sub is SubType.BITS:
        assert t.bits is not None
        udt = "<u" + dt[2:]
        members = [(b.offset, b.size, f.type) for b, f in zip(t.bits.bits, fields[1:])]

        def bits(rows: Any) -> list:
            raw = _column(rows, 0, size, udt)
            out = [_from_numpy(raw, typ)]
            for off, bsize, btyp in members:
                v = (raw >> np.array(off, dtype=raw.dtype)) & np.array((1 << bsize) - 1, dtype=raw.dtype)
                if bsize == 1:
                    out.append(pa.array(v.astype(bool), type=btyp))
                else:
                    out.append(_from_numpy(v.astype(_dtype(unsigned_of(bsize))), btyp))
            return out
        return bits
    if t.sub is SubType.FIXED:
        signed = INT_TYPES[t.name][2]

        def fixed(rows: Any) -> list:
            raw = _column(rows, 0, size, dt)
            words = np.empty((len(raw), 2), dtype=np.int64)
            if signed:
                words[:, 0] = raw
                words[:, 1] = words[:, 0] >> 63
            else:
                words[:, 0] = raw.astype(np.uint64).view(np.int64)
                words[:, 1] = 0
            return [pa.Array.from_buffers(typ, len(raw), [None, pa.py_buffer(words)])]
        return fixed
    if t.sub in (SubType.TIME_POINT, SubType.DURATION):
        return lambda rows: [_from_numpy(_time_counts(_column(rows, 0, size, dt), t, name), typ)]
    return lambda rows: [_from_numpy(_column(rows, 0, size, dt), typ)]


def _bytes_decoder(t: Bytes, name: str) -> Decoder:
    pa = require_arrow()
    np = _np()
    n_ = t.n

    def raw(rows: Any) -> list:
        data = np.ascontiguousarray(rows[:, :n_])
        offsets = (np.arange(len(data) + 1, dtype=np.int32) * n_)
        return [pa.Array.from_buffers(pa.binary(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(data)])]

    def text(rows: Any) -> list:
        data = rows[:, :n_]
        zero = data == 0
        length = np.where(zero.any(axis=1), zero.argmax(axis=1), n_).astype(np.int32)
        keep = np.arange(n_) < length[:, None]
        flat = np.ascontiguousarray(data[keep])
        offsets = np.zeros(len(data) + 1, dtype=np.int32)
        np.cumsum(length, out=offsets[1:])
        arr = pa.Array.from_buffers(pa.string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(flat)])
        try:
            arr.validate(full=True)
        except pa.ArrowInvalid:  # invalid UTF-8: replaced per value, as the decoder does
            bounds = offsets.tolist()
            blob = flat.tobytes()
            arr = pa.array([blob[a:b].decode("utf-8", errors="replace") for a, b in pairwise(bounds)],
                           type=pa.string())
        return [arr]
    return text if t.string else raw


def _array_decoder(t: Array, name: str) -> Decoder:
    pa = require_arrow()
    np = _np()
    types = [f.type for f in slot_fields(name, t)]
    elem = _decoder(t.elem, name)
    cs, es, cap = t.count_size, t.elem.size, t.capacity
    cdt = _dtype(t.count_type)

    def array(rows: Any) -> list:
        n = len(rows)
        counts = _column(rows, 0, cs, cdt).astype(np.int64)
        if len(counts) and (counts.min() < 0 or counts.max() > cap):
            raise NeedsRecordPath(name)
        slots = rows[:, cs:cs + cap * es].reshape(n, cap, es)
        chosen = slots[np.arange(cap) < counts[:, None]]      # (total, es) in list order
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(counts, out=offsets[1:])
        off_arr = pa.array(offsets)
        return [pa.ListArray.from_arrays(off_arr, child, type=typ)
                for child, typ in zip(elem(chosen), types)]
    return array


def _union_decoder(t: UnionRef, name: str) -> Decoder:
    pa = require_arrow()
    (field,) = slot_fields(name, t)
    fields = [field.type.field(i) for i in range(field.type.num_fields)]
    variants = [(f.type.size, _decoder(f.type, f.name)) for f in t.union.fields]
    names = pa.array([f.name for f in t.union.fields], type=pa.string())

    def union(rows: Any) -> list:
        n = len(rows)
        tag = _column(rows, 0, 1, "<i1")
        if n and (tag.min() < 0 or tag.max() >= len(variants)):
            raise NeedsRecordPath(name)
        children = [pa.DictionaryArray.from_arrays(pa.array(tag), names)]
        for i, (size, dec) in enumerate(variants):
            sel = tag == i
            children.extend(_scatter(dec(rows[sel, 1:1 + size]), sel))
        return [pa.StructArray.from_arrays(children, fields=fields)]
    return union


def _message_decoder(msg: Message, names: list[str] | None = None) -> tuple[list, Decoder]:
    """(Arrow fields, decoder) of a message's fields; `names` selects top-level columns."""
    np = _np()
    parts = []
    out_fields: list = []
    for f in msg.fields:
        if f.pmap:
            continue
        fs = slot_fields(f.name, f.type)
        pick = [i for i, x in enumerate(fs) if names is None or x.name in names]
        if not pick:
            continue
        bit = f.index if msg.pmap is not None and f.index >= 0 else None
        parts.append((f.offset, f.size, _decoder(f.type, f.name), pick, bit))
        out_fields.extend(fs[i] for i in pick)
    pm = msg.pmap

    def message(rows: Any) -> list:
        out: list = []
        for off, size, dec, pick, bit in parts:
            sub = rows[:, off:off + size]
            if bit is not None and pm is not None:
                if bit // 8 < pm.size:   # the presence map is little-endian, any width
                    valid = ((rows[:, pm.offset + bit // 8] >> (bit % 8)) & 1).astype(bool)
                else:
                    valid = np.zeros(len(rows), dtype=bool)
                arrays = _scatter(dec(sub[valid]), valid)     # unset fields are never decoded
            else:
                arrays = dec(sub)
            out.extend(arrays[i] for i in pick)
        return out
    return out_fields, message


def _decoder(t: WireType, name: str) -> Decoder:
    pa = require_arrow()
    if isinstance(t, Scalar):
        return _scalar_decoder(t, name)
    if isinstance(t, Bytes):
        return _bytes_decoder(t, name)
    if isinstance(t, Array):
        return _array_decoder(t, name)
    if isinstance(t, MessageRef):
        (field,) = slot_fields(name, t)
        fields = [field.type.field(i) for i in range(field.type.num_fields)]
        _, dec = _message_decoder(t.message)
        return lambda rows: [pa.StructArray.from_arrays(dec(rows), fields=fields)] if fields else \
            [pa.array([{}] * len(rows), type=field.type)]
    if isinstance(t, UnionRef):
        return _union_decoder(t, name)
    raise SchemeError(f"{name}: {type(t).__name__} has no fixed layout")


# -- the record path -------------------------------------------------------------------------------
Expand = Callable[[Any], tuple]  # one decoded value -> one Python value per slot field


def _scalar_expand(t: Scalar, name: str) -> Expand:
    if t.name == "decimal128":
        return lambda v: (None if v is None else str(v),)
    if t.sub is SubType.ENUM:
        return lambda v: (None if v is None else (v.name if hasattr(v, "name") else str(int(v))),)
    if t.sub is SubType.BITS:
        assert t.bits is not None
        mask = (1 << (INT_TYPES[t.name][0] * 8)) - 1
        members = [(b.offset, (1 << b.size) - 1, b.size == 1) for b in t.bits.bits]
        nulls = (None,) * (1 + len(members))

        def bits(v: Any) -> tuple:
            if v is None:
                return nulls
            raw = int(v) & mask
            return (raw, *(bool((raw >> o) & m) if one else (raw >> o) & m for o, m, one in members))
        return bits
    if t.sub in (SubType.TIME_POINT, SubType.DURATION) and t.name != "double":
        mul = COARSE_SECONDS.get(t.resolution, 1)
        kind = "time_point" if t.sub is SubType.TIME_POINT else "duration"
        arrow = "timestamp" if t.sub is SubType.TIME_POINT else "duration"

        def counts(v: Any) -> tuple:
            if v is None:
                return (None,)
            c = v.value * mul
            if not _I64_MIN <= c <= _I64_MAX:
                raise DecodeError(f"{kind} {v.value} {t.resolution} is outside Arrow's int64 {arrow} range",
                                  path=name)
            return (c,)
        return counts
    if t.sub in (SubType.TIME_POINT, SubType.DURATION):
        return lambda v: (None if v is None else float(v.value),)
    return lambda v: (v,)


def _expand(t: WireType, name: str) -> Expand:
    if isinstance(t, Scalar):
        return _scalar_expand(t, name)
    if isinstance(t, Bytes) or (isinstance(t, Pointer) and t.string):
        return lambda v: (v,)
    if isinstance(t, (Array, Pointer)):
        elem = _expand(t.elem, name)
        width = len(slot_fields(name, t))
        nulls = (None,) * width

        def items(v: Any) -> tuple:
            if v is None:
                return nulls
            cols: tuple = tuple([] for _ in range(width))
            for x in v:
                for c, y in zip(cols, elem(x)):
                    c.append(y)
            return cols
        return items
    if isinstance(t, MessageRef):
        row = _record_expand(t.message)
        return lambda v: (None if v is None else row(v),)
    if isinstance(t, UnionRef):
        variants = {f.name: ([x.name for x in slot_fields(f.name, f.type)], _expand(f.type, f.name))
                    for f in t.union.fields}
        keys = [UNION_TAG] + [k for names, _ in variants.values() for k in names]

        def union(v: Any) -> tuple:
            if v is None:
                return (None,)
            out: dict = dict.fromkeys(keys)
            out[UNION_TAG] = v.type
            names, exp = variants[v.type]
            out.update(zip(names, exp(v.value)))
            return (out,)
        return union
    raise SchemeError(f"no Arrow mapping for {t!r}")


def _record_expand(msg: Message) -> Callable[[Any], dict]:
    """Record -> dict of Arrow field name -> Python value (nested records the same way)."""
    plan = []
    for f in msg.fields:
        if not f.pmap:
            plan.append((f.name, [x.name for x in slot_fields(f.name, f.type)], _expand(f.type, f.name)))

    def row(rec: Any) -> dict:
        out: dict = {}
        for name, keys, exp in plan:
            try:
                out.update(zip(keys, exp(rec[name])))
            except DecodeError as e:
                raise e.within(name) if e.path != name else e
        return out
    return row


# -- the public object -----------------------------------------------------------------------------
class MessageColumns:
    """Arrow columns of one message over a stream of batches (see module docstring).

    ``columns``: names among :attr:`schema`'s fields to produce, in that order (None: all).
    """

    def __init__(self, msg: Message, columns: Sequence[str] | None = None):
        require_arrow()
        self.message = msg
        every = message_fields(msg)
        known = [f.name for f in every]
        if columns is not None:
            bad = [c for c in columns if c not in known]
            if bad:
                raise SchemeError(f"message {msg.name} has no column {', '.join(map(repr, bad))} "
                                  f"(columns: {', '.join(known)})")
        names = list(columns) if columns is not None else known
        self.names = names
        by_name = {f.name: f for f in every}
        self.fields = [by_name[n] for n in names]
        self.fixed = fixed_layout(msg)
        self.size = msg.size
        self._decode: Decoder | None = None
        self._order: list[int] = []
        if self.fixed:
            fields, self._decode = _message_decoder(msg, names)
            produced = [f.name for f in fields]
            self._order = [produced.index(n) for n in names]
        self._row = _record_expand(msg)
        self._decode_body = msg.decode
        self._dicts: list[list] = []
        for f in self.fields:
            top = next(x for x in msg.fields if not x.pmap and f.name in
                       [s.name for s in slot_fields(x.name, x.type)])
            seeds: list = []
            if _has_dictionary(f.type):   # never a bits column: the only slot giving several
                _seeds(top.type, seeds)
            self._dicts.append(seeds)

    def _finish(self, arrays: list) -> list:
        out = []
        for arr, f, dicts in zip(arrays, self.fields, self._dicts):
            if dicts:
                arr = _unify(arr, f.type, dicts, [0])
            out.append(arr)
        return out

    def from_rows(self, rows: Any) -> list:
        """Columns from an ``(n, size)`` uint8 matrix of fixed-layout bodies; NeedsRecordPath."""
        if self._decode is None:
            raise NeedsRecordPath(f"{self.message.name} has pointers")
        arrays = self._decode(rows)
        return self._finish([arrays[i] for i in self._order])

    def from_bodies(self, bodies: Sequence[Any]) -> list:
        """Columns from message bodies (bytes-like), each decoded as a record; RowError."""
        pa = require_arrow()
        decode, row, names = self._decode_body, self._row, self.names
        cols: list[list] = [[] for _ in names]
        for i, body in enumerate(bodies):
            try:
                d = row(decode(body))
            except (DecodeError, SchemeError, ValueError, TypeError) as e:
                raise RowError(i, str(e)) from None
            for c, n in zip(cols, names):
                c.append(d[n])
        out = []
        for c, f in zip(cols, self.fields):
            try:
                out.append(pa.array(c, type=f.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
                raise SchemeError(f"{self.message.name}.{f.name}: cannot hold the values in "
                                  f"{f.type}: {e}") from None
        return self._finish(out)
