"""Message dumps as TLL's channels log them (``dump=`` init parameter).

TLL logs every message a channel receives (``Recv``) or is given to send (``Post``) when its
``dump`` parameter is set. The header is one line; the body depends on the mode:

* ``frame`` — header only;
* ``text`` — the body's printable bytes;
* ``text+hex`` — a hex dump (16 bytes a line);
* ``scheme`` — the fields decoded with the channel's scheme, one ``name: value`` line each, in
  the reference's own text form (``time: 2024-09-09T14:06:11.037913425``, ``price: 358.02``);
* ``yes``/``auto`` — ``scheme`` when the message is in the scheme, else ``text+hex``.

:func:`message_text` builds the log record text; :func:`format_fields` is the scheme body alone
(the port of the reference's ``tll::scheme::to_strings``). Written from the reference's
``src/channel/log.cc`` and ``src/tll/scheme/format.h``.
"""
from __future__ import annotations

import datetime as _dt
import math
from decimal import Decimal
from typing import Any

from tllschema.model import (Array, Bytes, MessageRef, Pointer, Scalar, SubType, UnionRef,
                             WireType)
from tllschema.model import Message as MessageModel

from streamproto.errors import ConfigError

__all__ = ["DUMP_MODES", "parse_dump", "message_text", "state_text", "format_fields",
           "hexdump", "printable"]

#: ``dump=`` spellings, as the reference reads them, and the mode each selects (None: off).
DUMP_MODES: dict[str, str | None] = {
    "": None, "no": None, "yes": "auto", "auto": "auto", "frame": "frame", "text": "text",
    "text+hex": "text+hex", "scheme": "scheme",
}

_RES_SUFFIX = {"ns": "ns", "us": "us", "ms": "ms", "s": "s", "m": "m", "h": "h", "d": "d"}
_NS = {"ns": 1, "us": 1000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
       "h": 3_600_000_000_000, "d": 86_400_000_000_000}
_EPOCH = _dt.datetime(1970, 1, 1)


def parse_dump(value: str | None, key: str = "dump") -> str | None:
    """A ``dump=`` value -> mode name (``auto``, ``frame``, ...) or None; ConfigError otherwise."""
    if value is None:
        return None
    try:
        return DUMP_MODES[str(value).strip()]
    except KeyError:
        raise ConfigError(f"parameter {key!r}: invalid value {value!r} (expected one of "
                          "no, yes, frame, text, text+hex, scheme, auto)") from None


def printable(c: int) -> bool:
    """Whether a byte is shown as itself in text dumps (ASCII 32..126)."""
    return 32 <= c < 127


def hexdump(data: bytes) -> str:
    """TLL's dump of a body without a scheme: 16 bytes a line, offset, hex in groups of 4, text."""
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        cells = "".join((f"{chunk[i]:02x} " if i < len(chunk) else "   ") + (" " if i % 4 == 3 else "")
                        for i in range(16))
        text = "".join(chr(c) if printable(c) else "." for c in chunk)
        lines.append(f"  {off:08x}:  {cells}{text}\n")
    return "".join(lines)


def state_text(text: str, state: str) -> str:
    """``Recv message: type: State, msgid: Active`` (state messages carry no body)."""
    return f"{text} message: type: State, msgid: {state}"


