"""Logical values: exact time points and durations, bits, enums, fixed point, decimal128, unions.

Everything here is exact: time points are integer counts of their resolution (never rounded
through float), fixed point and decimal128 are `Decimal`.
"""
from __future__ import annotations

import datetime as _dt
import enum
import math
import re
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, NamedTuple

from tllschema.model import RESOLUTION_SECONDS, RESOLUTIONS, BitsDef, EnumDef

_NS = {k: (n * 1_000_000_000) // d for k, (n, d) in RESOLUTION_SECONDS.items()}
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_FRACTION_DIGITS = {"ns": 9, "us": 6, "ms": 3}


class _Chrono:
    """Shared shape of TimePoint and Duration: a raw count (int or float) and a resolution."""

    __slots__ = ("value", "resolution")

    def __init__(self, value: int | float, resolution: str = "ns"):
        res = RESOLUTIONS.get(resolution)
        if res is None:
            raise ValueError(f"unknown time resolution {resolution!r}")
        self.value = value
        self.resolution = res

    @property
    def nanoseconds(self) -> int:
        """Exact count of nanoseconds (floats rounded to the nearest nanosecond)."""
        if isinstance(self.value, float):
            return int(round(Decimal(repr(self.value)) * _NS[self.resolution]))
        return self.value * _NS[self.resolution]

    def exact_ns(self) -> Fraction | float:
        """Exact nanoseconds as a Fraction; NaN and infinities stay floats."""
        v = self.value
        if isinstance(v, float) and not math.isfinite(v):
            return v
        return Fraction(v) * _NS[self.resolution]

    def __int__(self) -> int:
        return int(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def __eq__(self, other: object) -> bool:
        if type(other) is type(self):
            a, b = self.exact_ns(), other.exact_ns()
            return a == b or (a != a and b != b)  # NaN equals NaN as a stored value
        return NotImplemented

    def __hash__(self) -> int:
        v = self.exact_ns()
        return hash((type(self).__name__, "nan" if v != v else v))

    def __lt__(self, other: "_Chrono") -> bool:
        if type(other) is type(self):
            return self.exact_ns() < other.exact_ns()
        return NotImplemented

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r}, {self.resolution!r})"

    # -- what TLL's binding (tll.chrono) offers besides ------------------------------------------
    @property
    def seconds(self) -> float:
        """The value in seconds (a float), as ``tll.chrono`` gives it."""
        return float(self.exact_ns() / 1_000_000_000)

    def convert(self, resolution: Any, type: Any = None) -> Any:   # noqa: A002 - TLL's name
        """The same time in another resolution (``'ms'`` or a ``Resolution``); an integer
        count is rounded down, as ``tll.chrono`` converts it."""
        res = RESOLUTIONS.get(getattr(resolution, "value", resolution))
        if res is None:
            raise ValueError(f"unknown time resolution {resolution!r}")
        kind = type or (float if isinstance(self.value, float) else int)
        exact = self.exact_ns()
        if isinstance(exact, float):
            return self._raw(self.__class__, exact / _NS[res], res)
        count = exact / _NS[res]
        return self._raw(self.__class__, math.floor(count) if kind is int else float(count), res)

    def _shifted(self, ns: Fraction | float, cls: Any = None) -> Any:
        """``ns`` in this value's resolution and count type, as ``cls`` (default: own class)."""
        cls = cls or self.__class__
        if isinstance(self.value, float) or isinstance(ns, float):
            return self._raw(cls, float(ns) / _NS[self.resolution], self.resolution)
        return self._raw(cls, math.floor(ns / _NS[self.resolution]), self.resolution)

    @staticmethod
    def _raw(cls: Any, value: int | float, resolution: str) -> Any:
        """An instance of ``cls`` holding ``value`` in the canonical ``resolution`` (no
        ``__init__``: subclasses may construct differently)."""
        obj = object.__new__(cls)
        obj.value, obj.resolution = value, resolution
        return obj


