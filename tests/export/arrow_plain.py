"""Test oracle glue: Arrow tables back into the `tllschema.plain(rec, raw=True)` form.

Walks the scheme model beside the Arrow arrays, independently of the export code, so a table
can be compared with `streamproto read --format jsonl --raw` and with the decoder.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa

from tllschema.arrow import ARROW_UNITS, COARSE_SECONDS
from tllschema.model import Array, Bytes, Message, MessageRef, Pointer, Scalar, SubType, UnionRef


def _split(arr: Any, values: list) -> list:
    offs = arr.offsets.to_pylist()
    valid = arr.is_valid().to_pylist()
    return [values[a:b] if ok else None for a, b, ok in zip(offs, offs[1:], valid)]


def _bits(t: Scalar, raw: int) -> dict:
    out = {}
    for b in t.bits.bits:
        x = (raw >> b.offset) & ((1 << b.size) - 1)
        out[b.name] = bool(x) if b.size == 1 else x
    return out


def column(t: Any, arr: Any) -> list:
    """Plain values of one slot's main column (None for nulls)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = pa.concat_arrays(arr.chunks) if arr.num_chunks else pa.array([], type=arr.type)
    if isinstance(t, Scalar):
        if t.sub in (SubType.TIME_POINT, SubType.DURATION) and t.name != "double":
            mul = COARSE_SECONDS.get(t.resolution, 1)
            unit = t.resolution if t.resolution in ARROW_UNITS else "s"
            if arr.type.unit != unit:  # Parquet has no timestamp[s]: it keeps them as [ms]
                arr = arr.cast(pa.timestamp(unit, arr.type.tz) if pa.types.is_timestamp(arr.type)
                               else pa.duration(unit))
            vals = arr.cast(pa.int64()).to_pylist()
            out = []
            for v in vals:
                if v is not None:
                    assert v % mul == 0
                    v //= mul
                out.append(v)
            return out
        vals = arr.to_pylist()
        if t.sub is SubType.ENUM:
            names = set(t.enum.values)
            return [v if v is None or v in names else int(v) for v in vals]
        if t.sub is SubType.BITS:
            return [None if v is None else _bits(t, v) for v in vals]
        if t.sub is SubType.FIXED:
            return [None if v is None else str(v) for v in vals]
        return vals
    if isinstance(t, Bytes) or (isinstance(t, Pointer) and t.string):
        return arr.to_pylist()
    if isinstance(t, (Array, Pointer)):
        return _split(arr, column(t.elem, arr.values))
    if isinstance(t, MessageRef):
        rows = message(t.message, {n: arr.field(n) for n in arr.type.names})
        valid = arr.is_valid().to_pylist()
        return [r if ok else None for r, ok in zip(rows, valid)]
    if isinstance(t, UnionRef):
        tags = arr.field("tag").to_pylist()
        kids = {f.name: column(f.type, arr.field(f.name)) for f in t.union.fields}
        return [None if tag is None else {tag: kids[tag][i]} for i, tag in enumerate(tags)]
    raise TypeError(t)


def _plain_none(v: Any) -> Any:
    return "" if v is None else v


def message(msg: Message, cols: dict) -> list[dict]:
    """Rows of a message from its columns (name -> Arrow array), in plain raw form."""
    per = {}
    for f in msg.fields:
        if f.pmap:
            continue
        per[f.name] = column(f.type, cols[f.name])
    n = len(next(iter(per.values()))) if per else len(next(iter(cols.values()), []))
    return [{k: _deep(v[i]) for k, v in per.items()} for i in range(n)]


def _deep(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, dict):
        return {k: _deep(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_deep(x) for x in v]
    if isinstance(v, Decimal):
        return str(v)
    return v


def table_rows(msg: Message, table: Any) -> list[dict]:
    """[{seq, data}] of a read_table result."""
    data = message(msg, {n: table.column(n) for n in table.column_names})
    return [{"seq": s, "data": d} for s, d in zip(table.column("seq").to_pylist(), data)]