def message_text(text: str, mode: str, *, control: bool, msgid: int, seq: int, body: bytes,
                 addr: int | None = None, scheme: Any = None,
                 name: str | None = None) -> tuple[bool, str]:
    """The log text of one message: ``(warning, text)``.

    ``text`` is ``Recv``/``Post``; ``mode`` one of :data:`DUMP_MODES`' values; ``scheme`` the
    tllschema scheme for this message type (data or control) or None. ``warning`` is True when
    the reference logs the record at WARNING (a scheme dump of a message the scheme lacks).
    ``name`` is used when there is no scheme but the caller knows the message (control events).
    """
    message = None
    if scheme is not None and msgid:
        message = scheme.by_msgid.get(msgid)
    if mode == "auto":
        mode = "scheme" if message is not None else "text+hex"
    if scheme is None:
        label = name if name else "(no scheme)"
    elif message is None:
        label = name if name else "(no message)"
    else:
        label = message.name
    label = f", name: {label}"
    if scheme is None and name is None and mode == "frame":
        label = ""
    where = f", addr: 0x{addr & 0xFFFFFFFFFFFFFFFF:x}" if addr else ""
    head = (f"{text} message: type: {'Control' if control else 'Data'}, msgid: {msgid}{label}, "
            f"seq: {seq}, size: {len(body)}{where}")
    if mode == "frame":
        return False, head
    if mode == "text":
        return False, head + "\n  " + "".join(chr(c) if printable(c) else "." for c in body)
    if mode == "text+hex":
        return False, head + "\n" + hexdump(bytes(body))
    # scheme
    if scheme is None:
        return False, head + "\n  (no scheme)"
    if message is None:
        return True, head + "\n  (message not found)"
    try:
        lines = format_fields(message, message.decode(body))
    except Exception as e:   # noqa: BLE001 - a body that does not decode is reported, not raised
        return False, (head + f"\n  Failed to format message {message.name}: {e}\n"
                       + hexdump(bytes(body)))
    if not lines:
        return False, head + "\n  "
    return False, head + "\n  " + "\n  ".join(lines) + "\n"


# --- the reference's scheme text form (tll::scheme::to_strings) ----------------------------------

def format_fields(message: MessageModel, record: Any) -> list[str]:
    """Lines of a decoded record in the reference's text form; one line ``{f: v}`` when the
    message has a single (single-line) field."""
    out: list[str] = []
    for f in message.fields:
        value = record[f.name]
        if value is None:
            if f.index >= 0:    # optional field not present
                continue
            value = "" if isinstance(f.type, Pointer) and f.type.string else value
        if _is_secret(f):
            r = _secret(f.type, value)
        else:
            r = _value(f.type, value)
        if len(r) != 1:
            out.append(f"{f.name}:")
            out.extend("  " + line for line in r)
        else:
            out.append(f"{f.name}: {r[0]}")
    if len(out) == 1:
        out[0] = "{" + out[0] + "}"
    return out


def _is_secret(f: Any) -> bool:
    """``options.tll.secret: yes`` on the field (the reference hides such values)."""
    for opts in (f.options, f.list_options):
        v = str(opts.get("tll.secret", "")).strip().lower()
        if v in ("yes", "true", "1"):
            return True
    return False


def _secret(t: WireType, v: Any) -> list[str]:
    """A ``tll.secret`` field as the reference shows it: numbers as 0, text as stars."""
    if isinstance(t, Scalar):
        if t.name == "decimal128":
            return ["0.E0"]
        zero: Any = 0.0 if t.name == "double" else 0
        if t.sub is SubType.TIME_POINT or t.sub is SubType.DURATION:
            return [_scalar(t, zero)]
        if t.sub is SubType.ENUM and t.enum is not None:
            name = next((n for n, x in t.enum.values.items() if x == 0), None)
            return [name if name is not None else "0"]
        return [_scalar(t, zero)]
    if isinstance(t, Bytes):
        return ['"' + "*" * t.n + '"']
    if isinstance(t, Pointer) and t.string:
        return ['"' + "*" * len(str(v or "").encode("utf-8")) + '"']
    if isinstance(t, (MessageRef, UnionRef)):
        return ["{}"]
    return _value(t, v)


def _scalar_like(t: WireType) -> bool:
    return not isinstance(t, (MessageRef, Array, Pointer))


def _value(t: WireType, v: Any) -> list[str]:
    if isinstance(t, Scalar):
        return [_scalar(t, v)]
    if isinstance(t, Bytes):
        if t.string:
            return ['"' + str(v) + '"']
        return ['"' + "".join(chr(c) if printable(c) and c != 0x22 else f"\\x{c:02x}"
                              for c in bytes(v)) + '"']
    if isinstance(t, Pointer):
        if t.string:
            return ['"' + str(v) + '"']
        return _list(t.elem, v)
    if isinstance(t, Array):
        return _list(t.elem, v)
    if isinstance(t, MessageRef):
        return format_fields(t.message, v)
    if isinstance(t, UnionRef):
        uf = next(f for f in t.union.fields if f.name == v.type)
        r = _value(uf.type, v.value)
        if len(r) == 1:
            return [f"{{{uf.name}: {r[0]}}}"]
        return [uf.name + ":"] + ["  " + line for line in r]
    raise TypeError(f"unknown wire type {t!r}")


