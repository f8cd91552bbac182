"""``tll.chrono``: time points and durations, constructed as TLL's binding constructs them.

``TimePoint(value=0, resolution=Resolution.second, type=float)``: a number is a count of
``resolution`` (seconds by default), a ``datetime`` is converted (naive: local time), another
time point is converted to ``resolution``; ``TimePoint.from_str('2024-01-02T03:04:05.5')``.
``Duration`` likewise (a ``timedelta`` too). They are the values decoded records carry (tllschema's
TimePoint/Duration, which these subclass), so posting and comparing them works either way.
"""
from __future__ import annotations

import datetime as _dt
import enum
from typing import Any

from tllschema.values import Duration as _Duration
from tllschema.values import TimePoint as _TimePoint
from tllschema.values import parse_duration_ns, parse_iso_ns

__all__ = ["Duration", "Resolution", "TimePoint"]


class Resolution(enum.Enum):
    ns = "ns"
    us = "us"
    ms = "ms"
    second = "s"
    minute = "m"
    hour = "h"
    day = "d"
    nanosecond = "ns"
    microsecond = "us"
    millisecond = "ms"


def _res(resolution: Any) -> str:
    return str(getattr(resolution, "value", resolution))


def _init(self: Any, base: Any, value: Any, resolution: Any, type: Any) -> None:  # noqa: A002
    res = _res(resolution)
    if isinstance(value, (_TimePoint, _Duration)):
        value = value.convert(res, type).value
    else:
        value = type(value)
    base.__init__(self, value, res)


class TimePoint(_TimePoint):
    """``tll.chrono.TimePoint`` (see module doc)."""

    __slots__ = ()

    def __init__(self, value: Any = 0, resolution: Any = Resolution.second,
                 type: Any = float, raw: bool = False) -> None:  # noqa: A002 - TLL's name
        if raw:
            _TimePoint.__init__(self, value, _res(resolution))
            return
        if isinstance(value, _dt.datetime):
            value = _TimePoint(int(value.timestamp()) * 1_000_000 + value.microsecond, "us")
        _init(self, _TimePoint, value, resolution, type)

    @classmethod
    def from_str(cls, text: str) -> "TimePoint":
        """``YYYY-MM-DD[THH:MM:SS[.fraction]][Z|+HH:MM]``, UTC when no zone is given."""
        return cls(parse_iso_ns(text), Resolution.ns, int)


class Duration(_Duration):
    """``tll.chrono.Duration`` (see module doc)."""

    __slots__ = ()

    def __init__(self, value: Any = 0, resolution: Any = Resolution.second,
                 type: Any = float, raw: bool = False) -> None:  # noqa: A002 - TLL's name
        if raw:
            _Duration.__init__(self, value, _res(resolution))
            return
        if isinstance(value, _dt.timedelta):
            value = _Duration((value.days * 86400 + value.seconds) * 1_000_000
                              + value.microseconds, "us")
        _init(self, _Duration, value, resolution, type)

    @classmethod
    def from_str(cls, text: str) -> "Duration":
        """``10ms``, ``1.5s``: the count and resolution written."""
        parse_duration_ns(text)                       # checks the number and the unit
        body = text.strip().rstrip("abcdefghijklmnopqrstuvwxyz")
        kind = float if any(c in body for c in ".eE") else int
        return cls(kind(body), text.strip()[len(body):], kind)
