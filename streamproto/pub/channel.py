"""asyncio ``pub+tcp://`` server and client over :mod:`streamproto.pub.protocol`.

Server: ``PubServer(url)``; ``await open({'last-seq': N})``; ``post(msgid, seq, body)`` is
synchronous, never blocks and never fails because of a subscriber; data goes out in one
non-blocking ``send`` per contiguous run of ring entries, right after the current event-loop
step (or at once with :meth:`PubServer.flush`); :meth:`PubServer.post_many` stores a list of
messages at once. Events: ``Control('Connect'|'Disconnect', addr=id)``.

Client: ``PubClient(url)``; ``await open()``; State(Active) after HelloReply
(:attr:`PubClient.server_seq`), then ``Data(msgid, seq, body)`` per message, or with
``on_batch=`` / ``async for item in client.batches()`` one :class:`~streamproto.events.Batch`
per received buffer; server EOF -> State(Error).
"""
from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any, Mapping, Sequence

from streamproto.channel import Channel
from streamproto.config import INT64_MAX, Url, int_range, parse_bool, size_range
from streamproto.errors import ChannelError, ConfigError
from streamproto.events import ACTIVE, CLOSED, CLOSING, ERROR, OPENING, Batch, State
from streamproto.pub.protocol import DEFAULT_RING_SIZE, PubClientCore, PubServerCore
from streamproto.tcp import (SOCKET_PARAMS, bound_addresses, connect_body, connect, listen,
                             recv_limit, setup_socket, unix_paths, unlink_paths)

__all__ = ["PubServer", "PubClient"]

log = logging.getLogger("streamproto.pub")


class _SockIO:
    """SubscriberIO over a non-blocking socket registered with the event loop."""

    __slots__ = ("server", "sid", "sock", "fd", "loop")

    def __init__(self, server: "PubServer", sid: int, sock: socket.socket) -> None:
        self.server, self.sid, self.sock = server, sid, sock
        self.fd = sock.fileno()
        assert server._loop is not None  # subscribers are accepted only while open
        self.loop: asyncio.AbstractEventLoop = server._loop

    def send(self, data: memoryview) -> int:
        try:
            return self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0

    def want_write(self, flag: bool) -> None:
        if flag:
            self.loop.add_writer(self.fd, self.server.core.flush, self.sid)
        else:
            self.loop.remove_writer(self.fd)

    def drop(self, reason: str) -> None:
        log.info("%s: drop subscriber %d: %s", self.server.name, self.sid, reason)
        self.loop.remove_reader(self.fd)
        self.loop.remove_writer(self.fd)
        self.server._socks.pop(self.sid, None)
        self.sock.close()