def _list(elem: WireType, values: Any) -> list[str]:
    result: list[str] = []
    scalar = _scalar_like(elem)
    if scalar:
        result.append("")
    for v in values:
        r = _value(elem, v)
        if scalar:
            result[0] = result[0] + ", " + r[0] if result[0] else r[0]
        elif not result and len(r) == 1:
            result = list(r)
        else:
            prefix = "- "
            if len(result) == 1:
                result[0] = prefix + result[0]
            for line in r:
                result.append(prefix + line)
                prefix = "  "
    if len(result) == 1:
        result[0] = "[" + result[0] + "]"
    elif not result:
        result.append("[]")
    return result


def _scalar(t: Scalar, v: Any) -> str:
    sub = t.sub
    if t.name == "decimal128":
        return _decimal128(v)
    if sub is SubType.FIXED:
        raw = int(Decimal(v).scaleb(t.precision))
        return _unpacked(raw, -t.precision)
    if sub is SubType.BITS:
        n = int(v)
        parts = []
        for b in (t.bits.bits if t.bits is not None else []):
            mask = ((1 << b.size) - 1) << b.offset
            if n & mask:
                parts.append(b.name)
                n &= ~mask
        if n:
            parts.append(f"0x{n:x}")
        return " | ".join(parts)
    if sub is SubType.ENUM:
        return v.name if hasattr(v, "name") and hasattr(v, "value") else str(int(v))
    if sub is SubType.TIME_POINT:
        return _time_point(v.value if hasattr(v, "value") else v, t.resolution)
    if sub is SubType.DURATION:
        raw = v.value if hasattr(v, "value") else v
        return _number(raw) + _RES_SUFFIX.get(t.resolution, t.resolution)
    return _number(v)


def _number(v: Any) -> str:
    """``fmt::format("{}", v)``: integers as is, doubles in their shortest form."""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        text = repr(v)
        return text[:-2] if text.endswith(".0") else text
    return str(int(v))


def _unpacked(mantissa: int, exp: int, wide: bool = False) -> str:
    """The reference's ``unpacked_float`` text: ``358.02``, ``12.`` (exp 0), ``5.E-12``."""
    sign = "-" if mantissa < 0 else ""
    m = -mantissa if mantissa < 0 else mantissa
    digits = str(m) if m else ""
    if exp > 0 or exp < -9 or wide:
        return f"{sign}{digits}.E{exp}"
    if exp == 0:
        return f"{sign}{digits}."
    div = 10 ** -exp
    return f"{sign}{m // div}.{m % div:0{-exp}d}"


def _decimal128(v: Any) -> str:
    d = Decimal(v)
    if d.is_nan():
        return "sNaN" if d.is_snan() else "NaN"
    if d.is_infinite():
        return "-Inf" if d < 0 else "Inf"
    sign, digits, exp = d.as_tuple()
    m = int("".join(map(str, digits)) or "0")
    return _unpacked(-m if sign else m, int(exp), wide=True)


def _time_point(raw: int | float, resolution: str) -> str:
    unit = _NS.get(resolution, 1)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            return "Overflow"
        ns_total = int(Decimal(repr(raw)) * unit)
    else:
        ns_total = raw * unit
    secs, ns = divmod(ns_total, 1_000_000_000)
    try:
        when = _EPOCH + _dt.timedelta(seconds=secs)
    except OverflowError:
        return "Overflow"
    if resolution == "d" and isinstance(raw, int):
        return when.strftime("%Y-%m-%d")
    text = f"{when.year:04d}" + when.strftime("-%m-%dT%H:%M:%S")
    if ns:
        text += "." + f"{ns:09d}".rstrip("0")
    return text
