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
from typing import Any, AsyncIterator, Callable, ClassVar, Mapping, Sequence

from streamproto.config import Conv, Url, check_params, load_url, parse_params
from streamproto.dump import message_text, parse_dump, state_text
from streamproto.errors import ChannelError, ConfigError
from streamproto.events import CLOSED, CLOSING, ERROR, ROTATE, Batch, Control, Data, State, Event

__all__ = ["Channel", "EventCallback", "BatchCallback"]

EventCallback = Callable[[Event], None]
_CONTROL_SCHEMES: dict[str, Any] = {}
BatchCallback = Callable[[Batch], None]


class Channel:
    """A channel: ``await open(params)``, ``post(...)``, events, ``await close()``.

    Events go to ``on_event(event)`` when given (called synchronously from the event loop),
    otherwise into a queue read with :meth:`next_event` or ``async for event in channel`` (which
    ends after the channel reports Closed or Error).

    Batch delivery, next to per-message delivery: data messages that arrive together (one
    received buffer) go to ``on_batch(batch)`` as one :class:`~streamproto.events.Batch` when
    that callback is given (State and Control events still go to ``on_event`` or the queue,
    in order with the batches); without callbacks, ``async for item in channel.batches()``
    yields a Batch for such data and the other events one by one. Both views read the same
    queue: switching between ``async for event in channel`` and :meth:`batches` keeps order.
    """

    #: Parameter prefix (``pub``, ``tcp``, ``stream``): ``PREFIX.name`` wins over ``name``.
    PREFIX = ""
    #: Scheme file (in :mod:`streamproto.schemas`) naming this channel's control messages.
    CONTROL_SCHEME: str | None = None
    #: Init parameters the channel reads, with their converters: all of them are checked when
    #: the channel is created, so a bad value is refused before anything is opened.
    PARAMS: ClassVar[Mapping[str, Conv]] = {}

    def __init__(self, url: "Url | str | Mapping[str, Any]", *,
                 on_event: EventCallback | None = None, name: str | None = None,
                 on_batch: BatchCallback | None = None) -> None:
        self.url = load_url(url)
        self.check_url(self.url)
        self.name = name or self.url.params.get("name") or self.url.proto
        self.state = CLOSED
        self.reason: str | None = None
        self.info: dict[str, str] = {}
        self._on_event = on_event
        self._on_batch = on_batch
        # a deque and one shared waiter future: much cheaper per event than asyncio.Queue;
        # it holds events and whole batches (expanded when read per message)
        self._queue: deque[Event | Batch] | None = None if on_event else deque()
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self.log = logging.getLogger(f"tll.channel.{self.name}")
        self.dump = parse_dump(self.param("dump", None))
        if self.dump is not None:               # instance attributes: no cost when dump is off
            self._emit = self._emit_dumped      # type: ignore[method-assign]  # dump=: logs
            self._emit_batch = self._emit_batch_dumped  # type: ignore[method-assign]  # dump=: logs
            self.post = self._dumped_post(self.post)  # type: ignore[method-assign]  # dump=: wraps
            self.post_many = self._dumped_post_many(self.post_many)  # type: ignore[method-assign]  # dump=: wraps

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
        self._queue.append(event)  # type: ignore[union-attr]  # no on_event: events are queued
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    def _emit_batch(self, batch: Batch) -> None:
        """Deliver data messages received together: ``on_batch``, else per message, else queued."""
        if self._on_batch is not None:
            self._on_batch(batch)
            return
        cb = self._on_event
        if cb is not None:
            for e in batch.events():
                cb(e)
            return
        self._queue.append(batch)  # type: ignore[union-attr]  # no callbacks: events are queued
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

    def _emit_batch_dumped(self, batch: Batch) -> None:
        for event in batch.events():
            self._log_message("Recv", event)
        type(self)._emit_batch(self, batch)

    def _log_message(self, text: str, event: Event) -> None:
        log = self.log
        if not log.isEnabledFor(logging.INFO):
            return
        if isinstance(event, State):
            log.info("%s", state_text(text, event.state))
            return
        control = isinstance(event, Control)
        try:
            scheme = self.control_scheme if control else self.scheme
        except ConfigError:
            scheme = None
        warn, line = message_text(text, self.dump or "auto", control=control,
                                  msgid=event.msgid, seq=event.seq,
                                  body=event.body, addr=event.addr,
                                  scheme=scheme,
                                  name=event.name if isinstance(event, Control) else None)
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

    def _dumped_post_many(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        def post_many(messages: "Sequence[tuple[int, int, bytes]]", **kw: Any) -> Any:
            for msgid, seq, body in messages:
                self._log_message("Post", Data(msgid, seq, body, kw.get("addr")))
            return inner(messages, **kw)
        return post_many

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
            return self._pop_event(q)
        await self._wait_queued(timeout)
        return self._pop_event(q)

    @staticmethod
    def _pop_event(q: "deque[Event | Batch]") -> Event:
        """Next queued event; a queued batch is expanded into its Data events first."""
        ev = q.popleft()
        if isinstance(ev, Batch):
            evs = ev.events()
            q.extendleft(reversed(evs))
            return q.popleft()  # type: ignore[return-value]  # the batch's first Data event
        return ev

    async def _wait_queued(self, timeout: float | None) -> None:
        """Wait until the queue is not empty; asyncio.TimeoutError after ``timeout`` seconds."""
        q = self._queue
        assert q is not None
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

    def drain_events(self) -> list[Event]:
        """Every event queued so far, without waiting (batches expanded into Data events)."""
        q = self._queue
        if not q:
            return []
        out: list[Event] = []
        for ev in q:
            if isinstance(ev, Batch):
                out += ev.events()
            else:
                out.append(ev)
        q.clear()
        return out

    async def batches(self) -> AsyncIterator[Batch | Event]:
        """``async for item in channel.batches()``: queued data as :class:`Batch` objects (one
        per received buffer; Data events already split off by per-message reads come back
        grouped), any other event as itself. Ends after Closed or Error, like ``async for``."""
        q = self._queue
        if q is None:
            raise ChannelError(f"{self.name}: events go to the on_event callback, not a queue")
        while not self._ended:
            if not q:
                await self._wait_queued(None)
            item = q.popleft()
            if isinstance(item, Batch):
                yield item
                continue
            if isinstance(item, Data):
                cls = Batch.type_for(item)
                key = cls.event_key(item)
                run = [item]
                while q and type(q[0]) is type(item) and cls.event_key(q[0]) == key:
                    run.append(q.popleft())  # type: ignore[arg-type]  # q[0] is of item's type (checked)
                yield cls.of_events(run)
                continue
            if isinstance(item, State) and item.state in (CLOSED, ERROR):
                self._ended = True
            yield item

    def __aiter__(self) -> "Channel":
        return self

    async def __anext__(self) -> Event:
        if self._ended:
            raise StopAsyncIteration
        q = self._queue
        ev = self._pop_event(q) if q else await self.next_event()
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

    def _check_can_open(self) -> None:
        """ChannelError unless the channel is Closed or in Error (where every open starts)."""
        if self.state not in (CLOSED, ERROR):
            raise ChannelError(f"{self.name}: open in state {self.state}")

    async def close(self) -> None:
        """Closing, the channel's own teardown (:meth:`_shutdown`), then Closed."""
        if self.state == CLOSED:
            return
        self._set_state(CLOSING)
        await self._shutdown()
        self._set_state(CLOSED)

    async def _shutdown(self) -> None:
        """Release sockets, files and tasks (each channel's own part of :meth:`close`)."""

    def post(self, msgid: int, seq: int, body: bytes = b"", *,
             addr: int | None = None) -> int | None:
        """Send or store one message (``addr``: the connection on servers); storing channels
        return the seq stored."""
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
    def post_many(self, messages: "Sequence[tuple[int, int, bytes]]", *,
                  addr: int | None = None) -> Any:
        """Post ``(msgid, seq, body)`` messages in order (publishing channels do it in one go)."""
        post = type(self).post          # the class's own post: a dump= wrapper logs in post_many
        for msgid, seq, body in messages:
            post(self, msgid, seq, body, addr=addr)

    async def __aenter__(self) -> "Channel":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.url} {self.state}>"
