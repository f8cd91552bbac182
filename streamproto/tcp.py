"""``tcp://`` channel (``docs/network-format.md#tcp-frames``): asyncio server with connection ids, and client.

Server events: ``Control('Connect', 10, addr=id, body=19 bytes)``, ``Data(msgid, seq, body,
addr=id)``, ``Control('Disconnect', 20, addr=id)``, ``Control('WriteFull'|'WriteReady', addr=id)``.
Client events: State changes and ``Data``. Framing is :mod:`streamproto.frames`.
Also the socket helpers shared with ``pub+tcp``: :func:`listen`, :func:`connect`,
:func:`setup_socket`, :func:`connect_body`.

Every received buffer is cut into frames in one pass and delivered as one
:class:`~streamproto.events.Batch` (``on_batch``) or as per-message Data events. Posts
(``post``, ``post_many``) are collected per connection and written once per event-loop
iteration (or as soon as :data:`WRITE_COALESCE` bytes are waiting).
"""
from __future__ import annotations

import asyncio
import errno
import functools
import logging
import os
import socket
import stat
import struct
from typing import Any, Mapping, Sequence

from streamproto.address import (AF_CHOICES, Address, address_from_params, format_sockaddr,
                                  parse_address, resolve)
from streamproto.channel import Channel
from streamproto.config import (Conv, Url, duration_seconds, int_range, one_of, parse_bool,
                                parse_int, parse_size, size_range)
from streamproto.errors import ChannelError, ConfigError, RemoteProtocolError
from streamproto.events import ACTIVE, CLOSED, CLOSING, ERROR, OPENING, Batch, Control, Message
from streamproto.frames import FrameFormat, FrameReader, frame_format

__all__ = ["TcpServer", "TcpClient", "listen", "connect", "setup_socket", "connect_body",
           "recv_limit", "CONTROL_IDS", "SOCKET_PARAMS", "WRITE_COALESCE"]

log = logging.getLogger("streamproto.tcp")

#: Posted bytes waiting for the end of the event-loop iteration are written at once past this.
WRITE_COALESCE = 64 * 1024

#: tcp control scheme (streamproto/schemas/tcp-control.yaml).
CONTROL_IDS = {"Connect": 10, "Disconnect": 20, "WriteFull": 30, "WriteReady": 40, "WriteFlush": 50}

_C_INT = (1 << 31) - 1      # setsockopt/listen take a C int


def _bind_address(text: str, key: str) -> Address:
    try:
        return parse_address(text)
    except ConfigError as e:
        raise ConfigError(f"parameter {key!r}: {e}") from None


#: Init parameters of the socket helpers below, shared by ``tcp://`` and ``pub+tcp://``
#: (see :attr:`streamproto.channel.Channel.PARAMS`).
SOCKET_PARAMS: dict[str, Conv] = {
    "mode": one_of("client", "server"),
    "af": one_of(*AF_CHOICES),
    "max-size": size_range(1),
    "buffer-size": size_range(1),
    "recv-buffer-size": size_range(1),
    "send-buffer-size": size_range(1),
    "send-buffer-hwm": size_range(0),
    "sndbuf": size_range(0, _C_INT),
    "rcvbuf": size_range(0, _C_INT),
    "nodelay": parse_bool,
    "keepalive": parse_bool,
    "timestamping": parse_bool,
    "listen-backlog": int_range(0, _C_INT),
    "bind": _bind_address,
    "timeout": duration_seconds,
}


def connect_body(family: int, peer: Any) -> bytes:
    """19-byte Connect body: int8 tag (0 ipv4, 1 ipv6, 2 unix), 16-byte union, uint16 port."""
    if family == socket.AF_INET:
        return struct.pack("<b16sH", 0, socket.inet_pton(socket.AF_INET, peer[0]), peer[1])
    if family == socket.AF_INET6:
        return struct.pack("<b16sH", 1, socket.inet_pton(socket.AF_INET6, peer[0]), peer[1])
    return struct.pack("<b16sH", 2, b"", 0)


