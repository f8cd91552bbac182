"""One ``serve --post-jsonl`` line: decoded and checked before anything is posted.

Accepted objects (other keys are ignored)::

    {"msgid": 10, "seq": 40, "hex": "646464", "addr": 1}   # raw body; seq defaults to last + 1
    {"name": "Transaction", "data": {...}, "seq": 41}       # encoded through the channel scheme
    {"sleep": 0.5}                                          # pause the feed (seconds)
    {"rotate": true}                                        # stream+ / rotate+file servers

:func:`parse_post` raises :class:`PostLineError` naming what is wrong with a line (not UTF-8,
not JSON, a value of the wrong type or outside its wire range); the caller reports it with the
line number and goes on with the next line.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PostLineError", "Sleep", "Rotate", "Post", "parse_post", "INT64", "INT32"]

INT64 = (-(1 << 63), (1 << 63) - 1)
INT32 = (-(1 << 31), (1 << 31) - 1)
_MAX_SLEEP = 86400.0 * 365


class PostLineError(ValueError):
    """A line that cannot be posted; the message says why (without the line number)."""


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Rotate:
    pass


@dataclass(frozen=True)
class Post:
    """A message to post: ``body`` + ``msgid``, or ``name`` + ``data`` to encode."""

    msgid: int | None = None
    seq: int | None = None
    body: bytes | None = None
    name: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    addr: int | None = None


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    return {dict: "an object", list: "an array", str: "a string", int: "an integer",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def _int(rec: dict[str, Any], key: str, bounds: tuple[int, int], what: str) -> int | None:
    if key not in rec:
        return None
    v = rec[key]
    if isinstance(v, bool) or not isinstance(v, int):
        shown = json.dumps(v) if isinstance(v, (int, float, str)) else _kind(v)
        raise PostLineError(f"'{key}' must be an integer, got {shown}")
    lo, hi = bounds
    if not lo <= v <= hi:
        raise PostLineError(f"'{key}' {v} is out of the {what} range {lo}..{hi}")
    return v


def parse_post(line: bytes) -> Sleep | Rotate | Post:
    """Decode and check one line (see the module docstring); PostLineError if it is bad."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PostLineError(f"not UTF-8 text (invalid byte 0x{line[e.start]:02x} at offset "
                            f"{e.start})") from None
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as e:
        raise PostLineError(f"invalid JSON: {e.msg} at column {e.colno}") from None
    except RecursionError:
        raise PostLineError("invalid JSON: nested too deeply") from None
    if not isinstance(rec, dict):
        raise PostLineError(f"expected a JSON object, got {_kind(rec)}")
    if "sleep" in rec:
        s = rec["sleep"]
        if isinstance(s, bool) or not isinstance(s, (int, float)):
            raise PostLineError(f"'sleep' must be a number of seconds, got "
                                f"{json.dumps(s) if isinstance(s, str) else _kind(s)}")
        if not math.isfinite(s) or not 0 <= s <= _MAX_SLEEP:
            raise PostLineError(f"'sleep' {s} is not a duration between 0 and {_MAX_SLEEP:.0f} s")
        return Sleep(float(s))
    if rec.get("rotate"):
        return Rotate()
    seq = _int(rec, "seq", INT64, "int64 seq")
    addr = _int(rec, "addr", INT64, "connection address")
    if "hex" in rec:
        h = rec["hex"]
        if not isinstance(h, str):
            raise PostLineError(f"'hex' must be a string of hex digits, got {_kind(h)}")
        try:
            body = bytes.fromhex(h)
        except ValueError as e:
            raise PostLineError(f"'hex' is not valid hex: {e}") from None
        msgid = _int(rec, "msgid", INT32, "int32 msgid")
        return Post(msgid=0 if msgid is None else msgid, seq=seq, body=body, addr=addr)
    if "name" in rec:
        name = rec["name"]
        if not isinstance(name, str):
            raise PostLineError(f"'name' must be a message name string, got {_kind(name)}")
        data = rec.get("data", {})
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise PostLineError(f"'data' must be an object of field values, got {_kind(data)}")
        return Post(seq=seq, name=name, data=data, addr=addr)
    raise PostLineError("expected 'hex' (with 'msgid'), 'name' (with 'data'), 'sleep' or "
                        "'rotate'")
