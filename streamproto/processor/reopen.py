"""When to reopen an object, sans I/O: the reference's ``tll::channel::ReopenData``.

Fed every state change with the time (``on_state``) it keeps ``next``, the time of the next
action, and :meth:`on_timer` says what is due then (close a failed object, open a closed one,
give up on an open or close that takes too long). The back-off: an object that failed while
opening, or that closed or failed less than ``active_min`` after becoming Active, waits
``timeout_min * 2**(n-1)`` (capped at ``timeout_max``) before its n-th attempt; one that was
Active longer is reopened at once and its count starts over. Written from the reference's
``src/tll/channel/reopen.h``.
"""
from __future__ import annotations

import enum

from streamproto.events import ACTIVE, CLOSED, CLOSING, ERROR, OPENING

__all__ = ["Reopen", "Action"]


class Action(enum.Enum):
    NONE = "none"
    OPEN = "open"
    CLOSE = "close"


class Reopen:
    """Reopen bookkeeping of one object (times in seconds, any monotonic clock)."""

    def __init__(self, timeout_min: float = 1.0, timeout_max: float = 30.0,
                 timeout_open: float = 300.0, timeout_close: float = 10.0,
                 active_min: float = 0.1) -> None:
        self.timeout_min = timeout_min
        self.timeout_max = timeout_max
        self.timeout_open = timeout_open
        self.timeout_close = timeout_close
        self.active_min = active_min
        self.state = CLOSED
        self.next: float | None = None
        self.active_ts: float | None = None
        self.closing_ts: float | None = None
        self.reopen_wait = False
        self.count = 0

    def pending(self) -> bool:
        return self.next is not None

    def timeout(self) -> float:
        """Delay before the current attempt: 0, then min, 2*min, 4*min, ... up to max."""
        if self.count == 0:
            return 0.0
        return min(self.timeout_max, self.timeout_min * (1 << min(self.count - 1, 62)))

    def on_state(self, s: str, now: float) -> None:
        self.next = None
        if s == OPENING:
            self.active_ts = None
            if self.timeout() < self.timeout_max:
                self.count += 1
            if self.timeout_open > 0:
                self.next = now + self.timeout_open
        elif s == ACTIVE:
            self.active_ts = now
        elif s == ERROR:
            if self.state == OPENING:
                self.reopen_wait = True
            elif self.state == ACTIVE and self._trembled(now):
                self.reopen_wait = True
            self.next = now
        elif s == CLOSING:
            if self.closing_ts is None:
                self.closing_ts = now
            self.next = self.closing_ts + self.timeout_close
            if self.state == ACTIVE and self._trembled(now):
                self.reopen_wait = True
        elif s == CLOSED:
            if self.reopen_wait:
                self.next = now + self.timeout()
                self.reopen_wait = False
            else:
                self.next = now
                self.count = 0
            self.closing_ts = None
        self.state = s

    def _trembled(self, now: float) -> bool:
        return self.active_ts is not None and now - self.active_ts < self.active_min

    def on_timer(self, now: float) -> tuple[Action, str | None]:
        """What is due at ``now``, and a warning to log (open or close timeout) or None."""
        if self.state == ERROR:
            return Action.CLOSE, None
        if self.state == CLOSED and self.next is not None and now >= self.next:
            return Action.OPEN, None
        if self.state == OPENING and self.next is not None and now >= self.next:
            return Action.CLOSE, "Open timeout"
        if self.state == CLOSING and self.next is not None and now >= self.next:
            return Action.CLOSE, "Close timeout, force close"
        return Action.NONE, None
