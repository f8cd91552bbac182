"""Logical value <-> wire value conversions used by the generated codecs (checked, exact)."""
from __future__ import annotations

import datetime as _dt
import math
import struct
from decimal import Decimal
from fractions import Fraction
from typing import Any

from tllschema.errors import EncodeError
from tllschema.values import (
    _NS, Duration, TimePoint, convert_ns, decimal128_encode, decimal_to_fixed, fixed_to_decimal, parse_iso_ns,
)

_Q2 = struct.Struct("<QQ")


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


def check_double(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise EncodeError(f"expected a number, got {type(value).__name__} {value!r}")
    return float(value)


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


def enum_value(klass: type, raw: int) -> Any:
    """IntEnum member for `raw`, or the plain int when the value is not in the enum."""
    try:
        return klass(raw)
    except ValueError:
        return raw


def enum_class(name: str, values: dict) -> type:
    import enum as _enum

    return _enum.IntEnum(name or "Enum", sorted(values.items(), key=lambda kv: (kv[1], kv[0])))


def bits_class(name: str, fields: tuple) -> type:
    from tllschema.model import BitField, BitsDef
    from tllschema.values import bits_class as _make

    return _make(BitsDef(name, "uint64", [BitField(*f) for f in fields]))
