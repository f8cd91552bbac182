"""Helpers the generated codecs call: the Record base, pointers, strings, logical conversions.

Generated modules (see `compile.py`) keep the hot path to precompiled `struct.Struct` calls and
reach for these helpers only for variable-size parts and logical values.
"""
from __future__ import annotations

import datetime as _dt
import math
import struct
from decimal import Decimal
from fractions import Fraction
from typing import Any, Callable

from tllschema.errors import DecodeError, EncodeError
from tllschema.values import (
    Bits, Duration, TimePoint, UnionValue, decimal128_decode, decimal128_encode, decimal_to_fixed,
    fixed_to_decimal, parse_iso_ns, convert_ns, _NS,
)

_U32 = struct.Struct("<I")
_U16x2 = struct.Struct("<HH")
_PTR_DEFAULT = struct.Struct("<IHBB")  # offset, size low 16, size high 8, entity
_PTR_LONG = struct.Struct("<IHH")
_Q2 = struct.Struct("<QQ")
_Q = struct.Struct("<Q")


class Record:
    """Base of generated message classes: attribute and dict access, equality, readable repr.

    Subclasses define NAME, MSGID, SIZE, FIELDS (public names) and _ATTRS (attribute names used
    to read each field; differs from the name only for names that are not Python identifiers).
    """

    __slots__ = ()
    NAME = ""
    MSGID = 0
    SIZE = 0
    FIELDS: tuple = ()
    _ATTRS: tuple = ()
    _RAW: tuple = ()

    def __getitem__(self, key: str) -> Any:
        try:
            i = self.FIELDS.index(key)
        except ValueError:
            raise KeyError(f"{self.NAME} has no field {key!r}") from None
        return getattr(self, self._ATTRS[i])

    def __setitem__(self, key: str, value: Any) -> None:
        try:
            i = self.FIELDS.index(key)
        except ValueError:
            raise KeyError(f"{self.NAME} has no field {key!r}") from None
        setattr(self, self._ATTRS[i], value)

    def __contains__(self, key: object) -> bool:
        return key in self.FIELDS

    def __iter__(self):
        return iter(self.FIELDS)

    def keys(self) -> tuple:
        return self.FIELDS

    def items(self) -> list:
        return [(n, getattr(self, a)) for n, a in zip(self.FIELDS, self._ATTRS)]

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self.FIELDS else default

    def as_dict(self) -> dict:
        """Field name -> logical value (nested records stay records)."""
        return dict(self.items())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Record):
            if other.NAME != self.NAME or other.FIELDS != self.FIELDS:
                return False
            return all(_eq(getattr(self, a), getattr(other, a)) for a in self._ATTRS)
        if isinstance(other, dict):
            return self == type(self)(**other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{self.NAME}(" + ", ".join(f"{n}={v!r}" for n, v in self.items()) + ")"


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # NaN payloads compare equal as values here
    if isinstance(a, Decimal) and isinstance(b, Decimal) and a.is_nan() and b.is_nan():
        return a.is_snan() == b.is_snan()
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a == b and a.as_tuple().exponent == b.as_tuple().exponent or (a == b and a.is_infinite())
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b))
    return a == b


def as_record(cls: type, value: Any, path: str) -> Record:
    """Accept a record of `cls`, a dict, None (all unset) or a record of the same message name."""
    if type(value) is cls:
        return value
    if value is None:
        return cls()
    if isinstance(value, dict):
        return cls(**value)
    if isinstance(value, Record) and value.NAME == cls.NAME:
        return cls(**value.as_dict())
    raise EncodeError(f"expected {cls.NAME} as a mapping or record, got {type(value).__name__}", path=path)


# -- decoding --------------------------------------------------------------------------------------
def need(buf: Any, pos: int, size: int, end: int, what: str) -> None:
    if pos < 0 or pos + size > end:
        raise DecodeError(f"truncated: {what} needs {size} bytes at {pos}, data ends at {end}", offset=pos)


