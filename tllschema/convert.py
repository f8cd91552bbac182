"""Python input -> wire values: the one place a field's input is checked and converted.

Both codecs call these: the generated fast path (setters, encoders) and the construct reference
codec (its adapters). Each function takes a user value and returns the wire value for its kind
of field, or raises `EncodeError` saying what is wrong with the value (the caller adds the field
path). Decoding (wire -> logical) helpers for generated code live here too.

The rules follow TLL's Python binding where it has one:

* integers and doubles take any Python int (bools count as 0 and 1, as in TLL) or anything
  `struct` would take (`__index__`, `__float__`), but no text;
* fixed point rounds places beyond its precision half-even (`to_integral_value()`), a float
  counting as its shortest repr;
* time points and durations take raw counts (int, float, Decimal), ISO / `10ms` text,
  datetime / timedelta or a TimePoint / Duration of any resolution; a value finer than the
  field's resolution is truncated toward zero;
* decimal128 refuses what it cannot hold exactly (more than 34 digits), as the binding does.
"""
from __future__ import annotations

import datetime as _dt
import enum
import math
import struct
from decimal import Decimal
from fractions import Fraction
from typing import Any

from tllschema.errors import EncodeError
from tllschema.values import (
    _NS, Bits, Duration, TimePoint, convert_ns, decimal128_encode, decimal_to_fixed, fixed_to_decimal,
    make_int_enum, parse_duration_ns, parse_iso_ns,
)

_Q2 = struct.Struct("<QQ")
_TYPE_NAMES = {"b": "int8", "h": "int16", "i": "int32", "q": "int64", "B": "uint8", "H": "uint16",
               "I": "uint32", "Q": "uint64", "d": "double"}
#: A time count with more integer digits than this fits no wire type: refused before the exact
#: (but possibly huge) integer is built.
_TIME_MAX_DIGITS = 40


def type_name(code: str) -> str:
    """The TLL type name of a struct code ('q' -> 'int64')."""
    return _TYPE_NAMES.get(code, code)


def check_int(value: Any, code: str, lo: int, hi: int) -> int:
    """An integer field's input -> int within lo..hi."""
    if type(value) is not int:
        if isinstance(value, int):  # bool, IntEnum
            value = int(value)
        else:
            index = getattr(type(value), "__index__", None)
            if index is None:
                raise EncodeError(f"expected an integer, got {type(value).__name__} {value!r}")
            value = index(value)
    if not lo <= value <= hi:
        raise EncodeError(f"{value!r} does not fit {type_name(code)}")
    return value


