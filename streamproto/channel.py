"""Base of the asyncio channels: state, event delivery (callback or async iteration), parameters."""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, AsyncIterator, Callable, Mapping, Sequence

from streamproto.config import Url, load_url, parse_params
from streamproto.errors import ChannelError
from streamproto.events import CLOSED, CLOSING, ERROR, Batch, Data, State, Event

__all__ = ["Channel", "EventCallback", "BatchCallback"]

EventCallback = Callable[[Event], None]
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

    def __init__(self, url: "Url | str | Mapping[str, Any]", *,
                 on_event: EventCallback | None = None, name: str | None = None,
                 on_batch: BatchCallback | None = None) -> None:
        self.url = load_url(url)
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
        self._queue.append(batch)  # type: ignore[union-attr]
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    def _set_state(self, state: str, reason: str | None = None) -> None:
        if state == self.state and reason == self.reason:
            return
        self.state, self.reason = state, reason
        self._emit(State(state, reason))

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
            return q.popleft()  # type: ignore[return-value]
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
                while q and type(q[0]) is type(item) and cls.event_key(q[0]) == key:  # type: ignore[arg-type]
                    run.append(q.popleft())  # type: ignore[arg-type]
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
        ev = self._pop_event(q) if q else await self.next_event()  # type: ignore[arg-type]
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

    def post_many(self, messages: "Sequence[tuple[int, int, bytes]]", *,
                  addr: int | None = None) -> Any:
        """Post ``(msgid, seq, body)`` messages in order (publishing channels do it in one go)."""
        for msgid, seq, body in messages:
            self.post(msgid, seq, body, addr=addr)

    async def __aenter__(self) -> "Channel":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.url} {self.state}>"