def read_ptr(buf: Any, pos: int, end: int, version: int, esize: int) -> tuple[int, int, int]:
    """Read an offset pointer at `pos` -> (first element position, count, stride); bounds checked.

    version: 0 default, 1 legacy-short, 2 legacy-long.
    """
    if version == 1:
        need(buf, pos, 4, end, "pointer")
        off, count = _U16x2.unpack_from(buf, pos)
        stride = esize
    elif version == 2:
        need(buf, pos, 8, end, "pointer")
        off, count, stride = _PTR_LONG.unpack_from(buf, pos)
    else:
        need(buf, pos, 8, end, "pointer")
        off, lo, hi, stride = _PTR_DEFAULT.unpack_from(buf, pos)
        count = lo | (hi << 16)
    if off == 0 and count == 0:
        return pos, 0, stride
    start = pos + off
    if version == 0 and stride == 0xFF:
        if start + 4 > end:
            raise DecodeError(f"pointer offset {off} puts the element size header outside the data ({end} bytes)", offset=pos)
        stride = _U32.unpack_from(buf, start)[0]
        start += 4
    check_list(pos, off, start, count, stride, esize, end)
    return start, count, stride


#: Elements of size 0 take no bytes, so their count cannot be checked against the data; allow this
#: many beyond the bytes left, so a forged count cannot make a decoder build millions of records.
ZERO_SIZE_SLACK = 4096


def check_list(pos: int, off: int, start: int, count: int, stride: int, esize: int, end: int) -> None:
    """Bounds of a list located by a pointer at `pos`; DecodeError when it leaves the data."""
    if count:
        if stride < esize:
            raise DecodeError(f"list element size {stride} is smaller than the scheme's {esize}", offset=pos)
        if stride == 0 and count > end - start + ZERO_SIZE_SLACK:
            raise DecodeError(f"list of {count} zero-size elements is longer than allowed for {end - start} bytes of data", offset=pos)
        if start + (count - 1) * stride + esize > end:
            raise DecodeError(f"list of {count} x {stride} bytes at offset {off} runs past the end of data ({end} bytes)", offset=pos)
    elif start > end:
        raise DecodeError(f"pointer offset {off} points outside the data ({end} bytes)", offset=pos)


def read_list(buf: Any, pos: int, end: int, version: int, esize: int, dec: Callable) -> list:
    start, count, stride = read_ptr(buf, pos, end, version, esize)
    out = []
    for i in range(count):
        try:
            out.append(dec(buf, start + i * stride, end))
        except DecodeError as e:
            raise e.within(f"[{i}]")
    return out


def read_scalar_list(buf: Any, pos: int, end: int, version: int, esize: int, code: str) -> list:
    start, count, stride = read_ptr(buf, pos, end, version, esize)
    if not count:
        return []
    if stride == esize:
        return list(struct.unpack_from(f"<{count}{code}", buf, start))
    s = struct.Struct("<" + code)
    return [s.unpack_from(buf, start + i * stride)[0] for i in range(count)]


def read_string(buf: Any, pos: int, end: int, version: int) -> str | None:
    """Decode a `string` pointer; an all-zero pointer is an unset string (None)."""
    start, count, _ = read_ptr(buf, pos, end, version, 1)
    if count == 0:
        if version == 1:
            return "" if bytes(buf[pos:pos + 4]) != b"\0\0\0\0" else None
        return "" if bytes(buf[pos:pos + 8]) != b"\0" * 8 else None
    try:
        return bytes(buf[start:start + count - 1]).decode("utf-8")
    except UnicodeDecodeError as e:
        raise DecodeError(f"string is not valid UTF-8 ({e.reason})", offset=start + e.start) from None


def read_array_count(buf: Any, pos: int, code: str, capacity: int) -> int:
    n = struct.unpack_from("<" + code, buf, pos)[0]
    if not 0 <= n <= capacity:
        raise DecodeError(f"array count {n} is outside 0..{capacity}", offset=pos)
    return n


