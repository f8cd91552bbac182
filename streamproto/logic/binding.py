"""Field values as TLL's Python binding takes and gives them (``python/tll/scheme.pyx``).

Logic code posts dicts and builds records with the binding's conventions in mind, and reads
what ``channel.unpack(msg)`` returns the same way; where those differ from tllschema's own
(which follow the storage's golden conventions), logic objects get the binding's:

* taken (``post({...}, name=...)``, ``scheme['M'].object(...)``): a number (int, float,
  Decimal) for a time point or duration field is seconds — ``chrono.TimePoint(v)`` has
  resolution second — and a naive ``datetime`` is local time, as ``datetime.timestamp()``
  reads it; inside sub-messages, lists and unions too;
* given (``unpack``): a ``string`` field that was never set is ``''`` (the binding's empty
  string), not None; an absent optional field stays None.

The per-message plans (which fields need it) are built once, so messages without such fields
cost one dict lookup.
"""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal
from typing import Any

from tllschema.model import Array, MessageRef, Pointer, Scalar, SubType, UnionRef, WireType
from tllschema.record import Record
from tllschema.values import Duration, TimePoint, UnionValue

__all__ = ["taken", "given"]

_TIME = (SubType.TIME_POINT, SubType.DURATION)
_take_plans: dict[int, tuple[Any, dict[str, WireType]]] = {}
_give_plans: dict[int, tuple[Any, list[tuple[str, WireType]]]] = {}


# --- taken: values logic code posts ---------------------------------------------------------------

def _needs_take(t: WireType, seen: frozenset[int]) -> bool:
    if isinstance(t, Scalar):
        return t.sub in _TIME
    if isinstance(t, (Array, Pointer)):
        return not getattr(t, "string", False) and _needs_take(t.elem, seen)
    if isinstance(t, MessageRef):
        return id(t.message) not in seen and bool(_take_plan(t.message, seen | {id(t.message)}))
    if isinstance(t, UnionRef):
        return any(_needs_take(f.type, seen) for f in t.union.fields)
    return False


def _take_plan(message: Any, seen: frozenset[int] = frozenset()) -> dict[str, WireType]:
    entry = _take_plans.get(id(message))
    if entry is not None and entry[0] is message:
        return entry[1]
    plan = {f.name: f.type for f in message.fields if _needs_take(f.type, seen | {id(message)})}
    _take_plans[id(message)] = (message, plan)
    return plan


def taken(message: Any, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (field name -> value) of ``message`` with the binding's input conventions
    applied (see module doc); the same dict when nothing changes."""
    plan = _take_plan(message)
    if not plan:
        return values
    out = None
    for name, t in plan.items():
        v = values.get(name)
        if v is None:
            continue
        nv = _take(t, v)
        if nv is not v:
            if out is None:
                out = dict(values)
            out[name] = nv
    return values if out is None else out


def _take(t: WireType, v: Any) -> Any:
    if isinstance(t, Scalar):
        if isinstance(v, bool):
            return v
        if isinstance(v, (int, float, Decimal)):
            cls = Duration if t.sub is SubType.DURATION else TimePoint
            return cls(float(v) if isinstance(v, Decimal) else v, "s")
        if isinstance(v, _dt.datetime) and v.tzinfo is None and t.sub is SubType.TIME_POINT:
            return v.astimezone(_dt.timezone.utc)
        return v
    if isinstance(t, (Array, Pointer)):
        if isinstance(v, (list, tuple)):
            return [_take(t.elem, x) for x in v]
        return v
    if isinstance(t, MessageRef):
        return taken(t.message, v) if isinstance(v, dict) else v
    if isinstance(t, UnionRef):
        if isinstance(v, dict) and len(v) == 1:
            (k, x), = v.items()
            f = next((f for f in t.union.fields if f.name == k), None)
            return {k: _take(f.type, x)} if f is not None else v
        if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str):
            f = next((f for f in t.union.fields if f.name == v[0]), None)
            return UnionValue(v[0], _take(f.type, v[1])) if f is not None else v
    return v


# --- given: records logic code reads --------------------------------------------------------------

def _needs_give(t: WireType, seen: frozenset[int]) -> bool:
    if isinstance(t, Pointer):
        return t.string or _needs_give(t.elem, seen)
    if isinstance(t, Array):
        return _needs_give(t.elem, seen)
    if isinstance(t, MessageRef):
        return id(t.message) not in seen and bool(_give_plan(t.message, seen | {id(t.message)}))
    if isinstance(t, UnionRef):
        return any(_needs_give(f.type, seen) for f in t.union.fields)
    return False


def _give_plan(message: Any, seen: frozenset[int] = frozenset()) -> list[tuple[str, WireType]]:
    entry = _give_plans.get(id(message))
    if entry is not None and entry[0] is message:
        return entry[1]
    plan = [(f.name, f.type) for f in message.fields
            if f.index < 0 and _needs_give(f.type, seen | {id(message)})]
    _give_plans[id(message)] = (message, plan)
    return plan


def given(message: Any, record: Any) -> Any:
    """``record`` (decoded ``message``) with the binding's output conventions (module doc)."""
    plan = _give_plan(message)
    if plan and isinstance(record, Record):
        for name, t in plan:
            v = record[name]
            nv = _give(t, v)
            if nv is not v:
                record[name] = nv
    return record


def _give(t: WireType, v: Any) -> Any:
    if isinstance(t, Pointer) and t.string:
        return "" if v is None else v
    if isinstance(t, (Array, Pointer)):
        if isinstance(v, list):
            for i, x in enumerate(v):
                v[i] = _give(t.elem, x)
        return v
    if isinstance(t, MessageRef):
        return given(t.message, v)
    if isinstance(t, UnionRef) and isinstance(v, UnionValue):
        f = next((f for f in t.union.fields if f.name == v.type), None)
        if f is not None:
            nv = _give(f.type, v.value)
            if nv is not v.value:
                return UnionValue(v.type, nv)
    return v