def recv_limit(url: Url, prefixes: tuple[str, ...], server: bool) -> int:
    """Receive limit: ``recv-buffer-size`` or ``buffer-size``, else 2x (server) / 4x (client) ``max-size`` (64kb)."""
    for key in ("recv-buffer-size", "buffer-size"):
        v = url.get(key, None, parse_size, prefixes)
        if v is not None:
            return v
    return url.get("max-size", 64 * 1024, parse_size, prefixes) * (2 if server else 4)


def setup_socket(sock: socket.socket, url: Url, prefixes: tuple[str, ...] = ()) -> None:
    """Data-socket options: non-blocking, ``sndbuf``/``rcvbuf``, TCP_NODELAY and keepalive."""
    sock.setblocking(False)
    snd = url.get("sndbuf", None, parse_size, prefixes)
    rcv = url.get("rcvbuf", None, parse_size, prefixes)
    if snd:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, snd)
    if rcv:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcv)
    if sock.family != socket.AF_UNIX:
        if url.get("nodelay", True, parse_bool, prefixes):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if url.get("keepalive", True, parse_bool, prefixes):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)


def _address(url: Url) -> Address:
    return address_from_params(url.host, url.params)


def listen(url: Url, prefixes: tuple[str, ...] = ()) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for every address the URL resolves to.

    Unlike the reference, a stale Unix socket file (left by a server that was killed: nothing
    accepts on it) is removed and the bind retried, so a crashed server restarts by itself; a
    path some live server still listens on stays an error.
    """
    addr = _address(url)
    backlog = url.get("listen-backlog", 10, parse_int, prefixes)
    socks: list[socket.socket] = []
    try:
        for family, sockaddr in resolve(addr, server=True):
            s = socket.socket(family, socket.SOCK_STREAM)
            socks.append(s)
            if family != socket.AF_UNIX:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and sockaddr[0] == "::":
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            try:
                s.bind(sockaddr)
            except OSError as e:
                if not (e.errno == errno.EADDRINUSE and family == socket.AF_UNIX
                        and _remove_stale_socket(sockaddr)):
                    raise ChannelError(f"cannot bind {addr}: {e.strerror or e}") from None
                try:
                    s.bind(sockaddr)
                except OSError as e2:
                    raise ChannelError(f"cannot bind {addr}: {e2.strerror or e2}") from None
            s.listen(backlog)
            s.setblocking(False)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def _remove_stale_socket(path: Any) -> bool:
    """Remove a Unix socket file nobody listens on; False when it is live or not a socket."""
    if not isinstance(path, str) or not path or path.startswith("\0"):
        return False
    try:
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return False
    except OSError:
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return False  # a live server answers: not ours to remove
    except ConnectionRefusedError:
        pass
    except OSError:
        return False
    finally:
        probe.close()
    log.warning("removing stale socket file %s (no server listens on it)", path)
    try:
        os.unlink(path)
    except OSError:
        return False
    return True


def bound_addresses(socks: list[socket.socket]) -> list[str]:
    """``host:port`` (real port when 0 was asked) or path of each listening socket."""
    return [format_sockaddr(s.family, s.getsockname()) for s in socks]


def unix_paths(socks: list[socket.socket]) -> list[str]:
    """Socket files of the non-abstract Unix listeners (removed again on server close)."""
    out = []
    for s in socks:
        if s.family == socket.AF_UNIX:
            name = s.getsockname()
            if isinstance(name, str) and name and not name.startswith("\0"):
                out.append(name)
    return out


def unlink_paths(paths: list[str]) -> None:
    """Remove socket files, ignoring ones already gone."""
    for name in paths:
        try:
            os.unlink(name)
        except OSError:
            pass


async def connect(url: Url, prefixes: tuple[str, ...] = (),
                  timeout: float | None = None) -> socket.socket:
    """Connected non-blocking socket to the first address the URL resolves to."""
    addr = _address(url)
    family, sockaddr = resolve(addr, server=False)[0]
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        setup_socket(s, url, prefixes)
        bind = url.get("bind", None, None, prefixes)
        if bind:
            s.bind(resolve(parse_address(bind), server=True)[0][1])
        loop = asyncio.get_running_loop()
        if family == socket.AF_UNIX:
            await asyncio.wait_for(_connect_unix(s, sockaddr), timeout)
        else:
            await asyncio.wait_for(loop.sock_connect(s, sockaddr), timeout)
    except OSError as e:
        s.close()
        raise ChannelError(f"cannot connect to {addr}: {e.strerror or e}") from None
    except BaseException:
        s.close()
        raise
    return s


async def _connect_unix(s: socket.socket, sockaddr: Any, patience: float = 10.0) -> None:
    """Non-blocking Unix connect. A full listen backlog gives EAGAIN (not EINPROGRESS): the
    connection was *not* made, so retry with a short back-off instead of waiting for writable."""
    loop = asyncio.get_running_loop()
    end = loop.time() + patience
    delay = 0.0005
    while True:
        try:
            s.connect(sockaddr)
            return
        except (BlockingIOError, InterruptedError):
            if loop.time() > end:
                raise OSError(11, "listen backlog full") from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.02)


class _Conn(asyncio.Protocol):
    """One framed connection (server side or client)."""

    def __init__(self, owner: "_FramedMixin", cid: int | None, fmt: FrameFormat, limit: int) -> None:
        self.owner, self.cid = owner, cid
        self.reader = FrameReader(fmt, limit, where=f"{owner.name} connection {cid}")
        self.transport: asyncio.Transport | None = None
        self.closing = False
        self.pending: list[bytes] = []      # posted frames not yet handed to the transport
        self.pending_size = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream connection's is a Transport

    def data_received(self, data: bytes) -> None:
        msgs: list[Message] = []
        try:
            self.reader.split(data, msgs)
        except RemoteProtocolError as e:    # the peer broke the framing: drop it
            if msgs:
                self.owner._emit_batch(Batch(msgs, self.cid))
            self.owner._conn_error(self, str(e))
            return
        if msgs:
            self.owner._emit_batch(Batch(msgs, self.cid))

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.pending, self.pending_size = [], 0
        self.owner._conn_lost(self, exc)

    def pause_writing(self) -> None:
        self.owner._emit(Control("WriteFull", 30, 0, b"", addr=self.cid))

    def resume_writing(self) -> None:
        self.owner._emit(Control("WriteReady", 40, 0, b"", addr=self.cid))

    def _writable(self) -> asyncio.Transport:
        t = self.transport
        if t is None or t.is_closing():
            raise ChannelError(f"connection {self.cid} is closed")
        return t

    def post(self, data: bytes) -> None:
        """Queue framed bytes; written at the end of this loop iteration (or now when many)."""
        self._writable()
        self.pending.append(data)
        self.pending_size += len(data)
        if self.pending_size >= WRITE_COALESCE:
            self.flush()
        elif len(self.pending) == 1:
            self.owner._flush_later(self)

    def flush(self) -> None:
        """Hand the queued frames to the transport (one write)."""
        if self.pending:
            data, self.pending, self.pending_size = self.pending, [], 0
            t = self.transport
            if t is not None and not t.is_closing():
                if len(data) == 1:
                    t.write(data[0])
                else:
                    t.writelines(data)

    def write_now(self, data: bytes | bytearray | memoryview) -> None:
        """Queued frames, then ``data``, to the transport now."""
        t = self._writable()
        if self.pending:
            self.flush()
        t.write(data)


def _frame_param(text: str, key: str) -> FrameFormat:
    return frame_format(text)


class _FramedMixin(Channel):
    PREFIX = "tcp"
    CONTROL_SCHEME = "tcp-control.yaml"
    PARAMS = {**SOCKET_PARAMS, "frame": _frame_param}

    def _setup(self, server: bool) -> None:
        self.frame = frame_format(self.param("frame", "std"))
        self.limit = recv_limit(self.url, (self.PREFIX,), server)
        self.hwm = self.param("send-buffer-hwm", None, parse_size)
        self._dirty: list[_Conn] = []
        self._flush_handle: asyncio.Handle | None = None

    def _flush_later(self, conn: _Conn) -> None:
        self._dirty.append(conn)
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush_dirty)

    def _flush_dirty(self) -> None:
        self._flush_handle = None
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            conn.flush()

    def _cancel_flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._dirty = []

    def _conn_error(self, conn: _Conn, reason: str) -> None:
        raise NotImplementedError

    def _conn_lost(self, conn: _Conn, exc: Exception | None) -> None:
        raise NotImplementedError


class TcpServer(_FramedMixin):
    """``tcp://ADDR;mode=server``: one connection id (int, from 1) per accepted client."""

    def __init__(self, url: "Url | str | Mapping[str, Any]", **kw: Any) -> None:
        super().__init__(url, **kw)
        self._setup(server=True)
        self.connections: dict[int, _Conn] = {}
        self.addresses: list[str] = []
        self._servers: list[asyncio.AbstractServer] = []
        self._socks: list[socket.socket] = []
        self._paths: list[str] = []
        self._next_id = 1

    async def open(self, params: "str | Mapping[str, Any] | None" = None) -> None:
        """Bind and listen; the bound addresses (real port for port 0) are in :attr:`addresses`."""
        self._check_can_open()
        self._set_state(OPENING)
        loop = asyncio.get_running_loop()
        try:
            self._socks = listen(self.url, (self.PREFIX,))
            self._paths = unix_paths(self._socks)
            for s in self._socks:
                self._servers.append(await loop.create_server(
                    functools.partial(self._new_conn, s), sock=s))
        except Exception as e:
            await self._shutdown()
            self._set_state(ERROR, str(e))
            raise
        self.addresses = bound_addresses(self._socks)
        self.info["client.init"] = f"{self.url.proto}://{self.addresses[0]};frame={self.frame.name}"
        self._set_state(ACTIVE)

    def _new_conn(self, lsock: socket.socket) -> _Conn:
        cid = self._next_id
        self._next_id += 1
        conn = _AcceptedConn(self, cid, self.frame, self.limit)
        return conn

    def _accepted(self, conn: _Conn, transport: asyncio.Transport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                setup_socket(sock, self.url, (self.PREFIX,))
            except OSError:
                pass
        if self.hwm is not None:
            transport.set_write_buffer_limits(high=self.hwm)
        peer = transport.get_extra_info("peername")
        cid = conn.cid
        assert cid is not None                  # accepted connections are numbered
        self.connections[cid] = conn
        self._emit(Control("Connect", 10, 0, connect_body(sock.family if sock else socket.AF_UNIX,
                                                          peer), addr=cid))

    def _conn(self, addr: int | None) -> _Conn:
        conn = self.connections.get(addr)  # type: ignore[arg-type]  # None finds none: refused below
        if conn is None:
            raise ChannelError(f"{self.name}: post to unknown connection {addr}")
        return conn

    def post(self, msgid: int, seq: int, body: bytes = b"", *, addr: int | None = None) -> None:
        """Send one frame to connection ``addr``; ChannelError if it is not connected."""
        conn = self._conn(addr)
        conn.post(self.frame.encode_header(len(body), msgid, seq) + bytes(body))

    def post_many(self, messages: "Sequence[Message]", *, addr: int | None = None) -> None:
        """Send ``(msgid, seq, body)`` messages to connection ``addr`` in one write.

        Nothing is sent when one of them does not fit the frame (LocalProtocolError names it).
        """
        conn = self._conn(addr)
        if messages:
            conn.post(self.frame.encode_many(messages))

    def post_frames(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        """Write already framed bytes (many frames at once) to connection ``addr`` now."""
        conn = self.connections.get(addr)
        if conn is None or conn.transport is None or conn.transport.is_closing():
            raise ChannelError(f"{self.name}: post to unknown or closed connection {addr}")
        conn.write_now(data)

    def write_buffer_size(self, addr: int) -> int:
        """Bytes posted to connection ``addr`` but not yet accepted by its socket."""
        conn = self.connections.get(addr)
        if conn is None or conn.transport is None:
            raise ChannelError(f"{self.name}: unknown connection {addr}")
        return conn.transport.get_write_buffer_size() + conn.pending_size

    def set_write_limits(self, addr: int, high: int, low: int | None = None) -> None:
        """Write-buffer watermarks of one connection: ``WriteFull`` is emitted once more than
        ``high`` bytes are buffered, ``WriteReady`` when it drained to ``low`` again."""
        conn = self.connections.get(addr)
        if conn is None or conn.transport is None:
            raise ChannelError(f"{self.name}: unknown connection {addr}")
        conn.transport.set_write_buffer_limits(high=high, low=low)

    def disconnect(self, addr: int) -> None:
        """Close one client connection (a Disconnect event follows)."""
        conn = self.connections.get(addr)
        if conn is None:
            raise ChannelError(f"{self.name}: disconnect of unknown connection {addr}")
        conn.closing = True
        conn.flush()
        if conn.transport is not None:
            conn.transport.close()

    def _conn_error(self, conn: _Conn, reason: str) -> None:
        log.warning("%s: %s", self.name, reason)
        conn.closing = True
        if conn.transport is not None:
            conn.transport.abort()

    def _conn_lost(self, conn: _Conn, exc: Exception | None) -> None:
        if self.connections.pop(conn.cid, None) is not None:  # type: ignore[arg-type]  # server conns are numbered
            self._emit(Control("Disconnect", 20, 0, b"", addr=conn.cid))

    async def _shutdown(self) -> None:
        self._cancel_flush()
        for conn in list(self.connections.values()):
            if conn.transport is not None:
                conn.transport.abort()
        for srv in self._servers:
            srv.close()
        for srv in self._servers:
            try:
                await asyncio.wait_for(srv.wait_closed(), 1.0)
            except asyncio.TimeoutError:
                pass
        unlink_paths(self._paths)
        for s in self._socks:
            s.close()
        self._servers, self._socks, self._paths = [], [], []
        await asyncio.sleep(0)


class _AcceptedConn(_Conn):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.owner._accepted(self, transport)  # type: ignore[attr-defined]  # owner: a TcpServer


class TcpClient(_FramedMixin):
    """``tcp://ADDR`` client: Active once connected; peer EOF -> Closed (reason says so)."""

    def __init__(self, url: "Url | str | Mapping[str, Any]", **kw: Any) -> None:
        super().__init__(url, **kw)
        self._setup(server=False)
        self._conn: _Conn | None = None

    async def open(self, params: "str | Mapping[str, Any] | None" = None) -> None:
        """Connect; raises ChannelError (state Error) when the server is not there."""
        self._check_can_open()
        self._set_state(OPENING)
        timeout = self.param("timeout", None, duration_seconds)
        try:
            sock = await connect(self.url, (self.PREFIX,), timeout or None)
            loop = asyncio.get_running_loop()
            conn = _Conn(self, None, self.frame, self.limit)
            await loop.create_connection(lambda: conn, sock=sock)
        except (ChannelError, ConfigError, OSError) as e:
            self._set_state(ERROR, str(e))
            raise
        if self.hwm is not None and conn.transport is not None:
            conn.transport.set_write_buffer_limits(high=self.hwm)
        self._conn = conn
        self._set_state(ACTIVE)

    def post(self, msgid: int, seq: int, body: bytes = b"", *, addr: int | None = None) -> None:
        """Send one frame (buffered by asyncio when the socket is full: never blocks)."""
        if self._conn is None or self.state != ACTIVE:
            raise ChannelError(f"{self.name}: post in state {self.state}")
        self._conn.post(self.frame.encode_header(len(body), msgid, seq) + bytes(body))

    def post_many(self, messages: "Sequence[Message]", *, addr: int | None = None) -> None:
        """Send ``(msgid, seq, body)`` messages in one write; nothing is sent when one of them
        does not fit the frame (LocalProtocolError names it)."""
        if self._conn is None or self.state != ACTIVE:
            raise ChannelError(f"{self.name}: post in state {self.state}")
        if messages:
            self._conn.post(self.frame.encode_many(messages))

    def _conn_error(self, conn: _Conn, reason: str) -> None:
        conn.closing = True
        self._set_state(ERROR, reason)
        if conn.transport is not None:
            conn.transport.abort()

    def _conn_lost(self, conn: _Conn, exc: Exception | None) -> None:
        self._conn = None
        if conn.closing or self.state in (CLOSING, CLOSED, ERROR):
            return
        if exc is not None:
            self._set_state(ERROR, f"connection lost: {exc}")
        else:
            self._set_state(CLOSED, "connection closed by peer")

    async def _shutdown(self) -> None:
        conn, self._conn = self._conn, None
        self._cancel_flush()
        if conn is not None and conn.transport is not None:
            conn.closing = True
            conn.flush()
            conn.transport.close()
            await asyncio.sleep(0)