def union_tag(buf: Any, pos: int, count: int) -> int:
    tag = buf[pos]
    if tag >= count:  # tag is int8 on the wire; >= 128 is negative
        tag = tag - 256 if tag >= 128 else tag
        raise DecodeError(f"union tag {tag} is not one of 0..{count - 1}", offset=pos)
    return tag


def bytestring(raw: bytes) -> str:
    i = raw.find(b"\0")
    return (raw if i < 0 else raw[:i]).decode("utf-8", errors="replace")


def dec128(raw: bytes) -> Decimal:
    lo, hi = _Q2.unpack(raw)
    return decimal128_decode(lo, hi)


def enum_value(klass: type, raw: int) -> Any:
    """IntEnum member for `raw`, or the plain int when the value is not in the enum."""
    try:
        return klass(raw)
    except ValueError:
        return raw


# -- encoding --------------------------------------------------------------------------------------
def write_ptr(buf: bytearray, pos: int, version: int, off: int, count: int, entity: int) -> None:
    if version == 1:
        if off > 0xFFFF or count > 0xFFFF:
            raise EncodeError(f"list of {count} at offset {off} does not fit a legacy-short pointer")
        _U16x2.pack_into(buf, pos, off, count)
    elif version == 2:
        if count > 0xFFFF or entity > 0xFFFF:
            raise EncodeError(f"list of {count} does not fit a legacy-long pointer")
        _PTR_LONG.pack_into(buf, pos, off, count, entity)
    else:
        if count >= 1 << 24:
            raise EncodeError(f"list of {count} elements is longer than 2^24-1")
        if off >= 1 << 32:
            raise EncodeError("message too large for a 32-bit pointer offset")
        _PTR_DEFAULT.pack_into(buf, pos, off, count & 0xFFFF, count >> 16, entity)


def alloc_list(buf: bytearray, pos: int, version: int, esize: int, count: int) -> int:
    """Point the pointer at `pos` to a new zeroed block of `count` elements at the end; -> its start."""
    end = len(buf)
    entity = esize
    if version == 0 and esize >= 255:
        entity = 0xFF
        buf += _U32.pack(esize)
    write_ptr(buf, pos, version, end - pos, count, entity)
    start = len(buf)
    buf += bytes(count * esize)
    return start


def write_list(buf: bytearray, pos: int, values: Any, version: int, esize: int, enc: Callable, path: str = "") -> None:
    if values is None:
        values = ()
    elif not isinstance(values, (list, tuple)):
        raise EncodeError(f"expected a list, got {type(values).__name__}")
    start = alloc_list(buf, pos, version, esize, len(values))
    for i, v in enumerate(values):
        try:
            enc(buf, start + i * esize, v)
        except EncodeError as e:
            raise e.within(f"[{i}]")


def write_scalar_list(buf: bytearray, pos: int, values: Any, version: int, esize: int, code: str, conv: Callable | None) -> None:
    if values is None:
        values = ()
    elif not isinstance(values, (list, tuple)):
        raise EncodeError(f"expected a list, got {type(values).__name__}")
    start = alloc_list(buf, pos, version, esize, len(values))
    if conv is not None:
        values = [conv(v) for v in values]
    try:
        struct.pack_into(f"<{len(values)}{code}", buf, start, *values)
    except struct.error:
        s = struct.Struct("<" + code)
        for i, v in enumerate(values):
            try:
                s.pack_into(buf, start + i * esize, v)
            except struct.error as e:
                raise EncodeError(out_of_range(v, code, e)).within(f"[{i}]") from None


def write_string(buf: bytearray, pos: int, value: Any, version: int) -> None:
    if value is None:
        return  # unset: all-zero pointer
    if isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        raise EncodeError(f"expected a string, got {type(value).__name__}")
    end = len(buf)
    write_ptr(buf, pos, version, end - pos, len(data) + 1, 1)
    buf += data
    buf.append(0)


def write_array_count(buf: bytearray, pos: int, values: Any, code: str, capacity: int) -> list:
    if values is None:
        values = []
    if not isinstance(values, (list, tuple)):
        raise EncodeError(f"expected a list, got {type(values).__name__}")
    if len(values) > capacity:
        raise EncodeError(f"{len(values)} elements do not fit an array of {capacity}")
    struct.pack_into("<" + code, buf, pos, len(values))
    return values