class TimePoint(_Chrono):
    """A point in time: `value` units of `resolution` since the Unix epoch (UTC).

    ``tp + Duration`` and ``tp - Duration`` are time points, ``tp - tp`` a Duration (in the
    left operand's resolution), as with ``tll.chrono``."""

    __slots__ = ()

    def __add__(self, other: Any) -> "TimePoint":
        if not isinstance(other, Duration):
            return NotImplemented
        return self._shifted(self.exact_ns() + other.exact_ns())

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, Duration):
            return self._shifted(self.exact_ns() - other.exact_ns())
        if isinstance(other, TimePoint):
            return self._shifted(self.exact_ns() - other.exact_ns(), Duration)
        return NotImplemented

    @property
    def datetime(self) -> _dt.datetime:
        """As an aware UTC datetime (microsecond precision, truncated toward the past).

        OverflowError (naming the value) outside datetime's years 1..9999; `isoformat` has no limit.
        """
        try:
            return _EPOCH + _dt.timedelta(microseconds=self.nanoseconds // 1000)
        except (OverflowError, ValueError):
            raise OverflowError(f"{self!r} is outside the range of datetime (years 1-9999)") from None

    def isoformat(self) -> str:
        """ISO text exact to the resolution: `2024-09-09T14:06:21.038702405Z`.

        Computed on integers, so any value has one: years beyond 0000..9999 are written with a
        sign (`+10000-01-01T00:00:00Z`, `-0001-12-31T23:59:59Z`); a NaN or infinite double count
        is written as `nan`, `inf` or `-inf`.
        """
        if isinstance(self.value, float) and not math.isfinite(self.value):
            return repr(self.value)
        base, frac = self._civil()
        digits = 9 if isinstance(self.value, float) else _FRACTION_DIGITS.get(self.resolution, 0)
        if digits:
            base += "." + f"{frac:09d}"[:digits]
        return base + "Z"

    def __str__(self) -> str:
        """As TLL's Python binding prints a time point (``tll.chrono.TimePoint``, what
        ``tll-read`` lists): UTC with ``Z``, the fraction in groups of three digits with the
        zero groups dropped — `2024-09-09T14:06:21Z`, `...:21.120Z`, `...:21.038702405Z`."""
        if isinstance(self.value, float) and not math.isfinite(self.value):
            return repr(self.value)
        base, frac = self._civil()
        if frac == 0:
            return base + "Z"
        if frac % 1_000_000 == 0:
            return f"{base}.{frac // 1_000_000:03d}Z"
        if frac % 1000 == 0:
            return f"{base}.{frac // 1000:06d}Z"
        return f"{base}.{frac:09d}Z"

    def _civil(self) -> tuple[str, int]:
        """`YYYY-MM-DDTHH:MM:SS` (UTC) and the nanoseconds past that second."""
        days, rem = divmod(self.nanoseconds, _DAY_NS)
        year, month, day = civil_from_days(days)
        secs, frac = divmod(rem, 1_000_000_000)
        hour, rem_s = divmod(secs, 3600)
        minute, second = divmod(rem_s, 60)
        ytext = f"{year:04d}" if 0 <= year <= 9999 else f"{'+' if year > 0 else '-'}{abs(year):04d}"
        return f"{ytext}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}", frac

    @classmethod
    def parse(cls, text: str, resolution: str = "ns") -> "TimePoint":
        """ISO text (`YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|+HH:MM]` or a date; no zone is UTC)
        -> TimePoint; a fraction finer than `resolution` is truncated toward zero."""
        ns = parse_iso_ns(text)
        return cls(convert_ns(ns, resolution, text), resolution)

    @classmethod
    def from_datetime(cls, value: _dt.datetime, resolution: str = "ns") -> "TimePoint":
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        delta = value - _EPOCH
        ns = ((delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1000
        return cls(convert_ns(ns, resolution, value), resolution)


class Duration(_Chrono):
    """A time interval: `value` units of `resolution` (``+`` and ``-`` another Duration)."""

    __slots__ = ()

    def __add__(self, other: Any) -> "Duration":
        if not isinstance(other, Duration):
            return NotImplemented
        return self._shifted(self.exact_ns() + other.exact_ns())

    def __sub__(self, other: Any) -> "Duration":
        if not isinstance(other, Duration):
            return NotImplemented
        return self._shifted(self.exact_ns() - other.exact_ns())

    @property
    def timedelta(self) -> _dt.timedelta:
        return _dt.timedelta(microseconds=self.nanoseconds / 1000)

    def __str__(self) -> str:
        return f"{self.value}{self.resolution}"

    @classmethod
    def parse(cls, text: str, resolution: str = "ns") -> "Duration":
        """`100ns`, `10.5us`, `123ms`, `2s`, `1m`, `1h`, `1d` -> Duration in `resolution`
        (a fraction finer than `resolution` is truncated toward zero)."""
        exact = parse_duration_ns(text)
        return cls(convert_ns(exact, resolution, text), resolution)


_DURATION = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*([a-z]+)\s*\Z")


def parse_duration_ns(text: str) -> Fraction:
    """Duration text (`10.5us`, `-2s`) -> exact nanoseconds (a Fraction: `1.5ns` stays 3/2)."""
    m = _DURATION.match(text)
    if not m or m.group(2) not in RESOLUTIONS:
        raise ValueError(f"invalid duration {text!r}: expected a number with a unit such as 10ms")
    return Fraction(Decimal(m.group(1))) * _NS[RESOLUTIONS[m.group(2)]]


def make_time_point(value: int | float, resolution: str) -> TimePoint:
    """TimePoint from a canonical resolution name without validation (for generated codecs)."""
    tp = object.__new__(TimePoint)
    tp.value = value
    tp.resolution = resolution
    return tp


def make_duration(value: int | float, resolution: str) -> Duration:
    """Duration from a canonical resolution name without validation (for generated codecs)."""
    d = object.__new__(Duration)
    d.value = value
    d.resolution = resolution
    return d


def convert_ns(ns: int | Fraction, resolution: str, what: Any = None) -> int:
    """Exact nanoseconds -> whole count of `resolution`, truncated toward zero.

    TLL converts time values this way (`int()` in its Python binding, integer division in its
    convert channel): a value finer than the field's resolution loses the finer part.
    """
    unit = _NS[RESOLUTIONS[resolution]]
    q = int((-ns if ns < 0 else ns) // unit)
    return -q if ns < 0 else q


_DAY_NS = 86_400 * 1_000_000_000
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year; integer arithmetic)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day count since 1970-01-01 (inverse of `days_from_civil`)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _month_days(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month - 1]


_ISO = re.compile(
    r"\s*([+-]?\d{4,})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*"
    r"(Z|[+-]\d{2}:?\d{2})?\s*\Z")


def parse_iso_ns(text: str) -> int:
    """ISO time text -> exact nanoseconds since the epoch; no zone means UTC, as in TLL."""
    m = _ISO.match(text)
    if not m:
        raise ValueError(f"invalid time point {text!r}: expected YYYY-MM-DDTHH:MM:SS[.fraction][Z]")
    y, mo, d, h, mi, s, frac, tz = m.groups()
    year, month, day, hour, minute, sec = int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0)
    if not 1 <= month <= 12:
        raise ValueError(f"invalid time point {text!r}: month {month} is not 1..12")
    if not 1 <= day <= _month_days(year, month):
        raise ValueError(f"invalid time point {text!r}: day {day} is not in {year:04d}-{month:02d}")
    if hour > 23 or minute > 59 or sec > 59:
        raise ValueError(f"invalid time point {text!r}: time {hour:02d}:{minute:02d}:{sec:02d} is out of range")
    secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + sec
    ns = secs * 1_000_000_000 + int((frac or "").ljust(9, "0") or 0)
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        hh, mm = int(tz[1:3]), int(tz[-2:])
        ns -= sign * (hh * 3600 + mm * 60) * 1_000_000_000
    return ns


class Bits:
    """Base of generated bit-set classes: an int with one property per named bit-field."""

    __slots__ = ("value",)
    FIELDS: tuple = ()  # ((name, offset, size), ...)
    NAME = ""

    def __init__(self, value: Any = 0):
        self.value = self._coerce(value)

    @classmethod
    def _coerce(cls, value: Any) -> int:
        if isinstance(value, Bits):
            value = value.value
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            text = value.strip().strip("{}").strip()
            if re.fullmatch(r"[+-]?(0[xX][0-9a-fA-F]+|\d+)", text):
                return int(text, 0) if "x" in text.lower() else int(text)
            value = [p.strip() for p in re.split(r"[,|]", text) if p.strip()]
        if isinstance(value, dict):
            out = 0
            for k, v in value.items():
                off, size = cls._bit(k)
                v = int(v)
                if not 0 <= v < (1 << size):
                    raise ValueError(f"bit-field {k} of {cls.NAME}: {v} does not fit {size} bit(s)")
                out |= v << off
            return out
        if isinstance(value, (list, tuple, set, frozenset)):
            out = 0
            for k in value:
                off, size = cls._bit(k)
                out |= ((1 << size) - 1) << off
            return out
        raise TypeError(f"cannot make {cls.NAME} bits from {type(value).__name__}")

    @classmethod
    def _bit(cls, name: str) -> tuple[int, int]:
        for n, off, size in cls.FIELDS:
            if n == name:
                return off, size
        raise ValueError(f"{cls.NAME} has no bit {name!r} (known: {', '.join(f[0] for f in cls.FIELDS)})")

    def get(self, name: str) -> bool | int:
        off, size = self._bit(name)
        v = (self.value >> off) & ((1 << size) - 1)
        return bool(v) if size == 1 else v

    def as_dict(self) -> dict[str, bool | int]:
        return {n: self.get(n) for n, _, _ in self.FIELDS}

    def __int__(self) -> int:
        return self.value

    __index__ = __int__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Bits):
            return self.value == other.value
        if isinstance(other, int):
            return self.value == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"{self.NAME}({self.as_dict()})"


def _bit_getter(name: str) -> property:
    def get(self: Bits) -> bool | int:
        return self.get(name)

    return property(get)


def bits_class(d: BitsDef) -> type[Bits]:
    """A Bits subclass with one property per bit-field of `d`."""
    ns: dict[str, Any] = {"__slots__": (), "FIELDS": tuple((b.name, b.offset, b.size) for b in d.bits), "NAME": d.name}
    for b in d.bits:
        if b.name.isidentifier() and b.name not in ("value", "get", "as_dict"):
            ns[b.name] = _bit_getter(b.name)
    return type(d.name or "Bits", (Bits,), ns)


def enum_class(d: EnumDef) -> type[enum.IntEnum]:
    """An IntEnum for `d` (members in value order, names as declared)."""
    return make_int_enum(d.name, d.values)


class SchemeEnum(enum.IntEnum):
    """Base of scheme enums: integers that print as ``Side.Sell``, as TLL's binding prints its
    enum members (``str``/``format`` of a plain Enum, not of an int)."""

    __str__ = enum.Enum.__str__
    __format__ = enum.Enum.__format__


def make_int_enum(name: str, values: dict[str, int]) -> type[enum.IntEnum]:
    """An IntEnum named `name` (or 'Enum') with `values`, members in value order."""
    members = sorted(values.items(), key=lambda kv: (kv[1], kv[0]))
    # mypy's enum plugin wants a literal class name (here it comes from the scheme) and types
    # the functional API's result as a member rather than the class it is
    return SchemeEnum(name or "Enum", members)  # type: ignore[return-value,call-arg,arg-type]  # the functional API makes the class


class UnionValue(NamedTuple):
    """A decoded union: the variant name and its value; also accepted as input. As in TLL's
    binding, ``u[0]``/``u[1]`` and the variant's name (``u.d`` when ``u.type == 'd'``) work."""

    type: str
    value: Any

    def __getattr__(self, key: str) -> Any:
        if not key.startswith("_") and key == tuple.__getitem__(self, 0):
            return tuple.__getitem__(self, 1)
        raise AttributeError(f"union holds {tuple.__getitem__(self, 0)!r}, not {key!r}")


# -- fixed point -----------------------------------------------------------------------------------
_SCALE = [Decimal(1).scaleb(-p) for p in range(20)]
_EXACT = Context(prec=80)


def fixed_to_decimal(raw: int, precision: int) -> Decimal:
    """Raw integer -> Decimal with exactly `precision` places ('-1.50')."""
    return Decimal(raw) * _SCALE[precision]  # exact: at most 20 digits, default precision is 28


_PLAIN_DECIMAL = re.compile(r"\s*([+-]?)(\d+)(?:\.(\d*))?\s*\Z")
#: Beyond this many integer digits no fixed-point raw value fits 64 bits: refused before the
#: (exact, but possibly huge) integer is built.
_FIXED_MAX_DIGITS = 40


def decimal_to_fixed(value: Any, precision: int) -> int:
    """Decimal/str/int/float -> raw integer (value x 10^precision).

    Places beyond `precision` are rounded half-even, as TLL's binding does with
    `to_integral_value()` (4.555 -> 4.56, 4.545 -> 4.54). A float counts as its shortest repr
    (4.555 is the decimal 4.555, as when written in a YAML or JSON document). The caller checks
    the raw value's range.
    """
    kind = type(value)
    if kind is int:
        return value * 10 ** precision
    if kind is str:  # the common '97.21': integer arithmetic, no Decimal
        m = _PLAIN_DECIMAL.match(value)
        if m:
            sign, whole, frac = m.groups()
            if frac is None or len(frac) <= precision:
                raw = int(whole + (frac or "").ljust(precision, "0"))
                return -raw if sign == "-" else raw
            if len(whole) <= _FIXED_MAX_DIGITS:
                raw = int(whole + frac[:precision])
                rest = frac[precision:]
                if rest.strip("0"):  # round half-even on the dropped digits
                    half = "5".ljust(len(rest), "0")
                    if rest > half or (rest == half and raw & 1):
                        raw += 1
                return -raw if sign == "-" else raw
    d = to_decimal(value)
    if not d.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if d and d.adjusted() + precision > _FIXED_MAX_DIGITS:
        raise OverflowError(f"{value} is out of range")
    # quantize rounds once, exactly (a scaleb first would round to the context's precision)
    return int(d.quantize(_SCALE[precision], rounding=ROUND_HALF_EVEN, context=_EXACT).scaleb(precision, context=_EXACT))


def to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("expected a number, got bool")
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, (int, str)):
        try:
            return Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise ValueError(f"invalid decimal {value!r}") from None
    raise TypeError(f"expected a decimal number, got {type(value).__name__}")


