"""TLL messages as Arrow columns: the type mapping behind ``message.arrow_schema()``.

Needs the optional extra (``pip install 'streamproto[arrow]'``: pyarrow and numpy); without it
every entry point raises :class:`ArrowUnavailable`, which says so. The rest of tllschema never
imports pyarrow.

One message field gives one column, except bits (see below). Mapping, exact unless marked
*fallback*:

=============================  ===============================================================
TLL type                       Arrow type
=============================  ===============================================================
int8..int64, uint8..uint64     int8..int64, uint8..uint64
double                         float64 (bit for bit, NaN payloads included)
decimal128                     *fallback* ``string``: its exponent varies per value and NaN,
                               sNaN and +-Infinity exist, so the exact decimal text
                               (``'1.50E+3'``, ``'NaN'``), as ``read --raw`` prints it
fixedN (integer)               ``decimal128(P, N)``, P = digits of the integer type (3, 5,
                               10, 19, 20 for uint64): exact
time_point, integer            ``timestamp[ns|us|ms|s, tz=UTC]`` by resolution; m/h/d are
                               converted to ``timestamp[s]`` (exact); a uint64 count beyond
                               int64 is an error naming the field
time_point, double             *fallback* ``float64``: the raw count in its resolution, bit
                               for bit, with ``tll.resolution`` in the field metadata
duration, integer / double     ``duration[unit]`` like time points / *fallback* ``float64``
                               raw count with ``tll.resolution``
enum                           ``dictionary<int32, string>`` of member names; a value that
                               is not a member: *fallback* its decimal text (``'7'``)
bits                           *fallback* the raw value as the unsigned integer of the same
                               width in a column named after the field, plus one column per
                               member named ``FIELD.MEMBER``: ``bool`` for 1-bit members, the
                               smallest unsigned integer for wider ones
byteN with options.type string ``string``: text up to the first NUL, invalid UTF-8 replaced
                               by U+FFFD (as the decoder does)
byteN                          ``binary``: all N bytes
string (pointer)               ``string``; an unset string (all-zero pointer) is null, a set
                               empty one ``''`` (``read --raw`` prints both as ``''``)
T[N], *T (lists)               ``list<T>``; for a list of bits the member columns are lists
                               too (``FIELD.MEMBER: list<bool>``)
sub-message                    ``struct`` of its fields (same rules inside)
union                          ``struct<tag: dictionary<int8, string>, VARIANT...>``: the tag
                               is the variant name, each variant a nullable child that holds a
                               value only where the tag names it
optional field (pmap)          the same type; null when its presence bit is clear
=============================  ===============================================================

Fields carry metadata ``tll.type`` (the TLL logical type: ``time_point``, ``duration``,
``fixed2``, ``enum``, ``bits``, ``decimal128``, ``union``) and ``tll.resolution`` where it
applies; the schema carries ``tll.message`` and ``tll.msgid``.
"""
from __future__ import annotations

from typing import Any

from tllschema.errors import SchemeError
from tllschema.model import (
    INT_TYPES, Array, Bytes, Message, MessageRef, Pointer, Scalar, SubType, UnionRef, WireType,
)
from tllschema.values import enum_class

INSTALL_HINT = "pip install 'streamproto[arrow]'"

#: Arrow timestamp / duration units; coarser TLL resolutions are converted to seconds.
ARROW_UNITS = ("ns", "us", "ms", "s")
#: Seconds per coarse TLL resolution (converted to Arrow's ``s`` unit).
COARSE_SECONDS = {"m": 60, "h": 3600, "d": 86400}
#: Decimal digits of the largest value of each integer type (the precision of fixedN).
INT_DIGITS = {"int8": 3, "uint8": 3, "int16": 5, "uint16": 5, "int32": 10, "uint32": 10,
              "int64": 19, "uint64": 20}
#: Key of the union tag child.
UNION_TAG = "tag"


class ArrowUnavailable(SchemeError, ImportError):
    """pyarrow or numpy is not installed (the message says how to install the extra)."""


def require_arrow() -> Any:
    """Import and return pyarrow (numpy too); ArrowUnavailable naming the extra when missing."""
    try:
        import numpy  # noqa: F401
        import pyarrow
    except ImportError as e:
        missing = getattr(e, "name", None) or "pyarrow"
        raise ArrowUnavailable(f"{missing} is not installed; Arrow, Parquet and CSV support is an "
                               f"optional extra: {INSTALL_HINT}") from None
    return pyarrow


def unsigned_of(bits: int) -> str:
    """The smallest unsigned integer type holding `bits` bits."""
    for name, width in (("uint8", 8), ("uint16", 16), ("uint32", 32)):
        if bits <= width:
            return name
    return "uint64"


