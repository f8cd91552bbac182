"""Message values from a config subtree of strings, as the reference's ``ConfigEncoder`` reads them.

Used by ``yaml://``: every scalar of a YAML message file is the text it was written as, and is
converted here by the field's type — integers in decimal or ``0x`` hex, enums by name or number,
bits as ``A | B | 0x4``, a list of names or ``{name: bool-or-int}``, fixed point and doubles in
plain or scientific notation, time points as ``YYYY-MM-DD[T ]HH:MM:SS[.fraction]`` (exact to the
nanosecond), durations with their unit (``10ms``), lists as YAML lists, messages as mappings and
unions as ``{variant: value}``. With ``strict`` (the default) a key that is not a field is an error.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from tllschema.model import (Array, Bytes, MessageRef, Pointer, Scalar, SubType, UnionRef,
                             WireType)
from tllschema.model import Message as MessageModel
from tllschema.values import UnionValue

from streamproto.processor.config import Config

__all__ = ["message_values", "FieldValueError"]

_INT = re.compile(r"[+-]?(0[xX][0-9a-fA-F]+|[0-9]+)$")
_TRUE = {"yes", "true", "1", "on"}
_FALSE = {"no", "false", "0", "off"}


class FieldValueError(ValueError):
    """A config value that does not fit its field; ``path`` names the field."""

    def __init__(self, path: str, text: str) -> None:
        super().__init__(f"{path}: {text}" if path else text)
        self.path = path


def message_values(message: MessageModel, cfg: Config, strict: bool = True,
                   path: str = "") -> dict[str, Any]:
    """Field name -> value for ``message`` from ``cfg`` (see module doc)."""
    known = {f.name: f for f in message.fields}
    if strict:
        for key in cfg.keys():
            if key not in known:
                raise FieldValueError(_join(path, key), f"no such field in {message.name} "
                                  f"(fields: {', '.join(known) or 'none'})")
    out: dict[str, Any] = {}
    for name, field in known.items():
        sub = cfg.sub(name, throw=False)
        if sub is None:
            continue
        out[name] = _value(field.type, sub, strict, _join(path, name))
    return out


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _text(cfg: Config, path: str) -> str:
    v = cfg.value()
    if v is None:
        raise FieldValueError(path, "expected a value, got a mapping")
    return v


def _items(cfg: Config, path: str) -> list[Config]:
    if cfg.value() is not None and not cfg.keys():
        if cfg.value() == "":
            return []
        raise FieldValueError(path, f"expected a list, got {cfg.value()!r}")
    return cfg.children()


def _value(t: WireType, cfg: Config, strict: bool, path: str) -> Any:
    if isinstance(t, Scalar):
        return _scalar(t, cfg, path)
    if isinstance(t, Bytes):
        return _text(cfg, path)
    if isinstance(t, Pointer):
        if t.string:
            return _text(cfg, path)
        return [_value(t.elem, c, strict, f"{path}[{i}]") for i, c in enumerate(_items(cfg, path))]
    if isinstance(t, Array):
        items = _items(cfg, path)
        if len(items) > t.capacity:
            raise FieldValueError(path, f"{len(items)} items do not fit the array of {t.capacity}")
        return [_value(t.elem, c, strict, f"{path}[{i}]") for i, c in enumerate(items)]
    if isinstance(t, MessageRef):
        if cfg.value() not in (None, "") and not cfg.keys():
            raise FieldValueError(path, f"expected a mapping for {t.message.name}, got {cfg.value()!r}")
        return message_values(t.message, cfg, strict, path)
    if isinstance(t, UnionRef):
        keys = cfg.keys()
        if len(keys) != 1:
            raise FieldValueError(path, "a union needs exactly one key, the variant name (one of "
                              f"{', '.join(f.name for f in t.union.fields)})")
        variant = next((f for f in t.union.fields if f.name == keys[0]), None)
        if variant is None:
            raise FieldValueError(path, f"unknown union variant {keys[0]!r} (one of "
                              f"{', '.join(f.name for f in t.union.fields)})")
        node = cfg.sub(keys[0])
        assert node is not None
        return UnionValue(variant.name, _value(variant.type, node, strict, _join(path, keys[0])))
    raise FieldValueError(path, f"unsupported field type {t!r}")


def _int(text: str, path: str) -> int:
    s = text.strip()
    if not _INT.match(s):
        raise FieldValueError(path, f"invalid integer {text!r}")
    return int(s, 16) if "x" in s.lower() else int(s, 10)


def _decimal(text: str, path: str) -> Decimal:
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        raise FieldValueError(path, f"invalid number {text!r}") from None
    if not d.is_finite():
        raise FieldValueError(path, f"invalid number {text!r}")
    return d


def _scalar(t: Scalar, cfg: Config, path: str) -> Any:
    if t.sub is SubType.BITS:
        return _bits(t, cfg, path)
    text = _text(cfg, path)
    sub = t.sub
    if sub in (SubType.TIME_POINT, SubType.DURATION):
        return text.strip()                 # tllschema parses both exactly
    if t.name == "decimal128":
        s = text.strip()
        if s in ("Inf", "-Inf", "NaN", "sNaN"):
            return Decimal({"Inf": "Infinity", "-Inf": "-Infinity"}.get(s, s))
        return _decimal(s, path)
    if sub is SubType.FIXED:
        return _decimal(text, path)
    if t.name == "double":
        try:
            return float(text.strip())
        except ValueError:
            raise FieldValueError(path, f"invalid number {text!r}") from None
    if sub is SubType.ENUM and t.enum is not None:
        s = text.strip()
        if s in t.enum.values:
            return s
        if _INT.match(s):
            return _int(s, path)
        raise FieldValueError(path, f"unknown {t.enum.name} value {text!r} (one of "
                          f"{', '.join(t.enum.values)})")
    return _int(text, path)


def _bits(t: Scalar, cfg: Config, path: str) -> int:
    fields = {b.name: b for b in (t.bits.bits if t.bits is not None else [])}

    def named(name: str) -> int:
        b = fields.get(name)
        if b is None:
            if _INT.match(name):
                return _int(name, path)
            raise FieldValueError(path, f"unknown bit {name!r} (bits: {', '.join(fields)})")
        return ((1 << b.size) - 1) << b.offset

    keys = cfg.keys()
    if not keys:
        text = _text(cfg, path).strip()
        return _or(named(p.strip()) for p in text.split("|") if p.strip())
    if all(re.fullmatch(r"\d{4,}", k) for k in keys):      # a YAML list of names
        return _or(named(_text(c, path).strip()) for c in _items(cfg, path))
    out = 0
    for name in keys:                                     # {name: bool-or-int}
        b = fields.get(name)
        if b is None:
            raise FieldValueError(path, f"unknown bit {name!r} (bits: {', '.join(fields)})")
        node = cfg.sub(name)
        assert node is not None
        v = _text(node, _join(path, name)).strip().lower()
        n = 1 if v in _TRUE else 0 if v in _FALSE else _int(v, _join(path, name))
        if not 0 <= n < (1 << b.size):
            raise FieldValueError(_join(path, name), f"{n} does not fit {b.size} bit(s)")
        out |= n << b.offset
    return out


def _or(values: Any) -> int:
    out = 0
    for v in values:
        out |= v
    return out
