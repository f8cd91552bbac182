"""Base of the asyncio channels: state, event delivery (callback or async iteration), parameters.

Every channel logs as TLL's do, on the logger ``tll.channel.NAME``: its state changes
(``State change: Closed -> Opening``, INFO) and, with the ``dump=`` init parameter, every message
it delivers (``Recv message: ...``) or is given to send (``Post message: ...``) in the format of
:mod:`streamproto.dump`. With ``dump`` off neither path costs anything per message.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Callable, ClassVar, Mapping

from streamproto.config import Conv, Url, check_params, load_url, parse_params
from streamproto.dump import message_text, parse_dump, state_text
from streamproto.errors import ChannelError, ConfigError
from streamproto.events import CLOSED, CLOSING, ERROR, ROTATE, Control, Data, State, Event

__all__ = ["Channel", "EventCallback"]

EventCallback = Callable[[Event], None]
_CONTROL_SCHEMES: dict[str, Any] = {}


class Channel:
    """A channel: ``await open(params)``, ``post(...)``, events, ``await close()``.

    Events go to ``on_event(event)`` when given (called synchronously from the event loop),
    otherwise into a queue read with :meth:`next_event` or ``async for event in channel`` (which
    ends after the channel reports Closed or Error).
    """

    #: Parameter prefix (``pub``, ``tcp``, ``stream``): ``PREFIX.name`` wins over ``name``.
    PREFIX = ""
    #: Scheme file (in :mod:`streamproto.schemas`) naming this channel's control messages.
    CONTROL_SCHEME: str | None = None
    #: Init parameters the channel reads, with their converters: all of them are checked when
    #: the channel is created, so a bad value is refused before anything is opened.
    PARAMS: ClassVar[Mapping[str, Conv]] = {}

    def __init__(self, url: "Url | str | Mapping[str, Any]", *,
                 on_event: EventCallback | None = None, name: str | None = None) -> None:
        self.url = load_url(url)
        self.check_url(self.url)
        self.name = name or self.url.params.get("name") or self.url.proto
        self.state = CLOSED
        self.reason: str | None = None
        self.info: dict[str, str] = {}
        self._on_event = on_event
        # a deque and one shared waiter future: much cheaper per event than asyncio.Queue
        self._queue: deque[Event] | None = None if on_event else deque()
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self.log = logging.getLogger(f"tll.channel.{self.name}")
        self.dump = parse_dump(self.param("dump", None))
        if self.dump is not None:               # instance attributes: no cost when dump is off
            self._emit = self._emit_dumped      # type: ignore[method-assign]
            self.post = self._dumped_post(self.post)  # type: ignore[method-assign]

    @property
    def control_scheme(self) -> Any:
        """The scheme of this channel's control messages (Online, Connect, Rotate, ...), or None."""
        name = self.CONTROL_SCHEME
        if name is None:
            return None
        scheme = _CONTROL_SCHEMES.get(name)
        if scheme is None:
            import tllschema
            from streamproto import schemas
            scheme = _CONTROL_SCHEMES[name] = tllschema.load(schemas.url(name))
        return scheme

    @property
    def scheme(self) -> Any:
        """The data scheme named by the ``scheme`` init parameter (a tllschema.Scheme), or None."""
        if not hasattr(self, "_scheme"):
            url = self.param("scheme", None)
            if not url:
                self._scheme = None
            else:
                import tllschema
                try:
                    self._scheme = tllschema.load(url)
                except tllschema.SchemeError as e:
                    from streamproto.errors import ConfigError
                    raise ConfigError(f"{self.name}: parameter 'scheme': {e}") from None
        return self._scheme

    # parameters
    @classmethod
    def check_url(cls, url: Url) -> None:
        """ConfigError naming the key and value of the first bad parameter in :attr:`PARAMS`."""
        check_params(url, cls.PARAMS, (cls.PREFIX,) if cls.PREFIX else ())

    def param(self, name: str, default: Any = None, conv: Callable[..., Any] | None = None) -> Any:
        """Init parameter ``PREFIX.name`` or ``name``, converted by ``conv(value, key)``."""
        prefixes = (self.PREFIX,) if self.PREFIX else ()
        return self.url.get(name, default, conv, prefixes=prefixes)

    @staticmethod
    def open_params(params: "str | Mapping[str, Any] | None") -> dict[str, str]:
        """Open parameters as a flat dict (``'mode=seq;seq=20'`` or a mapping)."""
        return parse_params(params)

    # events
    def _emit(self, event: Event) -> None:
        if self._on_event is not None:
            self._on_event(event)
            return
        self._queue.append(event)  # type: ignore[union-attr]
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    def _set_state(self, state: str, reason: str | None = None) -> None:
        if state == self.state and reason == self.reason:
            return
        if state != self.state:
            self.log.info("State change: %s -> %s", self.state, state)
        self.state, self.reason = state, reason
        self._emit(State(state, reason))

    # dumps (installed by __init__ when dump= is set)
    def _emit_dumped(self, event: Event) -> None:
        self._log_message("Recv", event)
        type(self)._emit(self, event)

    def _log_message(self, text: str, event: Event) -> None:
        log = self.log
        if not log.isEnabledFor(logging.INFO):
            return
        if type(event) is State:
            log.info("%s", state_text(text, event.state))
            return
        control = isinstance(event, Control)
        try:
            scheme = self.control_scheme if control else self.scheme
        except ConfigError:
            scheme = None
        warn, line = message_text(text, self.dump or "auto", control=control,
                                  msgid=event.msgid, seq=event.seq,   # type: ignore[union-attr]
                                  body=event.body, addr=event.addr,   # type: ignore[union-attr]
                                  scheme=scheme,
                                  name=event.name if control else None)  # type: ignore[union-attr]
        log.log(logging.WARNING if warn else logging.INFO, "%s", line)

    def _dumped_post(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        def post(msgid: int, seq: int, body: bytes = b"", **kw: Any) -> Any:
            ev = Data(msgid, seq, body, kw.get("addr"))
            self._log_message("Post", ev)
            try:
                return inner(msgid, seq, body, **kw)
            except Exception:
                self._log_failed_post(ev)
                raise
        return post

    def _log_failed_post(self, ev: Data | Control) -> None:
        control = isinstance(ev, Control)
        try:
            scheme = self.control_scheme if control else self.scheme
        except ConfigError:
            scheme = None
        _, line = message_text("Failed to post", "frame", control=control, msgid=ev.msgid,
                               seq=ev.seq, body=ev.body, addr=ev.addr, scheme=scheme,
                               name=ev.name if isinstance(ev, Control) else None)
        self.log.error("%s", line)

    async def next_event(self, timeout: float | None = None) -> Event:
        """Next queued event; asyncio.TimeoutError after ``timeout`` seconds."""
        q = self._queue
        if q is None:
            raise ChannelError(f"{self.name}: events go to the on_event callback, not a queue")
        if q:
            return q.popleft()
        loop = asyncio.get_running_loop()
        end = None if timeout is None else loop.time() + timeout
        while not q:
            w = self._waiter
            if w is None or w.done():
                w = self._waiter = loop.create_future()
            if end is None:
                await asyncio.shield(w)
            else:
                left = end - loop.time()
                if left <= 0:
                    raise asyncio.TimeoutError
                await asyncio.wait_for(asyncio.shield(w), left)
        return q.popleft()

    def drain_events(self) -> list[Event]:
        """Every event queued so far, without waiting."""
        q = self._queue
        if not q:
            return []
        out = list(q)
        q.clear()
        return out

    def __aiter__(self) -> "Channel":
        return self

    async def __anext__(self) -> Event:
        if self._ended:
            raise StopAsyncIteration
        q = self._queue
        ev = q.popleft() if q else await self.next_event()
        if isinstance(ev, State) and ev.state in (CLOSED, ERROR):
            self._ended = True
        return ev

    async def wait_state(self, *states: str, timeout: float | None = 10.0) -> str:
        """Wait until the channel is in one of ``states`` (events stay queued); returns it."""
        async def poll() -> str:
            while self.state not in states:
                await asyncio.sleep(0.001)
            return self.state
        return await asyncio.wait_for(poll(), timeout)

    # interface
    async def open(self, params: "str | Mapping[str, Any] | None" = None) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Closing, the channel's own teardown (:meth:`_shutdown`), then Closed."""
        if self.state == CLOSED:
            return
        self._set_state(CLOSING)
        await self._shutdown()
        self._set_state(CLOSED)

    async def _shutdown(self) -> None:
        """Release sockets, files and tasks (each channel's own part of :meth:`close`)."""

    def post(self, msgid: int, seq: int, body: bytes, *, addr: int | None = None) -> None:
        raise NotImplementedError

    def post_control(self, msgid: int, body: bytes = b"", *, seq: int = 0,
                     addr: int | None = None) -> None:
        """Post a control message (TLL's ``Control`` type); dumped like a data post.

        The base knows ``Rotate`` (msgid 150) for channels with a ``rotate()`` method (a
        ``rotate+file`` writer, a stream server); other controls are channel specific
        (:meth:`_post_control`).
        """
        scheme = self.control_scheme
        m = scheme.by_msgid.get(msgid) if scheme is not None else None
        ev = Control(m.name if m is not None else str(msgid), msgid, seq, body, addr)
        if self.dump is not None:
            self._log_message("Post", ev)
        try:
            self._post_control(msgid, body, seq, addr)
        except Exception:
            if self.dump is not None:
                self._log_failed_post(ev)
            raise

    def _post_control(self, msgid: int, body: bytes, seq: int, addr: int | None) -> None:
        rotate = getattr(self, "rotate", None)
        if msgid == ROTATE and rotate is not None:
            rotate()
            return
        raise ChannelError(f"{self.name}: {self.url.proto} does not accept control message "
                           f"{msgid}")

    async def __aenter__(self) -> "Channel":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.url} {self.state}>"