def enum_members(t: Scalar) -> tuple[list[int], list[str]]:
    """(values, names) of an enum scalar's canonical members, sorted by value (as decoded)."""
    assert t.enum is not None
    klass: Any = t.enum.klass or enum_class(t.enum)
    pairs = sorted((int(m.value), m.name) for m in klass)
    return [v for v, _ in pairs], [n for _, n in pairs]


def _meta(**kv: str) -> dict[bytes, bytes]:
    return {f"tll.{k}".encode(): v.encode() for k, v in kv.items()}


def scalar_type(t: Scalar) -> tuple[Any, dict[bytes, bytes]]:
    """Arrow type and field metadata of a scalar (for bits: the raw column only)."""
    pa = require_arrow()
    if t.name == "decimal128":
        return pa.string(), _meta(type="decimal128")
    if t.name == "double":
        if t.sub in (SubType.TIME_POINT, SubType.DURATION):
            return pa.float64(), _meta(type=t.sub.value, resolution=t.resolution)
        return pa.float64(), {}
    if t.sub is SubType.ENUM:
        assert t.enum is not None
        return pa.dictionary(pa.int32(), pa.string()), _meta(type="enum", enum=t.enum.name, base=t.name)
    if t.sub is SubType.BITS:
        assert t.bits is not None
        return getattr(pa, unsigned_of(INT_TYPES[t.name][0] * 8))(), _meta(type="bits", bits=t.bits.name, base=t.name)
    if t.sub is SubType.FIXED:
        prec = min(38, max(INT_DIGITS[t.name], t.precision))
        return pa.decimal128(prec, t.precision), _meta(type=f"fixed{t.precision}", base=t.name)
    if t.sub in (SubType.TIME_POINT, SubType.DURATION):
        unit = t.resolution if t.resolution in ARROW_UNITS else "s"
        meta = _meta(type=t.sub.value, resolution=t.resolution, base=t.name)
        if t.sub is SubType.TIME_POINT:
            return pa.timestamp(unit, tz="UTC"), meta
        return pa.duration(unit), meta
    return getattr(pa, t.name)(), {}


def slot_fields(name: str, t: WireType) -> list[Any]:
    """Arrow fields of one slot (a message field, list element, variant) called `name`.

    One field, except bits: the raw column then one per member (``NAME.MEMBER``). List
    wrappers wrap every one of them.
    """
    pa = require_arrow()
    if isinstance(t, Scalar):
        typ, meta = scalar_type(t)
        out = [pa.field(name, typ, metadata=meta or None)]
        if t.sub is SubType.BITS:
            assert t.bits is not None
            for b in t.bits.bits:
                btyp = pa.bool_() if b.size == 1 else getattr(pa, unsigned_of(b.size))()
                out.append(pa.field(f"{name}.{b.name}", btyp,
                                    metadata=_meta(type="bit", offset=str(b.offset), size=str(b.size))))
        return out
    if isinstance(t, Bytes):
        return [pa.field(name, pa.string() if t.string else pa.binary())]
    if isinstance(t, Pointer) and t.string:
        return [pa.field(name, pa.string())]
    if isinstance(t, (Array, Pointer)):
        return [pa.field(f.name, pa.list_(f.with_name("item")), metadata=f.metadata)
                for f in slot_fields(name, t.elem)]
    if isinstance(t, MessageRef):
        return [pa.field(name, pa.struct(message_fields(t.message)), metadata=_meta(message=t.message.name))]
    if isinstance(t, UnionRef):
        u = t.union
        children = [pa.field(UNION_TAG, pa.dictionary(pa.int8(), pa.string()))]
        for f in u.fields:
            children.extend(slot_fields(f.name, f.type))
        return [pa.field(name, pa.struct(children), metadata=_meta(type="union", union=u.name))]
    raise SchemeError(f"no Arrow mapping for {t!r}")


def message_fields(msg: Message) -> list[Any]:
    """Arrow fields of a message's fields in order (the presence map is not a column)."""
    out: list[Any] = []
    for f in msg.fields:
        if not f.pmap:
            out.extend(slot_fields(f.name, f.type))
    return out


def arrow_schema(msg: Message) -> Any:
    """The ``pyarrow.Schema`` of a message's fields (see the module docstring for the mapping).

    ``streamproto.read_table`` prepends a ``seq`` column (int64) to it.
    """
    pa = require_arrow()
    return pa.schema(message_fields(msg), metadata={b"tll.message": msg.name.encode(),
                                                    b"tll.msgid": str(msg.msgid).encode()})


def fixed_layout(msg: Message) -> bool:
    """True when every field of `msg` sits in its fixed part (no pointer anywhere)."""
    return all(_fixed(f.type) for f in msg.fields)


def _fixed(t: WireType) -> bool:
    if isinstance(t, Pointer):
        return False
    if isinstance(t, Array):
        return _fixed(t.elem)
    if isinstance(t, MessageRef):
        return fixed_layout(t.message)
    if isinstance(t, UnionRef):
        return all(_fixed(f.type) for f in t.union.fields)
    return True