class PubServer(Channel):
    """``pub+tcp://ADDR;mode=server;size=1mb``: publisher with a ring of ``size`` bytes."""

    PREFIX = "pub"
    CONTROL_SCHEME = "tcp-control.yaml"
    PARAMS = {**SOCKET_PARAMS, "size": size_range(0, 1 << 40), "hello": parse_bool}

    def __init__(self, url: "Url | str | Mapping[str, Any]", **kw: Any) -> None:
        super().__init__(url, **kw)
        size = self.param("size", DEFAULT_RING_SIZE, size_range(0, 1 << 40))
        self.core = PubServerCore(size, hello=self.param("hello", True, parse_bool),
                                  on_event=self._emit)
        self.addresses: list[str] = []
        self._listeners: list[socket.socket] = []
        self._socks: dict[int, socket.socket] = {}
        self._next_id = 1
        self._flush_handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def last_seq(self) -> int:
        """Seq HelloReply reports now (-1 when the ring is empty)."""
        return self.core.last_seq

    @property
    def subscribers(self) -> list[int]:
        """Ids of connected subscribers (handshake done or not)."""
        return list(self.core.subscribers)

    async def open(self, params: "str | Mapping[str, Any] | None" = None) -> None:
        """Listen; open parameter ``last-seq`` seeds the ring (HelloReply reports it)."""
        self._check_can_open()
        p = self.open_params(params)
        last_seq = (int_range(-1, INT64_MAX)(p["last-seq"], "last-seq")
                    if p.get("last-seq") not in (None, "") else None)
        self._set_state(OPENING)
        self._loop = asyncio.get_running_loop()
        try:
            self._listeners = listen(self.url, (self.PREFIX,))
        except (ChannelError, ConfigError) as e:
            self._set_state(ERROR, str(e))
            raise
        self.core.open(last_seq)
        for ls in self._listeners:
            self._loop.add_reader(ls.fileno(), self._accept, ls)
        self.addresses = bound_addresses(self._listeners)
        self.info["client.init"] = f"pub+tcp://{self.addresses[0]};mode=client"
        self._set_state(ACTIVE)

    def _accept(self, ls: socket.socket) -> None:
        loop = self._loop
        assert loop is not None                 # set by open() before listening
        for _ in range(16):
            try:
                sock, peer = ls.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.warning("%s: accept failed: %s", self.name, e)
                return
            try:
                setup_socket(sock, self.url, (self.PREFIX,))
            except OSError as e:
                log.warning("%s: socket setup failed: %s", self.name, e)
                sock.close()
                continue
            sid = self._next_id
            self._next_id += 1
            self._socks[sid] = sock
            self.core.connect(sid, _SockIO(self, sid, sock), connect_body(sock.family, peer))
            if sid in self._socks:
                loop.add_reader(sock.fileno(), self._readable, sid)

    def _readable(self, sid: int) -> None:
        sock = self._socks.get(sid)
        if sock is None:
            return
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.core.disconnect(sid, f"receive failed: {e}")
            return
        if not data:
            self.core.disconnect(sid, "subscriber closed the connection")
        else:
            self.core.receive(sid, data)

    def post(self, msgid: int, seq: int, body: bytes | bytearray | memoryview = b"", *,
             addr: int | None = None, more: bool = False) -> None:
        """Store a message; subscribers get it after this event-loop step (``more``: wait for a later post)."""
        if self.state != ACTIVE:
            raise ChannelError(f"{self.name}: post in state {self.state}")
        self.core.post(msgid, seq, body, flush=False)
        if not more and self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush_soon)  # type: ignore[union-attr]  # Active: set

    def post_many(self, messages: "Sequence[tuple[int, int, bytes | bytearray | memoryview]]",
                  *, addr: int | None = None, more: bool = False) -> None:
        """Store ``(msgid, seq, body)`` messages in order (as that many :meth:`post` calls, one
        copy per contiguous run); subscribers get them after this event-loop step.

        ChannelError, before anything is stored, for a message too large for the ring.
        """
        if self.state != ACTIVE:
            raise ChannelError(f"{self.name}: post in state {self.state}")
        self.core.post_many(messages, flush=False)
        if not more and self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush_soon)  # type: ignore[union-attr]  # Active: set

    def _flush_soon(self) -> None:
        self._flush_handle = None
        self.core.flush()

    def flush(self) -> None:
        """Send pending data to every subscriber now (non-blocking)."""
        self.core.flush()

    def disconnect(self, addr: int) -> None:
        """Drop one subscriber (Disconnect event follows)."""
        if addr not in self.core.subscribers:
            raise ChannelError(f"{self.name}: disconnect of unknown subscriber {addr}")
        self.core.disconnect(addr, "disconnected by the server")

    async def _shutdown(self) -> None:
        """Send what was posted, drop subscribers, stop listening, remove Unix socket files."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
            self.core.flush()               # a message posted before close still goes out
        for sid in list(self.core.subscribers):
            self.core.disconnect(sid, "server closed")
        for ls in self._listeners:
            if self._loop is not None:
                self._loop.remove_reader(ls.fileno())
        unlink_paths(unix_paths(self._listeners))
        for ls in self._listeners:
            ls.close()
        self._listeners = []


class _ClientProto(asyncio.Protocol):
    def __init__(self, owner: "PubClient") -> None:
        self.owner = owner
        self.core = owner.core
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream connection's is a Transport

    def _state(self, ev: State) -> None:
        self.owner._set_state(ev.state, ev.reason)
        if ev.state == ERROR and self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        self.core.receive_batch(data, self._batch, self._state)

    def _batch(self, msgs: list) -> None:
        self.owner._emit_batch(Batch(msgs))

    def eof_received(self) -> bool:
        if self.owner.state not in (CLOSING, CLOSED):
            for ev in self.core.eof():
                self._state(ev)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.owner.state not in (CLOSING, CLOSED, ERROR):
            if exc is not None:
                for ev in self.core.connection_lost(f"connection lost: {exc}"):
                    self.owner._set_state(ev.state, ev.reason)
            else:
                for ev in self.core.eof():
                    self._state(ev)


class PubClient(Channel):
    """``pub+tcp://ADDR`` subscriber; ``peer`` names it in the Hello."""

    PREFIX = "pub"
    CONTROL_SCHEME = "tcp-control.yaml"
    PARAMS = {**SOCKET_PARAMS, "hello": parse_bool}

    def __init__(self, url: "Url | str | Mapping[str, Any]", **kw: Any) -> None:
        super().__init__(url, **kw)
        self.limit = recv_limit(self.url, (self.PREFIX,), server=False)
        self.hello = self.param("hello", True, parse_bool)
        self.peer = self.param("peer", "")
        self.core = PubClientCore(self.peer, limit=self.limit, hello=self.hello)
        self._proto: _ClientProto | None = None

    @property
    def server_seq(self) -> int:
        """Last seq the server reported in HelloReply (-1: empty ring or not yet known)."""
        return self.core.server_seq

    @property
    def last_seq(self) -> int:
        """Seq of the last data message received (-1 before any)."""
        return self.core.last_seq

    async def open(self, params: "str | Mapping[str, Any] | None" = None) -> None:
        """Connect and send Hello; the state turns Active when HelloReply arrives."""
        self._check_can_open()
        self.core = PubClientCore(self.peer, limit=self.limit, hello=self.hello)
        self._set_state(OPENING)
        try:
            sock = await connect(self.url, (self.PREFIX,))
            loop = asyncio.get_running_loop()
            proto = _ClientProto(self)
            await loop.create_connection(lambda: proto, sock=sock)
        except (ChannelError, ConfigError, OSError) as e:
            self._set_state(ERROR, str(e))
            raise
        self._proto = proto
        if self.hello:
            assert proto.transport is not None  # create_connection made the connection
            proto.transport.write(self.core.hello())
        else:
            self._set_state(ACTIVE)

    async def _shutdown(self) -> None:
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.close()
            await asyncio.sleep(0)