# -- decimal128 (BID) ------------------------------------------------------------------------------
_BIAS = 6176
_MAX_COEFF = 10 ** 34


def decimal128_decode(lo: int, hi: int) -> Decimal:
    """Two little-endian u64 words of a BID decimal128 -> Decimal."""
    sign = hi >> 63
    comb = (hi >> 49) & 0x3FFF
    if comb & 0x3000 == 0x3000:
        top = (hi >> 58) & 0x1F
        if top == 0x1E:
            return Decimal("-Infinity" if sign else "Infinity")
        if top == 0x1F:
            return Decimal("sNaN" if (hi >> 57) & 1 else "NaN")
        return Decimal((sign, (0,), 0))  # the "large coefficient" form is never produced: zero
    coeff = ((hi & ((1 << 49) - 1)) << 64) | lo
    if coeff >= _MAX_COEFF:
        coeff = 0  # non-canonical coefficient reads as zero
    return Decimal((sign, tuple(int(c) for c in str(coeff)), comb - _BIAS))


def decimal128_encode(value: Any) -> tuple[int, int]:
    """Decimal/str/int/float -> (lo, hi) words of a BID decimal128; ValueError when it cannot fit."""
    d = to_decimal(value)
    if d.is_nan():
        return 0, (0x7E00000000000000 if d.is_snan() else 0x7C00000000000000)
    sign, digits, exponent = d.as_tuple()
    if d.is_infinite() or not isinstance(exponent, int):
        return 0, (0xF800000000000000 if sign else 0x7800000000000000)
    exp = exponent
    coeff = int("".join(map(str, digits)) or "0")
    while exp > 6111 and coeff and coeff * 10 < _MAX_COEFF:
        coeff *= 10
        exp -= 1
    if coeff == 0:
        exp = max(min(exp, 6111), -6176)
    while exp < -6176 and coeff % 10 == 0:
        coeff //= 10
        exp += 1
    if coeff >= _MAX_COEFF or not -6176 <= exp <= 6111:
        raise ValueError(f"{value!r} does not fit decimal128 (34 digits, exponent -6176..6111)")
    hi = (sign << 63) | ((exp + _BIAS) << 49) | (coeff >> 64)
    return coeff & 0xFFFFFFFFFFFFFFFF, hi
