"""``timer://``: periodic or one-shot messages, with the reference's parameters and scheme.

Init parameters (prefix ``timer.``): ``interval`` (duration, e.g. ``100ms``; empty: wait for a
posted wakeup), ``oneshot`` (one message after open), ``clock`` (``monotonic``, the default, or
``realtime``), ``skip-old`` (after a stall fire once, not once per missed interval) and the
deprecated ``initial`` (same as ``interval=...;oneshot=yes``). Open parameters ``interval`` and
``oneshot`` override the init ones.

Every wakeup is an ``absolute`` message (msgid 2, 8 bytes: int64 ``ts`` in ns); with the
monotonic clock its ``ts`` is zero, as in the reference. Posting ``relative`` (msgid 1, a
duration) or ``absolute`` (realtime clock only) sets the time of the next single wakeup; zero
clears it. Written from the reference's ``src/channel/timer.cc``.
"""
from __future__ import annotations

import asyncio
import struct
import time
from typing import Any, Mapping

from streamproto.channel import Channel
from streamproto.config import Url, parse_bool, parse_params
from streamproto.errors import ChannelError, ConfigError
from streamproto.events import ACTIVE, ERROR, OPENING, Data
from streamproto.processor.config import parse_ns
from streamproto.registry import register_protocol

__all__ = ["TimerChannel", "TIMER_SCHEME", "RELATIVE", "ABSOLUTE"]

#: The reference's timer scheme (``timer_scheme::scheme_absolute``).
TIMER_SCHEME = """yamls://
- name: relative
  id: 1
  fields: [{name: ts, type: int64, options.type: duration, options.resolution: ns}]
- name: absolute
  id: 2
  fields: [{name: ts, type: int64, options.type: time_point, options.resolution: ns}]
"""
RELATIVE, ABSOLUTE = 1, 2
_TS = struct.Struct("<q")
_scheme_cache: list[Any] = []


def timer_scheme() -> Any:
    """The loaded timer scheme (shared)."""
    if not _scheme_cache:
        import tllschema
        _scheme_cache.append(tllschema.load(TIMER_SCHEME))
    return _scheme_cache[0]


class TimerChannel(Channel):
    """``timer://;interval=1s;clock=realtime`` (see module doc)."""

    PREFIX = "timer"

    def __init__(self, url: "Url | str | Mapping[str, Any]", **kw: Any) -> None:
        super().__init__(url, **kw)
        self.interval_init = self._duration(self.param("interval", None), "interval")
        self.oneshot_init = self.param("oneshot", False, parse_bool)
        initial = self._duration(self.param("initial", None), "initial")
        clock = self.param("clock", "monotonic")
        if clock not in ("monotonic", "realtime"):
            raise ConfigError(f"{self.name}: parameter 'clock': invalid value {clock!r} "
                              "(expected monotonic or realtime)")
        self.realtime = clock == "realtime"
        self.skip_old = self.param("skip-old", False, parse_bool)
        if initial:
            self.log.warning("'initial' parameter is deprecated, use 'interval=...;oneshot=yes'")
            if not self.interval_init:
                self.interval_init, self.oneshot_init = initial, True
            elif initial != self.interval_init:
                raise ConfigError(f"{self.name}: non equal initial and interval values: "
                                  f"{initial}ns != {self.interval_init}ns")
        self._scheme = timer_scheme()
        self._next: int | None = None       # clock ns of the next wakeup
        self._interval = 0
        self._handle: asyncio.TimerHandle | None = None
        self.log.info("Initializing with %s clock", clock)

    @staticmethod
    def _duration(value: Any, key: str) -> int:
        return 0 if value in (None, "") else parse_ns(value, f"parameter {key!r}")

    def _now(self) -> int:
        return time.time_ns() if self.realtime else time.monotonic_ns()

    async def open(self, params: "str | Mapping[str, Any] | None" = None) -> None:
        """Start the timer; open parameters ``interval``, ``oneshot`` override the init ones."""
        self._check_can_open()
        p = parse_params(params)
        self._ended = False
        self._set_state(OPENING)
        try:
            interval = self._duration(p["interval"], "interval") if p.get("interval") \
                else self.interval_init
            oneshot = parse_bool(p["oneshot"], "oneshot") if p.get("oneshot") \
                else self.oneshot_init
            if p.get("initial"):
                raise ConfigError(f"{self.name}: open parameter 'initial' is deprecated")
        except ConfigError as e:
            self._set_state(ERROR, str(e))
            raise
        self._next = None
        self._interval = 0
        if interval:
            self._next = self._now() + interval
            self._interval = 0 if oneshot else interval
        self._set_state(ACTIVE)
        self._arm()

    def _arm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._next is None or self.state != ACTIVE:
            return
        loop = asyncio.get_running_loop()
        delay = max(0, self._next - self._now()) / 1e9
        self._handle = loop.call_at(loop.time() + delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        if self._next is None or self.state != ACTIVE:
            return
        now = self._now()
        if now < self._next:                # woke a little early: wait the rest
            self._arm()
            return
        if self._interval:
            if self.skip_old:
                shift = (now - self._next) // self._interval
                if shift:
                    self.log.debug("Skip %d old events", shift)
                self._next += shift * self._interval
            self._next += self._interval
        else:
            self._next = None
        self._arm()
        self._emit(Data(ABSOLUTE, 0, _TS.pack(now if self.realtime else 0)))

    def post(self, msgid: int, seq: int, body: bytes = b"", *, addr: int | None = None) -> None:
        """``relative`` (1) or ``absolute`` (2, realtime only): the next single wakeup; 0 clears."""
        if self.state != ACTIVE:
            raise ChannelError(f"{self.name}: post in state {self.state}")
        if msgid not in (RELATIVE, ABSOLUTE):
            raise ChannelError(f"{self.name}: invalid message {msgid} (expected relative 1 or "
                               "absolute 2)")
        if len(body) != _TS.size:
            raise ChannelError(f"{self.name}: invalid message size: {len(body)} != {_TS.size}")
        (ts,) = _TS.unpack(body)
        if msgid == ABSOLUTE and not self.realtime:
            raise ChannelError(f"{self.name}: absolute timestamps not supported with monotonic "
                               "timer")
        self._interval = 0
        if ts == 0:
            self._next = None
        elif msgid == RELATIVE:
            self._next = self._now() + ts
        else:
            self._next = ts
        self._arm()

    async def _shutdown(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._next = None


register_protocol("timer", TimerChannel)
