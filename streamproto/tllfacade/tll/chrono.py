"""``tll.chrono``: exact time points and durations (the values decoded records carry)."""
import enum

from tllschema.values import Duration, TimePoint

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