def union_pick(value: Any, names: tuple, path: str = "") -> tuple[int, Any]:
    """Union input (UnionValue, (name, value), {name: value}) -> (tag, value)."""
    if value is None:
        return -1, None
    if isinstance(value, dict):
        if len(value) != 1:
            raise EncodeError(f"a union value is a mapping with exactly one member, got {len(value)}")
        (name, v), = value.items()
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        name, v = value
    else:
        raise EncodeError(f"expected a union value ({{member: value}} or (member, value)), got {type(value).__name__}")
    try:
        return names.index(name), v
    except ValueError:
        raise EncodeError(f"unknown union member {name!r} (expected one of {', '.join(names)})") from None


def out_of_range(value: Any, code: str, err: Exception) -> str:
    names = {"b": "int8", "h": "int16", "i": "int32", "q": "int64", "B": "uint8", "H": "uint16",
             "I": "uint32", "Q": "uint64", "d": "double"}
    if isinstance(value, (int, float)) and not isinstance(value, bool) or code == "d":
        if code == "d" and not isinstance(value, (int, float)):
            return f"expected a number, got {type(value).__name__}"
        return f"{value!r} does not fit {names.get(code, code)}"
    return f"expected an integer, got {type(value).__name__} {value!r}"


def check_int(value: Any, code: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if hasattr(value, "__index__") and not isinstance(value, bool):
            value = value.__index__()
        else:
            raise EncodeError(f"expected an integer, got {type(value).__name__} {value!r}")
    if not lo <= value <= hi:
        raise EncodeError(out_of_range(value, code, ValueError()))
    return value


# -- logical -> raw conversions (called by setters and encoders) -----------------------------------
def raw_enum(klass: type, value: Any) -> int:
    if isinstance(value, str):
        try:
            return int(klass[value])
        except KeyError:
            raise EncodeError(f"unknown {klass.__name__} name {value!r} (expected one of {', '.join(m.name for m in klass)})") from None
    if isinstance(value, bool):
        raise EncodeError(f"expected a {klass.__name__} name or integer, got bool")
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "name") and hasattr(value, "value"):
        return raw_enum(klass, value.name)
    raise EncodeError(f"expected a {klass.__name__} name or integer, got {type(value).__name__}")


def raw_bits(klass: type, value: Any) -> int:
    try:
        return klass._coerce(value)
    except (ValueError, TypeError) as e:
        raise EncodeError(str(e)) from None


def raw_fixed(value: Any, precision: int, code: str, lo: int, hi: int) -> int:
    try:
        raw = decimal_to_fixed(value, precision)
    except (ValueError, TypeError, ArithmeticError) as e:
        raise EncodeError(f"{e} (fixed{precision})") from None
    if not lo <= raw <= hi:
        raise EncodeError(f"{value} does not fit {out_of_range(0, code, ValueError()).split()[-1]} (fixed{precision})")
    return raw


def raw_dec128(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)) and len(value) == 16:
        return bytes(value)
    try:
        lo, hi = decimal128_encode(value)
    except (ValueError, TypeError, ArithmeticError) as e:
        raise EncodeError(str(e)) from None
    return _Q2.pack(lo, hi)


def raw_bytes(value: Any, n: int, string: bool) -> bytes:
    if isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    elif value is None:
        return bytes(n)
    else:
        raise EncodeError(f"expected {'a string' if string else 'bytes'}, got {type(value).__name__}")
    if len(data) > n:
        raise EncodeError(f"{len(data)} bytes do not fit byte{n}")
    return data


