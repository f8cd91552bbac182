"""asyncio ``stream+`` server: storage + online pub+tcp server + request tcp server.

See :mod:`streamproto.stream.channel` for the API overview. This module composes
:class:`~streamproto.stream.server.RequestSession` (one per request connection) with
:class:`~streamproto.tcp.TcpServer`, :class:`~streamproto.pub.channel.PubServer` and the storage
writer, through :class:`~streamproto.stream.history.SharedHistory`: storage windows are read
and framed once, and every request connection positioned in a window is written memoryview
slices of the same bytes (one write per pump of a connection).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Mapping, Sequence

from streamproto.channel import Channel
from streamproto.config import (Url, child_url, one_of, parse_bool, parse_params, parse_size,
                                required_child, size_range)
from streamproto.errors import ChannelError, ConfigError, StorageError
from streamproto.events import ACTIVE, CLOSED, ERROR, OPENING, Control, Data
from streamproto.pub.channel import PubServer
from streamproto.storage.rotate import RotateWriter
from streamproto.storage.openers import open_writer
from streamproto.storage.writer import SeqError
from streamproto.stream.history import FramedRun, SharedHistory, StorageHistory
from streamproto.stream.server import (DEFAULT_HIGH_WATER, Disconnect, RequestSession, Send,
                                       SessionState, WANT_DATA, WANT_WRITABLE)
from streamproto.tcp import TcpServer

__all__ = ["StreamServer", "online_url", "SeqError"]

log = logging.getLogger("streamproto.stream")

_CHILDREN = ("request", "storage", "blocks")
_LOCAL = ("dump", "stat", "name")


def online_url(url: Url) -> Url:
    """The online child of a ``stream+ONLINE://`` URL: ``ONLINE://HOST`` with the stream's
    parameters minus ``dump``/``stat`` and the ``request``/``storage``/``blocks`` sub-trees."""
    if not url.proto.startswith("stream+") or len(url.proto) <= len("stream+"):
        raise ConfigError(f"{url.proto}: expected stream+ONLINE (e.g. stream+pub+tcp)")
    params = {k: v for k, v in url.params.items()
              if k not in _LOCAL and not any(k == c or k.startswith(c + ".") for c in _CHILDREN)}
    return Url(url.proto[len("stream+"):], url.host, params)


class StreamServer(Channel):
    """``stream+pub+tcp://ONLINE;mode=server;request=tcp://REQ;storage=file://PATH``.

    ``await open()``; ``post(msgid, seq, body) -> seq`` (storage first, then online);
    ``rotate()``; ``last_seq``; events: State, online ``Connect``/``Disconnect`` controls.
    """

    PREFIX = "stream"
    CONTROL_SCHEME = "stream-server-control.yaml"
    PARAMS = {"mode": one_of("client", "server"), "autoseq": parse_bool,
              "max-size": size_range(0)}

    def __init__(self, url: "Url | str | Mapping[str, Any]", *, on_event: Any = None,
                 name: str | None = None, params: "str | Mapping[str, Any] | None" = None) -> None:
        super().__init__(url, on_event=on_event, name=name)
        u = self.url
        self.online_url = online_url(u)
        self.request_url = required_child(u, "request", "the tcp server answering history requests")
        self.request_url.params.setdefault("mode", "server")
        if self.request_url.proto != "tcp":
            raise ConfigError(f"{self.name}: request channel must be tcp://, got "
                              f"{self.request_url.proto}://")
        PubServer.check_url(self.online_url)        # the children's parameters, before open
        TcpServer.check_url(self.request_url)
        self.storage_url = required_child(u, "storage", "file:// or rotate+file:// storage",
                                          "file://./storage.dat")
        if self.storage_url.proto not in ("file", "rotate+file"):
            raise ConfigError(f"{self.name}: storage must be file:// or rotate+file://, got "
                              f"{self.storage_url.proto}://")
        if child_url(u, "blocks") is not None:
            raise ConfigError(f"{self.name}: parameter 'blocks': block storage is not supported")
        self.autoseq = self.param("autoseq", False, parse_bool)
        self.max_size = self.param("max-size", None, parse_size)
        hwm = self.request_url.get("send-buffer-hwm", None, parse_size, ("tcp",))
        self.high_water = hwm if hwm else DEFAULT_HIGH_WATER
        self.server_name = self.param("server-name", "")
        self._open_params = params
        self.last_seq = -1
        self.storage: Any = None
        self.history: StorageHistory | None = None
        self.shared: SharedHistory | None = None
        self.online: PubServer | None = None
        self.request: TcpServer | None = None
        self.sessions: dict[int, RequestSession] = {}
        self._waiting: set[int] = set()
        self._wake_handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop          # set by open(), used only while open

    # ------------------------------------------------------------------ lifetime
    @property
    def addresses(self) -> list[str]:
        """Online (pub) addresses, then request addresses."""
        return ((self.online.addresses if self.online else [])
                + (self.request.addresses if self.request else []))

    async def open(self, params: "str | Mapping[str, Any] | None" = None) -> None:
        """Open storage, then the online pub server (``last-seq`` = last stored seq), then the
        request server. Raises (state Error) when any of them fails."""
        self._check_can_open()
        p = parse_params(params if params is not None else self._open_params)
        self._set_state(OPENING)
        self._loop = asyncio.get_running_loop()
        try:
            surl = Url(self.storage_url.proto, self.storage_url.host,
                       {**self.storage_url.params,
                        **{k[8:]: v for k, v in p.items() if k.startswith("storage.")}})
            surl.params["dir"] = "w"
            scheme = self.param("scheme", None)
            if scheme and not surl.get("scheme", None, prefixes=("file",)):
                surl.params["scheme"] = scheme
            self.storage = open_writer(surl)
            self.history = StorageHistory(surl, self.storage)
            self.last_seq = self.history.last_seq
            online_params = {k: v for k, v in p.items()
                             if not any(k.startswith(c + ".") for c in _CHILDREN)}
            if self.last_seq >= 0:
                online_params["last-seq"] = str(self.last_seq)
            self.online = PubServer(self.online_url, on_event=self._on_online,
                                    name=f"{self.name}/stream")
            await self.online.open(online_params)
            self.request = TcpServer(self.request_url, on_event=self._on_request,
                                     name=f"{self.name}/request")
            await self.request.open({k[8:]: v for k, v in p.items() if k.startswith("request.")})
            self.shared = SharedHistory(self.history, self.request.frame)
        except Exception as e:
            await self._shutdown()
            self._set_state(ERROR, str(e))
            raise
        self.info["seq"] = str(self.last_seq)
        self._set_state(ACTIVE)

    async def _shutdown(self) -> None:
        """Drop every client, close the sockets and the storage."""
        if self._wake_handle is not None:
            self._wake_handle.cancel()
            self._wake_handle = None
        for s in self.sessions.values():
            s.eof()
        self.sessions.clear()
        self._waiting.clear()
        if self.shared is not None:
            self.shared.close()
            self.shared = None
        for ch in (self.request, self.online):
            if ch is not None:
                try:
                    await ch.close()
                except Exception as e:     # pragma: no cover - best effort
                    log.warning("%s: closing %s failed: %s", self.name, ch.name, e)
        self.request = self.online = None
        if self.storage is not None:
            try:
                self.storage.close()
            except StorageError as e:
                log.warning("%s: closing storage failed: %s", self.name, e)
            self.storage = None

    async def __aenter__(self) -> "StreamServer":
        if self.state in (CLOSED, ERROR):
            await self.open()
        return self

    # ------------------------------------------------------------------ posting
    def post(self, msgid: int, seq: int, body: bytes | bytearray | memoryview = b"", *,
             addr: int | None = None) -> int:
        """Store then publish one message; returns its seq (``last + 1`` with autoseq).

        ChannelError when not Active or the body exceeds ``max-size``; :class:`SeqError` when
        ``seq <= last``; StorageError when the write fails (nothing is published then).
        """
        online = self.online
        if self.state != ACTIVE or online is None:     # Active: the children are open
            raise ChannelError(f"{self.name}: post in state {self.state}")
        if self.max_size is not None and len(body) > self.max_size:
            raise ChannelError(f"{self.name}: message msgid {msgid} of {len(body)} bytes exceeds "
                               f"max-size {self.max_size}")
        last = self.last_seq
        if self.autoseq:
            seq = last + 1
        elif seq <= last:
            raise SeqError(f"{self.name}: seq {seq} is not greater than the last stored seq "
                           f"{last} (posts must have strictly increasing seqs)")
        try:
            self.storage.post(msgid, seq, body)
        except StorageError as e:
            raise type(e)(f"{self.name}: storing seq {seq} failed, message not published: "
                          f"{e}") from None
        self.last_seq = seq
        online.post(msgid, seq, body)
        if self._waiting and self._wake_handle is None:
            self._wake_handle = self._loop.call_soon(self._wake)
        return seq

    def post_many(self, messages: "Sequence[tuple[int, int, bytes | bytearray | memoryview]]",
                  *, addr: int | None = None) -> int:
        """Store then publish several ``(msgid, seq, body)`` messages in order; returns the
        last stored seq. Each is checked and stored as :meth:`post` does; the online side
        gets the stored ones in one batch. On an error the messages before the failing one
        are stored and published, the rest are not (the exception says which seq failed).
        """
        online = self.online
        if self.state != ACTIVE or online is None:     # Active: the children are open
            raise ChannelError(f"{self.name}: post in state {self.state}")
        stored: list[tuple[int, int, bytes | bytearray | memoryview]] = []
        store = self.storage.post
        max_size, autoseq = self.max_size, self.autoseq
        last = self.last_seq
        try:
            for msgid, seq, body in messages:
                if max_size is not None and len(body) > max_size:
                    raise ChannelError(f"{self.name}: message msgid {msgid} of {len(body)} bytes "
                                       f"exceeds max-size {max_size}")
                if autoseq:
                    seq = last + 1
                elif seq <= last:
                    raise SeqError(f"{self.name}: seq {seq} is not greater than the last stored "
                                   f"seq {last} (posts must have strictly increasing seqs)")
                try:
                    store(msgid, seq, body)
                except StorageError as e:
                    raise type(e)(f"{self.name}: storing seq {seq} failed, message not "
                                  f"published: {e}") from None
                last = seq
                stored.append((msgid, seq, body))
        finally:
            if stored:
                self.last_seq = last
                online.post_many(stored)
                if self._waiting and self._wake_handle is None:
                    self._wake_handle = self._loop.call_soon(self._wake)
        return self.last_seq

    def rotate(self) -> str | None:
        """Start a new file of a ``rotate+file://`` storage; returns the closed file's path."""
        if not isinstance(self.storage, RotateWriter):
            raise ChannelError(f"{self.name}: rotate needs rotate+file:// storage, not "
                               f"{self.storage_url.proto}://")
        history = self.history
        assert history is not None                  # open() sets it with the storage
        path = self.storage.rotate()
        history.rotated()
        return path

    # ------------------------------------------------------------------ children
    def _on_online(self, ev: Any) -> None:
        if type(ev) is Control:                     # Connect / Disconnect of subscribers
            self._emit(ev)
        # states of the child are reflected by open/close; nothing else to forward

    def _on_request(self, ev: Any) -> None:
        if type(ev) is Data:
            addr = ev.addr
            assert addr is not None                 # a tcp server's events name the connection
            s = self.sessions.get(addr)
            if s is not None:
                self._apply(addr, s, s.receive(ev.msgid, ev.seq, ev.body))
            return
        if type(ev) is not Control:
            return
        addr = ev.addr
        assert addr is not None
        if ev.name == "Connect":
            shared, req = self.shared, self.request
            assert req is not None                  # its own events: set until it has closed
            if shared is None:                      # accepted while the server is closing
                try:
                    req.disconnect(addr)
                except ChannelError:
                    pass
                return
            self.sessions[addr] = RequestSession(shared,
                                                 server_name=self.server_name,
                                                 peer=f"request connection {addr}",
                                                 high_water=self.high_water + 1)
            try:
                req.set_write_limits(addr, self.high_water, self.high_water // 2)
            except ChannelError:
                pass
        elif ev.name == "Disconnect":
            s = self.sessions.pop(addr, None)
            self._waiting.discard(addr)
            if s is not None:
                s.eof()
        elif ev.name == "WriteReady":
            s = self.sessions.get(addr)
            if s is not None and s.want == WANT_WRITABLE:
                self._pump(addr)

    def _apply(self, addr: int, s: RequestSession, out: list) -> None:
        req = self.request
        assert req is not None                      # its events brought us here
        for o in out:
            if type(o) is Send:
                try:
                    req.post(o.msgid, o.seq, o.body, addr=addr)
                except ChannelError:
                    pass
            elif type(o) is Disconnect:
                self._drop(addr)
        if s.streaming:
            self._pump(addr)

    def _drop(self, addr: int) -> None:
        self._waiting.discard(addr)
        self.sessions.pop(addr, None)
        req = self.request
        assert req is not None                      # sessions live while it is open
        try:
            req.disconnect(addr)
        except ChannelError:
            pass

    def _wake(self) -> None:
        self._wake_handle = None
        waiting, self._waiting = self._waiting, set()
        for addr in waiting:
            self._pump(addr)

    def _pump(self, addr: int) -> None:
        """Write history to one connection until its buffer is full, storage has no more, or
        it had its share of this loop iteration (``high_water`` bytes: then it continues
        after the other connections' turns, so one that reads fast cannot run far ahead).

        A shared-window run (up to a window of messages) goes out as one memoryview slice of
        the window: one write per batch, no copy on our side.
        """
        s = self.sessions.get(addr)
        req = self.request
        if s is None or req is None:
            return
        written = 0
        while True:
            try:
                buffered = req.write_buffer_size(addr)
            except ChannelError:
                return
            batch = s.pull(buffered)
            if not batch:
                break
            if type(batch) is FramedRun:
                data: Any = batch.frames()
            else:                                   # another HistorySource: frame here
                data = req.frame.encode_many(list(batch))
            try:
                req.post_frames(addr, data)
            except ChannelError:
                return
            written += len(data)
            if written >= self.high_water:
                if s.streaming:                     # more to send: after the others' turns
                    self._loop.call_soon(self._pump, addr)
                return
        if s.state is SessionState.CLOSED:           # storage reader failed
            self._drop(addr)
        elif s.want == WANT_DATA:                   # woken by the next post
            self._waiting.add(addr)
