"""Hypothesis strategies derived from the scheme model: random valid values for any message.

`message_values(msg)` draws an input mapping (any field may be absent = unset); `expected(msg,
value)` gives what decoding its encoding must return, in `tllschema.plain(rec, raw=True)` form,
computed from the model alone (no codec involved).
"""
from __future__ import annotations

import enum
from decimal import Decimal
from functools import lru_cache
from typing import Any

from hypothesis import strategies as st

from tllschema.model import (
    Array, Bytes, Message, MessageRef, Pointer, Scalar, SubType, UnionRef, int_limits,
)
from tllschema.values import decimal128_decode, decimal_to_fixed, enum_class, fixed_to_decimal

MAX_LIST = 3  # list / array lengths drawn (arrays also stay within their capacity)
_TEXT = st.characters(blacklist_categories=("Cs",))
_TEXT_NO_NUL = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")


def _decimal128() -> st.SearchStrategy:
    finite = st.builds(
        lambda sign, coeff, exp: Decimal((sign, tuple(int(c) for c in str(coeff)), exp)),
        st.integers(0, 1), st.integers(0, 10 ** 34 - 1) | st.integers(0, 1000), st.integers(-6176, 6111) | st.integers(-10, 10))
    special = st.sampled_from([Decimal("Infinity"), Decimal("-Infinity"), Decimal("NaN"), Decimal("sNaN")])
    return finite | special | finite.map(str)


def _scalar(t: Scalar) -> st.SearchStrategy:
    if t.name == "decimal128":
        return _decimal128()
    if t.name == "double":
        if t.sub in (SubType.TIME_POINT, SubType.DURATION):
            return st.floats(allow_nan=False)  # a raw count of the resolution, kept bit for bit
        return st.floats(allow_nan=False)
    lo, hi = int_limits(t.name)
    raw = st.integers(lo, hi)
    if t.sub is SubType.ENUM:
        return st.sampled_from(sorted(t.enum.values)) | raw
    if t.sub is SubType.BITS:
        parts = st.fixed_dictionaries({}, optional={
            b.name: (st.booleans() if b.size == 1 else st.integers(0, (1 << b.size) - 1)) for b in t.bits.bits})
        return raw | parts.filter(lambda d: lo <= _bits_raw(t, d) <= hi)
    if t.sub is SubType.FIXED:
        return raw.map(lambda r: fixed_to_decimal(r, t.precision)) | raw.map(lambda r: str(fixed_to_decimal(r, t.precision)))
    return raw  # plain ints, time points and durations as raw counts


def _bytes(t: Bytes) -> st.SearchStrategy:
    if not t.string:
        return st.binary(max_size=t.n)
    return st.text(_TEXT_NO_NUL, max_size=t.n).filter(lambda s: len(s.encode("utf-8")) <= t.n)


def value_of(t: Any) -> st.SearchStrategy:
    """Values of a wire type (never None)."""
    if isinstance(t, Scalar):
        return _scalar(t)
    if isinstance(t, Bytes):
        return _bytes(t)
    if isinstance(t, Array):
        return st.lists(value_of(t.elem), max_size=min(t.capacity, MAX_LIST))
    if isinstance(t, Pointer):
        if t.string:
            return st.text(_TEXT, max_size=8)
        return st.lists(value_of(t.elem), max_size=MAX_LIST)
    if isinstance(t, MessageRef):
        return message_values(t.message)
    if isinstance(t, UnionRef):
        return st.one_of([st.fixed_dictionaries({f.name: value_of(f.type)}) for f in t.union.fields])
    raise TypeError(f"no strategy for {t!r}")


def zero_stable(t: Any) -> bool:
    """True when all-zero bytes of `t` decode to a value that encodes back to zeros.

    Not so for a union whose first variant holds a list: the zero pointer decodes as [] and an
    empty list encodes pointing at the end. Such unions are always set in generated values.
    """
    if isinstance(t, Pointer):
        return t.string
    if isinstance(t, Array):
        return True
    if isinstance(t, MessageRef):
        return all(zero_stable(f.type) for f in t.message.fields)
    if isinstance(t, UnionRef):
        return zero_stable(t.union.fields[0].type)
    return True


@lru_cache(maxsize=None)
def message_values(msg: Message) -> st.SearchStrategy:
    """Input mappings of `msg`: every field optional (absent = unset), see `zero_stable`."""
    def strategy(f):
        return st.deferred(lambda: value_of(f.type))

    fields = [f for f in msg.fields if not f.pmap]  # the presence map is computed, never given
    required = {f.name: strategy(f) for f in fields if isinstance(f.type, UnionRef) and not zero_stable(f.type)}
    optional = {f.name: strategy(f) for f in fields if f.name not in required}
    return st.fixed_dictionaries(required, optional=optional)


# -- expected decoded values ------------------------------------------------------------------------
def _bits_raw(t: Scalar, value: Any) -> int:
    if isinstance(value, int):
        return value
    fields = {b.name: b for b in t.bits.bits}
    return sum(int(v) << fields[k].offset for k, v in value.items())


@lru_cache(maxsize=None)
def _enum_names(e) -> dict[int, str]:
    return {m.value: m.name for m in enum_class(e)}


def _expected_scalar(t: Scalar, v: Any) -> Any:
    if t.name == "decimal128":
        return str(decimal128_decode(0, 0) if v is None else Decimal(v))
    if t.name == "double":
        return 0.0 if v is None else float(v)
    if v is None:
        v = 0
    if t.sub is SubType.ENUM:
        raw = t.enum.values[v] if isinstance(v, str) else int(v)
        return _enum_names(t.enum).get(raw, raw)
    if t.sub is SubType.BITS:
        raw = _bits_raw(t, v)
        out = {}
        for b in t.bits.bits:
            x = (raw >> b.offset) & ((1 << b.size) - 1)
            out[b.name] = bool(x) if b.size == 1 else x
        return out
    if t.sub is SubType.FIXED:
        return str(fixed_to_decimal(decimal_to_fixed(v, t.precision), t.precision))
    return int(v) if not isinstance(v, enum.Enum) else v.value


def expected_of(t: Any, v: Any) -> Any:
    """The `plain(raw=True)` form that decoding value `v` (None = unset) of wire type `t` gives."""
    if isinstance(t, Scalar):
        return _expected_scalar(t, v)
    if isinstance(t, Bytes):
        if t.string:
            return v or ""
        return (v or b"").ljust(t.n, b"\0")
    if isinstance(t, (Array, Pointer)):
        if isinstance(t, Pointer) and t.string:
            return v or ""
        return [expected_of(t.elem, x) for x in (v or [])]
    if isinstance(t, MessageRef):
        return expected(t.message, v or {})
    if isinstance(t, UnionRef):
        if v is None:
            first = t.union.fields[0]
            return {first.name: expected_of(first.type, None)}
        (name, x), = v.items()
        f = next(f for f in t.union.fields if f.name == name)
        return {name: expected_of(f.type, x)}
    raise TypeError(f"no expectation for {t!r}")


def expected(msg: Message, value: dict) -> dict:
    """plain(raw=True) of the decoded value; an absent optional field (presence bit clear) is ''."""
    return {f.name: "" if f.index >= 0 and value.get(f.name) is None else expected_of(f.type, value.get(f.name))
            for f in msg.fields if not f.pmap}
