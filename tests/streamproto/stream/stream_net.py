"""Helpers for the asyncio stream tests: URLs in a tmp dir, storage seeding, event collection,
and a recording Unix-socket proxy (to compare our bytes with the golden wire captures)."""
from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any, Callable

from streamproto import events as ev
from streamproto.storage import FileWriter
from streamproto.stream.channel import StreamClient, StreamServer
from tests.streamproto.netutil import until
from tests.streamproto.stream.stream_wirelog import EventLine

STORED = [(10, 10, b"aaa"), (10, 20, b"bbb"), (10, 30, b"ccc")]


def seed(path: Path, messages=STORED, **kw) -> Path:
    with FileWriter(str(path), **kw) as w:
        for m in messages:
            w.post(*m)
    return path


def server_url(d: Path, storage: str | None = None, extra: str = "") -> str:
    storage = storage or f"file://{d}/storage.dat"
    return (f"stream+pub+tcp://{d}/online.sock;mode=server;request=tcp://{d}/request.sock;"
            f"storage={storage}{extra}")


def client_url(d: Path, extra: str = "", online: str | None = None,
               request: str | None = None) -> str:
    return (f"stream+pub+tcp://{online or f'{d}/online.sock'};"
            f"request=tcp://{request or f'{d}/request.sock'}{extra}")


def line(e: Any) -> EventLine:
    """Our event as a golden event line (STATE msgid = state id)."""
    if isinstance(e, ev.State):
        return EventLine("STATE", ev.STATE_IDS[e.state], 0, b"")
    if isinstance(e, ev.Data):
        return EventLine("DATA", e.msgid, e.seq, bytes(e.body))
    return EventLine("CTRL", e.msgid, e.seq, bytes(e.body))


def seqs(events: list) -> list[int]:
    return [e.seq for e in events if isinstance(e, ev.Data)]


def is_online(e: Any) -> bool:
    return isinstance(e, ev.Control) and e.name == "Online"


class Collector:
    """An on_event callback that records events and lets a test await a condition on them."""

    def __init__(self, hook: Callable[[Any], None] | None = None) -> None:
        self.events: list = []
        self.hook = hook
        self._cond: asyncio.Event | None = None

    def __call__(self, e: Any) -> None:
        self.events.append(e)
        if self.hook is not None:
            self.hook(e)

    async def wait(self, pred: Callable[[list], bool], timeout: float = 5.0,
                   what: str = "events") -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not pred(self.events):
            if loop.time() > end:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; got "
                                     f"{self.events[-12:]}")
            await asyncio.sleep(0.002)

    def data(self) -> list:
        return [e for e in self.events if isinstance(e, ev.Data)]

    def seqs(self) -> list[int]:
        return seqs(self.events)

    def states(self) -> list[str]:
        return [e.state for e in self.events if isinstance(e, ev.State)]


wait_for = until  # poll a condition with a bounded wait (tests/streamproto/netutil.py)


class Proxy:
    """Unix-socket forwarder recording every chunk as (conn index, direction, bytes)."""

    def __init__(self, listen: str, target: str) -> None:
        self.listen, self.target = listen, target
        self.chunks: list[tuple[int, str, bytes]] = []
        self.conns = 0
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> "Proxy":
        self._server = await asyncio.start_unix_server(self._handle, self.listen)
        return self

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.conns += 1
        n = self.conns
        tr, tw = await asyncio.open_unix_connection(self.target)

        async def pipe(src, dst, direction):
            try:
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    self.chunks.append((n, direction, data))
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                try:
                    dst.close()
                except Exception:
                    pass

        t1 = asyncio.ensure_future(pipe(r, tw, "C>S"))
        t2 = asyncio.ensure_future(pipe(tr, w, "S>C"))
        self._tasks |= {t1, t2}
        await asyncio.gather(t1, t2, return_exceptions=True)

    def stream(self, direction: str) -> bytes:
        return b"".join(d for _, dr, d in self.chunks if dr == direction)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def raw_connect(path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_unix_connection(path)


def unix_ok() -> bool:
    return hasattr(socket, "AF_UNIX")


__all__ = ["STORED", "seed", "server_url", "client_url", "line", "seqs", "is_online",
           "Collector", "wait_for", "Proxy", "raw_connect", "StreamClient", "StreamServer"]