def raw_time(value: Any, resolution: str, is_float: bool, duration: bool) -> int | float:
    """Time point / duration input -> raw count of `resolution` (exact)."""
    try:
        if isinstance(value, bool):
            raise TypeError("expected a time value, got bool")
        if isinstance(value, int):
            return float(value) if is_float else value
        if isinstance(value, float):
            if not is_float:
                if value != int(value):
                    raise ValueError(f"{value!r} is not a whole count of {resolution}")
                return int(value)
            return value
        if isinstance(value, Decimal):
            return float(value) if is_float else int(value)
        kind = Duration if duration else TimePoint
        if isinstance(value, (TimePoint, Duration)):
            if isinstance(value, TimePoint) == duration:
                raise TypeError(f"expected a {'duration' if duration else 'time point'}, got {type(value).__name__}")
            if value.resolution == resolution:
                return float(value.value) if is_float else _whole(value.value, resolution)
            if isinstance(value.value, float) and not math.isfinite(value.value):
                if is_float:
                    return value.value
                raise ValueError(f"{value!r} is not a finite count")
            exact = Fraction(value.value) * _NS[value.resolution] / _NS[resolution]
            if is_float:
                return float(exact)
            if exact.denominator != 1:
                raise ValueError(f"{value!r} is not a whole number of {resolution}")
            return int(exact)
        if isinstance(value, str):
            ns = (Duration.parse(value, "ns") if duration else TimePoint(parse_iso_ns(value), "ns")).nanoseconds
        elif not duration and isinstance(value, _dt.datetime):
            ns = TimePoint.from_datetime(value, "ns").value
        elif duration and isinstance(value, _dt.timedelta):
            ns = ((value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds) * 1000
        else:
            raise TypeError(f"expected a {kind.__name__} value, got {type(value).__name__}")
        if is_float:
            return ns / _NS[resolution]
        return convert_ns(ns, resolution, value)
    except (ValueError, TypeError, OverflowError) as e:
        raise EncodeError(str(e)) from None


def _whole(value: int | float, resolution: str) -> int:
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number of {resolution}")
        return int(value)
    return value


def logical_fixed(raw: int, precision: int) -> Decimal:
    return fixed_to_decimal(raw, precision)


__all__ = [
    "Record", "UnionValue", "TimePoint", "Duration", "Bits", "as_record", "DecodeError", "EncodeError",
]


def check_double(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise EncodeError(f"expected a number, got {type(value).__name__} {value!r}")
    return float(value)


def init_fields(rec: Record, value: Any, fields: dict) -> None:
    """Set fields of a fresh record from a mapping/record and keywords; None leaves a field unset."""
    if value is not None:
        if isinstance(value, Record):
            value = value.as_dict()
        elif not isinstance(value, dict):
            raise EncodeError(f"expected a mapping or record, got {type(value).__name__}", message=rec.NAME)
        fields = {**value, **fields}
    names, attrs = rec.FIELDS, rec._ATTRS
    for key, v in fields.items():
        if v is None:
            continue
        try:
            attr = attrs[names.index(key)]
        except ValueError:
            raise EncodeError(f"no field {key!r} (fields: {', '.join(names)})", message=rec.NAME) from None
        try:
            setattr(rec, attr, v)
        except EncodeError as e:
            if not e.path:
                e.within(key, rec.NAME)
            raise


def pack_failure(rec: Record) -> None:
    """Find the plain scalar field that struct refused and raise an EncodeError naming it."""
    for name, slot, check in type(rec)._CHECKS:
        try:
            check(getattr(rec, slot))
        except EncodeError as e:
            raise e.within(name, rec.NAME) from None
    raise EncodeError("cannot pack message", message=rec.NAME)


def truncated(name: str, size: int, pos: int, end: int) -> None:
    raise DecodeError(f"truncated: {end - pos} bytes, the fixed part needs {size}", message=name, offset=pos)


def enum_class(name: str, values: dict) -> type:
    import enum as _enum

    return _enum.IntEnum(name or "Enum", sorted(values.items(), key=lambda kv: (kv[1], kv[0])))


def bits_class(name: str, fields: tuple) -> type:
    from tllschema.model import BitField, BitsDef
    from tllschema.values import bits_class as _make

    return _make(BitsDef(name, "uint64", [BitField(*f) for f in fields]))