def check_double(value: Any) -> float:
    """A double field's input -> float (what `struct` packs: numbers, not text)."""
    if isinstance(value, (str, bytes, bytearray, memoryview)) or value is None:
        raise EncodeError(f"expected a number, got {type(value).__name__} {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise EncodeError(f"{value!r} does not fit double") from None
    except (TypeError, ValueError):
        raise EncodeError(f"expected a number, got {type(value).__name__} {value!r}") from None


def raw_enum(klass: Any, value: Any) -> int:
    """An enum field's input (member name, member of any enum with a known name, int) -> int."""
    if isinstance(value, enum.Enum):
        value = value.name
    if isinstance(value, str):
        try:
            return int(klass[value])
        except KeyError:
            names = ", ".join(m.name for m in klass)
            raise EncodeError(f"unknown {klass.__name__} name {value!r} (expected one of {names})") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise EncodeError(f"expected a {klass.__name__} name or integer, got {type(value).__name__}")
    return int(value)


def raw_bits(klass: Any, value: Any) -> int:
    """A bits field's input (int, {name: value}, [names], 'a, b' text, Bits) -> int."""
    try:
        return int(klass._coerce(value))
    except (ValueError, TypeError) as e:
        raise EncodeError(str(e)) from None


def raw_fixed(value: Any, precision: int, code: str, lo: int, hi: int) -> int:
    """A fixed-point field's input -> raw integer (rounded half-even), within lo..hi."""
    try:
        raw = decimal_to_fixed(value, precision)
    except OverflowError:
        raw = None
    except (ValueError, TypeError, ArithmeticError) as e:
        raise EncodeError(f"{e} (fixed{precision})") from None
    if raw is None or not lo <= raw <= hi:
        raise EncodeError(f"{value} does not fit {type_name(code)} (fixed{precision})")
    return raw


def raw_dec128(value: Any) -> bytes:
    """A decimal128 field's input (Decimal, str, int, float, or its 16 wire bytes) -> 16 bytes."""
    if isinstance(value, (bytes, bytearray)) and len(value) == 16:
        return bytes(value)
    try:
        lo, hi = decimal128_encode(value)
    except (ValueError, TypeError, ArithmeticError) as e:
        raise EncodeError(str(e)) from None
    return _Q2.pack(lo, hi)


def raw_bytes(value: Any, n: int, string: bool) -> bytes:
    """A `byteN` field's input (bytes-like, or text as UTF-8) -> at most n bytes (unpadded)."""
    if isinstance(value, str):
        wire = getattr(value, "wire", None)  # decoded text that remembers its (non-UTF-8) bytes
        data = wire if isinstance(wire, bytes) else value.encode("utf-8")
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
    """A time point / duration field's input -> raw count of `resolution`.

    Exact: integer counts never go through float. For an integer field a value finer than the
    resolution is truncated toward zero; the caller checks the range.
    """
    kind = type(value)
    if kind is int:  # the common raw count
        return float(value) if is_float else value
    if kind is (Duration if duration else TimePoint) and value.resolution == resolution and type(value.value) is int:
        return float(value.value) if is_float else value.value  # a decoded value written back
    try:
        return _time_units(value, resolution, is_float, duration)
    except (ValueError, TypeError, OverflowError, ArithmeticError) as e:
        raise EncodeError(str(e)) from None


def _time_units(value: Any, resolution: str, is_float: bool, duration: bool) -> int | float:
    kind = Duration if duration else TimePoint
    if isinstance(value, bool):
        raise TypeError(f"expected a {kind.__name__} value, got bool")
    if isinstance(value, int):
        return float(value) if is_float else value
    if isinstance(value, float):
        if is_float:
            return value  # a raw count, bit for bit (keeps -0.0 and NaN)
        return _whole(value)
    if isinstance(value, Decimal):
        return float(value) if is_float else _whole(value)
    if isinstance(value, (TimePoint, Duration)):
        if not isinstance(value, kind):
            raise TypeError(f"expected a {kind.__name__}, got {type(value).__name__}")
        count = value.value
        if isinstance(count, float) and not math.isfinite(count):
            return count if is_float else _whole(count)
        if value.resolution == resolution:
            return float(count) if is_float else _whole(count)
        exact = Fraction(count) * _NS[value.resolution] / _NS[resolution]
        return float(exact) if is_float else _whole(exact)
    ns: int | Fraction
    if isinstance(value, str):
        ns = parse_duration_ns(value) if duration else parse_iso_ns(value)
    elif not duration and isinstance(value, _dt.datetime):
        ns = int(TimePoint.from_datetime(value, "ns").value)
    elif duration and isinstance(value, _dt.timedelta):
        ns = ((value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds) * 1000
    else:
        raise TypeError(f"expected a {kind.__name__} value, got {type(value).__name__}")
    if is_float:
        return float(Fraction(ns) / _NS[resolution])
    return convert_ns(ns, resolution)


def _whole(count: int | float | Decimal | Fraction) -> int:
    """A count -> int, truncated toward zero; NaN, infinities and absurd magnitudes refused."""
    if isinstance(count, int):
        return count
    if isinstance(count, float):
        if not math.isfinite(count):
            raise ValueError(f"{count!r} is not a finite count")
        return int(count)
    if isinstance(count, Decimal):
        if not count.is_finite():
            raise ValueError(f"{count} is not a finite count")
        if count and count.adjusted() > _TIME_MAX_DIGITS:
            raise OverflowError(f"{count} is out of range")
    return int(count)


# -- lists -----------------------------------------------------------------------------------------
def as_list(value: Any) -> list | tuple:
    """A list/array field's input (list, tuple or None = empty)."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise EncodeError(f"expected a list, got {type(value).__name__}")
    return value


# -- wire -> logical (generated decoders) ----------------------------------------------------------
def logical_fixed(raw: int, precision: int) -> Decimal:
    return fixed_to_decimal(raw, precision)


def enum_value(klass: Any, raw: int) -> Any:
    """IntEnum member for `raw`, or the plain int when the value is not in the enum."""
    try:
        return klass(raw)
    except ValueError:
        return raw


def enum_class(name: str, values: dict[str, int]) -> type[enum.IntEnum]:
    return make_int_enum(name, values)


def bits_class(name: str, fields: tuple) -> type[Bits]:
    from tllschema.model import BitField, BitsDef
    from tllschema.values import bits_class as _make

    return _make(BitsDef(name, "uint64", [BitField(*f) for f in fields]))
