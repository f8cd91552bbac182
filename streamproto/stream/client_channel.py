"""asyncio ``stream+`` client: online pub+tcp subscription + short-lived request connection.

See :mod:`streamproto.stream.channel` for the API overview. The merge logic is the sans-I/O
:class:`streamproto.stream.client.StreamClientCore` (here ``core``); this module only runs the two
connections and routes what happens on them into it.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Mapping

from streamproto.channel import Channel
from streamproto.config import (INT64_MAX, Url, int_range, one_of, parse_params, required_child,
                                size_range)
from streamproto.errors import (ConfigError, LocalProtocolError, RemoteProtocolError,
                                StreamprotoError)
from streamproto.events import ACTIVE, CLOSED, ERROR, Control, Data, State
from streamproto.frames import FrameReader, frame_format
from streamproto.pub.channel import PubClient
from streamproto.stream.client import (DEFAULT_RING_SIZE, CloseRequest, OpenRequest, SendRequest,
                                       StreamBatch, StreamClientCore, StreamData)
from streamproto.stream.server_channel import online_url
from streamproto.tcp import TcpClient, connect, recv_limit

__all__ = ["StreamClient", "StreamData"]

log = logging.getLogger("streamproto.stream")


class _RequestConn(asyncio.Protocol):
    """The client's request connection: std (or ``request.frame``) frames both ways."""

    def __init__(self, owner: "StreamClient", fmt: Any, limit: int) -> None:
        self.owner = owner
        self.fmt = fmt
        self.reader = FrameReader(fmt, limit, where=f"{owner.name}/request")
        self.on_frame = owner._on_request_frame
        self.per_message = owner._per_message
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream connection's is a Transport

    def data_received(self, data: bytes) -> None:
        if self.owner._req is not self:
            return
        msgs: list = []
        try:
            self.reader.split(data, msgs)
        except RemoteProtocolError as e:    # the server broke the framing
            self._deliver(msgs)
            self.owner._request_lost(self, str(e), failed=True)
            return
        self._deliver(msgs)

    def _deliver(self, msgs: list) -> None:
        if not msgs:
            return
        if self.per_message:            # the core sees each message as it is delivered
            on_frame = self.on_frame
            for m, s, b in msgs:
                on_frame(m, s, b)
        else:
            self.owner._on_request_batch(msgs)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is None:
            self.owner._request_lost(self, "connection closed by server", failed=False)
        else:
            self.owner._request_lost(self, f"connection lost: {exc}", failed=True)

    def send(self, msgid: int, seq: int, body: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.fmt.encode(msgid, seq, body))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class StreamClient(Channel):
    """``stream+pub+tcp://ONLINE;request=tcp://REQ;peer=NAME;stream.protocol=new``.

    ``await open({'mode': 'seq', 'seq': 0})``; events: State, :class:`StreamData` (``online``
    flag), ``Online``/``EndOfBlock``/``BeginOfBlock`` controls; :attr:`last_seq`,
    :meth:`reopen_params`; ``close_nowait()`` is safe inside an event callback.

    Batch delivery: with ``on_batch=`` (or reading :meth:`batches` without callbacks) data
    comes as :class:`~streamproto.stream.client.StreamBatch` runs (history or online, never
    mixed: the ``Online`` control sits between them). With ``on_event`` alone every message
    goes through the core one at a time, so :attr:`last_seq` is always the message just
    delivered, even when the callback closes the client.
    """

    PREFIX = "stream"
    CONTROL_SCHEME = "stream-control.yaml"
    PARAMS = {"mode": one_of("client", "server"), "protocol": one_of("new", "old"),
              "size": size_range(0, 1 << 40)}

    def __init__(self, url: "Url | str | Mapping[str, Any]", *, on_event: Any = None,
                 name: str | None = None, params: "str | Mapping[str, Any] | None" = None,
                 on_batch: Any = None) -> None:
        super().__init__(url, on_event=on_event, name=name, on_batch=on_batch)
        # per-message callbacks: feed the core per message; otherwise per received buffer
        self._per_message = on_event is not None and on_batch is None
        u = self.url
        self.online_url = online_url(u)
        self.request_url = required_child(u, "request", "the server's request tcp address")
        PubClient.check_url(self.online_url)        # the children's parameters, before open
        TcpClient.check_url(self.request_url)
        self.request_frame = frame_format(self.request_url.get("frame", "std", None, ("tcp",)))
        self.request_limit = recv_limit(self.request_url, ("tcp",), server=False)
        self.core = StreamClientCore(protocol=self.param("protocol", "new"),
                               peer=self.param("peer", ""),
                               ring_size=self.param("size", DEFAULT_RING_SIZE,
                                                    size_range(0, 1 << 40)))
        self._request_message = self.core.request_message
        self._open_params = params
        self._online: PubClient | None = None
        self._req: _RequestConn | None = None
        self._tasks: set[asyncio.Task] = set()
        self._dead = False              # set by close_nowait: drop whatever is still queued

    # ------------------------------------------------------------------ public
    @property
    def last_seq(self) -> int:
        """Seq of the last message delivered (-1 before any): resume from here."""
        return self.core.last_seq

    def reopen_params(self) -> dict[str, Any]:
        """Open parameters that resume with no gap and no duplicate (``seq-data`` from
        :attr:`last_seq` once something was delivered)."""
        return self.core.reopen_params()

    @property
    def error(self) -> str | None:
        return self.core.error

    async def open(self, params: "str | Mapping[str, Any] | None" = None) -> None:
        """Connect the online subscription and start the request; returns once the online
        connection is made (state Opening; Active after the server's Reply).

        Open parameters: ``mode`` (online, seq, seq-data, last, initial, block), ``seq``,
        ``block``, ``block-type``. ConfigError for bad ones; ChannelError (state Error) when
        the online server cannot be reached. Reopening drops unread events of the previous
        session from the queue.
        """
        self._check_can_open()
        self._close_children()          # after an Error: the old online connection
        p = parse_params(params if params is not None else self._open_params)
        mode = p.get("mode")
        if not mode:
            raise ConfigError(f"{self.name}: open parameter 'mode' is mandatory (online, seq, "
                              "seq-data, last, initial)")
        in_range = int_range(0, INT64_MAX)   # what the Request message can carry
        seq = in_range(p["seq"], "seq") if p.get("seq") not in (None, "") else None
        block = in_range(p["block"], "block") if p.get("block") not in (None, "") else None
        if self.core.state.value == "Error":
            self.core.close()
        out = self.core.open(mode, seq, block=block, block_type=p.get("block-type", "default"))
        self._dead = False
        self._ended = False
        if self._queue:                 # unread events of the previous session (its Closed)
            self._queue.clear()
        self.reason = None
        ref: list[PubClient] = []
        pub = PubClient(self.online_url, on_event=lambda ev: self._on_online(ref[0], ev),
                        on_batch=None if self._per_message else
                        (lambda b: self._on_online_batch(ref[0], b)),
                        name=f"{self.name}/stream")
        ref.append(pub)
        self._online = pub
        self._apply(out)
        try:
            await pub.open({k: v for k, v in p.items() if not k.startswith("request.")})
        except StreamprotoError as e:
            if self._online is pub:
                self._online = None
                self._apply(self.core.online_closed(str(e)))
            raise

    def close_nowait(self) -> None:
        """Close at once (Closing, Closed); safe from inside an event callback."""
        if self.core.state.value == "Closed" and self._online is None and self._req is None:
            return
        self._dead = True               # stops an _apply loop further up the stack
        out = self.core.close()
        self._close_children()
        for o in out:
            self._set_state(o.state, o.reason)

    async def close(self) -> None:
        """Close both connections; events Closing, Closed."""
        self.close_nowait()
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)

    async def __aenter__(self) -> "StreamClient":
        if self.state in (CLOSED, ERROR):
            await self.open()
        return self

    # ------------------------------------------------------------------ core outputs
    def _apply(self, out: list) -> None:
        for o in out:
            if self._dead:
                return
            t = type(o)
            if t is StreamData:
                self._emit(o)
            elif t is Control:
                if o.name == "Online":
                    self.log.info("Stream is online on seq %d", o.seq)      # the reference's line
                self._emit(o)
            elif t is StreamBatch:
                self._emit_batch(o)
            elif t is State:
                self._set_state(o.state, o.reason)
                if o.state == ERROR:          # like the reference, the online connection
                    self._close_request()     # stays until close() or a reopen
            elif t is SendRequest:
                if self._req is not None:
                    self._req.send(o.msgid, o.seq, o.body)
            elif t is CloseRequest:
                self._close_request()
            elif t is OpenRequest:
                self._spawn(self._open_request())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        """A background step (request connect, child close) ended: an exception it raised
        must not be lost ("Task exception was never retrieved" with the channel stuck in
        Opening): it fails the channel like a broken request connection."""
        self._tasks.discard(task)
        if task.cancelled():
            return
        e = task.exception()
        if e is None:
            return
        log.warning("%s: %s", self.name, e)
        if self._dead or self.state in (CLOSED, ERROR):
            return
        if self._req is not None:
            self._close_request()
        reason = f"internal error: {e}"
        try:
            out = self.core.request_closed(reason, failed=True)
        except LocalProtocolError:       # no request yet (Connecting): fail through the online side
            out = self.core.online_closed(reason)
        self._apply(out)

    # ------------------------------------------------------------------ online side
    def _on_online(self, pub: PubClient, ev: Any) -> None:
        if pub is not self._online:
            return
        if type(ev) is Data:
            out = self.core.online_message(ev.msgid, ev.seq, ev.body)
            if len(out) == 1 and type(out[0]) is StreamData:
                self._emit(out[0])
            elif out:
                self._apply(out)
            return
        if type(ev) is State:
            if ev.state == ACTIVE:
                self._apply(self.core.online_active(pub.server_seq))
            elif ev.state in (ERROR, CLOSED):
                self._online = None
                self._apply(self.core.online_closed(ev.reason or "online connection closed"))

    def _on_online_batch(self, pub: PubClient, batch: Any) -> None:
        if pub is not self._online:
            return
        out = self.core.online_batch(batch.messages)
        if len(out) == 1 and type(out[0]) is StreamBatch:
            self._emit_batch(out[0])
        elif out:
            self._apply(out)

    # ------------------------------------------------------------------ request side
    async def _open_request(self) -> None:
        loop = asyncio.get_running_loop()
        online = self._online
        try:
            sock = await connect(self.request_url, ("tcp",))
            conn = _RequestConn(self, self.request_frame, self.request_limit)
            await loop.create_connection(lambda: conn, sock=sock)
        except (StreamprotoError, OSError) as e:
            if self._online is online and online is not None:
                self._apply(self.core.request_closed(str(e), failed=True))
            return
        if self._online is not online or online is None or self._dead:
            conn.close()
            return
        self._req = conn
        self._apply(self.core.request_connected())

    def _on_request_frame(self, msgid: int, seq: int, body: bytes) -> None:
        out = self._request_message(msgid, seq, body)      # hot path: one history message
        if len(out) == 1:
            o = out[0]
            if type(o) is StreamData:
                self._emit(o)
                return
        if out:
            self._apply(out)

    def _on_request_batch(self, msgs: list) -> None:
        out = self.core.request_batch(msgs)             # hot path: one run of history
        if len(out) == 1 and type(out[0]) is StreamBatch:
            self._emit_batch(out[0])
        elif out:
            self._apply(out)

    def _request_lost(self, conn: _RequestConn, reason: str, failed: bool) -> None:
        if conn is not self._req:
            return
        self._req = None
        conn.close()
        self._apply(self.core.request_closed(reason, failed=failed))

    def _close_children(self) -> None:
        self._close_request()
        pub, self._online = self._online, None
        if pub is not None:
            self._spawn(pub.close())

    def _close_request(self) -> None:
        conn, self._req = self._req, None
        if conn is not None:
            conn.close()
