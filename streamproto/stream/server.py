"""Sans-I/O core of a ``stream+`` server's request connection (``docs/network-format.md#request-conversation``).

One :class:`RequestSession` per accepted request connection. It owns no socket and no storage
file: the composition frames and unframes bytes, and hands it a :class:`HistorySource` (the
server's storage seen through :meth:`~HistorySource.open_reader`).

Inputs:

* ``receive(msgid, seq, body)`` — one message decoded from the connection;
* ``pull(buffered)`` — "the socket can take more": ``buffered`` is the transport's current
  write-buffer size in bytes; returns the next history messages ``(msgid, seq, body)`` to send
  (original msgid/seq/body, framed by the composition like any data message);
* ``eof()`` — the client went away.

Outputs of ``receive``: :class:`Send` (a Reply or Error to write, frame seq 0) and
:class:`Disconnect` (close the connection once what was written is flushed). After a successful
Reply, :attr:`RequestSession.want` tells the composition what to wait for before the next
``pull``: :data:`WANT_WRITABLE` (write buffer at or above ``high_water``: await drain) or
:data:`WANT_DATA` (the reader is at the end of storage: await the next stored message). The
reader is only read when the buffer is below ``high_water``, so one slow client costs at most
``high_water`` + one batch of memory and never delays posting or other clients.

Request translation (``docs/network-format.md#request-translation``):

=====================  =========================================  ===========================
request                history starts at S                        Reply(last, requested, block)
=====================  =========================================  ===========================
seq N                  N (no range check; a file reader starts    (last, N, -1)
                       at the first stored seq >= N)
last                   last - 1 (reference quirk kept: the last   (last, last - 1, -1)
                       two messages of a contiguous stream)
                       empty storage: Error
initial                storage's first seq; empty: -1             (last, first, -1)
block                  Error: no block storage configured         —
=====================  =========================================  ===========================

Where the reference server only logs a bad request and never answers (the client then waits
forever), this server answers an :class:`~streamproto.stream.protocol.Error` and disconnects:
a body shorter than the fixed size, version != 1, an unknown union tag, a RequestOld with a
negative seq, a broken string/list pointer, a seq above 2^63-1, a ClientDone or any other
message before the request. A message other than ClientDone *after* the Reply cannot be
answered (every frame after the Reply is history data), so the connection is just dropped.
"""
from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

from streamproto.errors import RemoteProtocolError, StorageError
from streamproto.statemachine import next_state
from streamproto.stream import protocol as P
from streamproto.stream.server_state import SESSION_TRANSITIONS, SessionInput, SessionState

__all__ = ["HistorySource", "HistoryReader", "MemoryHistory", "RequestSession", "SessionState",
           "SessionInput", "SESSION_TRANSITIONS", "Send", "Disconnect", "WANT_WRITABLE",
           "WANT_DATA", "DEFAULT_HIGH_WATER", "DEFAULT_BATCH", "translate"]

log = logging.getLogger("streamproto.stream.server")

DEFAULT_HIGH_WATER = 256 * 1024
DEFAULT_BATCH = 1024
WANT_WRITABLE, WANT_DATA = "writable", "data"
NO_BLOCKS = "Requested block, but no block storage configured"
NO_DATA_FOR_LAST = "Failed to request last message: no data on the server"
_INT64_MAX = (1 << 63) - 1

Message = tuple[int, int, bytes]   # (msgid, seq, body)


class HistoryReader(Protocol):
    """A storage reader positioned at some seq that follows the storage as it grows."""

    def read(self, limit: int) -> Sequence[Message]:
        """Up to ``limit`` next stored messages available now; empty = at the end for now."""

    def close(self) -> None:
        """Release the reader."""


class HistorySource(Protocol):
    """The server's storage as the request handling sees it."""

    @property
    def first_seq(self) -> int:
        """Seq of the oldest stored message, -1 if empty (``info.seq-begin``)."""

    @property
    def last_seq(self) -> int:
        """Seq of the newest stored message, -1 if empty (``info.seq``)."""

    def open_reader(self, seq: int) -> HistoryReader:
        """Reader starting at the first message with seq >= ``seq``; StorageError if it can't."""


class MemoryHistory:
    """A :class:`HistorySource` kept in a list (tests, and servers without a disk)."""

    def __init__(self, messages: Iterable[Message] = ()):
        self._msgs: list[Message] = []
        self._seqs: list[int] = []
        for m in messages:
            self.append(*m)

    @property
    def first_seq(self) -> int:
        return self._seqs[0] if self._seqs else -1

    @property
    def last_seq(self) -> int:
        return self._seqs[-1] if self._seqs else -1

    def append(self, msgid: int, seq: int, body: bytes) -> None:
        """Store one message; seq must grow."""
        if self._seqs and seq <= self._seqs[-1]:
            raise StorageError(f"seq {seq} is not after the last stored seq {self._seqs[-1]}")
        self._msgs.append((msgid, seq, bytes(body)))
        self._seqs.append(seq)

    def open_reader(self, seq: int) -> "_MemoryReader":
        return _MemoryReader(self, bisect.bisect_left(self._seqs, seq))


class _MemoryReader:
    __slots__ = ("_src", "_pos")

    def __init__(self, src: MemoryHistory, pos: int):
        self._src, self._pos = src, pos

    def read(self, limit: int) -> list[Message]:
        out = self._src._msgs[self._pos:self._pos + limit]
        self._pos += len(out)
        return out

    def close(self) -> None:
        self._pos = 1 << 62


@dataclass(slots=True)
class Send:
    """Write one request-channel message (Reply or Error; frame seq 0)."""

    msgid: int
    seq: int
    body: bytes


@dataclass(slots=True)
class Disconnect:
    """Close the connection after flushing what was written; ``reason`` is for logs."""

    reason: str


def translate(req: P.Request, source: HistorySource) -> tuple[int, P.Reply]:
    """Start seq S and the Reply for ``req``; RemoteProtocolError(reason): answer Error(reason)."""
    last = source.last_seq
    if req.kind == P.REQUEST_SEQ:
        if req.seq > _INT64_MAX or req.seq < 0:
            raise RemoteProtocolError(f"Requested seq {req.seq} is out of range 0..{_INT64_MAX}")
        return req.seq, P.Reply(last, req.seq, -1)
    if req.kind == P.REQUEST_LAST:
        if last < 0:
            raise RemoteProtocolError(NO_DATA_FOR_LAST)
        return last - 1, P.Reply(last, last - 1, -1)
    if req.kind == P.REQUEST_INITIAL:
        if last < 0:
            return -1, P.Reply(-1, -1, -1)
        first = source.first_seq
        return first, P.Reply(last, first, -1)
    raise RemoteProtocolError(NO_BLOCKS)


class RequestSession:
    """Request handling for one connection; see the module docstring.

    States and the transition table: :mod:`streamproto.stream.server_state`; every state change
    goes through :meth:`_transition`.
    """

    def __init__(self, source: HistorySource, *, server_name: str = "", peer: str = "",
                 high_water: int = DEFAULT_HIGH_WATER, batch: int = DEFAULT_BATCH):
        self.source = source
        self.server_name = server_name
        self.peer = peer                  # transport-level peer id, for logs
        self.high_water = high_water
        self.batch = batch
        self._state = SessionState.WAIT_REQUEST
        self.request: P.Request | None = None
        self.reply: P.Reply | None = None
        self.want: str | None = None
        self.sent_seq = -1                # seq of the last history message handed out
        self.done_seq: int | None = None  # ClientDone.seq, once received
        self.reason: str | None = None    # why the session ended
        self._reader: HistoryReader | None = None

    @property
    def client_name(self) -> str:
        return self.request.client if self.request else ""

    @property
    def state(self) -> SessionState:
        """Where the session is (:class:`SessionState`)."""
        return self._state

    @property
    def streaming(self) -> bool:
        """True while history/live data should be pulled and written."""
        return self._state is SessionState.STREAMING

    # ---------------------------------------------------------------- inputs
    def receive(self, msgid: int, seq: int, body: bytes) -> list:
        """One message from the client: returns Send / Disconnect outputs."""
        state = self._state
        if state is SessionState.WAIT_REQUEST:
            return self._on_request(msgid, body)
        if state is SessionState.STREAMING:
            if msgid == P.CLIENT_DONE:
                try:
                    self.done_seq = P.decode_client_done(body).seq
                except RemoteProtocolError as e:  # the reference does not read it either
                    log.info("%s: unreadable ClientDone (%s), closing anyway", self._who(), e)
                return self._end(SessionInput.CLIENT_DONE, f"client done at seq {self.done_seq}")
            return self._end(SessionInput.UNEXPECTED_MESSAGE,
                             f"unexpected message msgid {msgid} ({len(body)} bytes) after the "
                             "Reply; only ClientDone (40) is valid", level=logging.WARNING)
        self._transition(SessionInput.LATE_MESSAGE)
        return []

    def pull(self, buffered: int = 0) -> Sequence[Message]:
        """Next history messages to write, given ``buffered`` bytes still unsent."""
        if self._state is not SessionState.STREAMING:    # else fast path: PULL keeps STREAMING
            self._transition(SessionInput.PULL)           # before the Reply or after the end
            self.want = None
            return ()
        if buffered >= self.high_water:
            self.want = WANT_WRITABLE
            return ()
        assert self._reader is not None  # opened before the Reply
        try:
            batch = self._reader.read(self.batch)
        except StorageError as e:
            self._end(SessionInput.READER_FAILED,
                      f"storage reader failed after seq {self.sent_seq}: {e}", level=logging.ERROR)
            return ()
        if not batch:
            self.want = WANT_DATA
            return ()
        self.want = None
        self.sent_seq = batch[-1][1]
        return batch

    def eof(self) -> list:
        """The connection closed (EOF or error)."""
        if self._state is SessionState.CLOSED:
            self._transition(SessionInput.EOF)    # already ended: ignored
        else:
            self._end(SessionInput.EOF, "client disconnected")
        return []

    # ---------------------------------------------------------------- internals
    def _who_session(self) -> str:
        return f"request session of {self._who()}"

    def _who(self) -> str:
        name = self.client_name
        return f"client {name!r} ({self.peer})" if name else f"client {self.peer}"

    def _transition(self, inp: SessionInput) -> SessionState:
        """The only place the state changes: ``SESSION_TRANSITIONS[state][inp]``, or
        LocalProtocolError naming both."""
        new = next_state(SESSION_TRANSITIONS, self._state, inp, self._who_session)
        self._state = new
        return new

    def _end(self, inp: SessionInput, reason: str, level: int = logging.INFO) -> list:
        self._transition(inp)
        log.log(level, "%s: %s", self._who(), reason)
        self.reason = reason
        self.want = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        return [Disconnect(reason)]

    def _error(self, text: str) -> list:
        body = P.encode_error(P.Error(text, self.server_name))
        return [Send(P.ERROR, 0, body)] + self._end(SessionInput.REQUEST_REFUSED,
                                                    f"answered Error: {text}",
                                                    level=logging.WARNING)

    def _on_request(self, msgid: int, body: bytes) -> list:
        if msgid not in (P.REQUEST, P.REQUEST_OLD):
            if msgid == P.CLIENT_DONE:
                return self._error("ClientDone received before any request")
            return self._error(f"Invalid message from client: msgid {msgid}, expected "
                               f"{P.REQUEST} Request or {P.REQUEST_OLD} RequestOld")
        try:
            req = P.decode_request(msgid, body)
        except RemoteProtocolError as e:
            return self._error(f"Invalid request: {e}")
        self.request = req
        if req.old and req.kind == P.REQUEST_SEQ and req.seq < 0:
            return self._error(f"Negative seq: {req.seq}")
        try:
            start, reply = translate(req, self.source)
        except RemoteProtocolError as e:
            return self._error(str(e))
        try:
            self._reader = self.source.open_reader(max(start, 0))
        except StorageError as e:
            return self._error(f"Failed to open storage from seq {start}: {e}")
        if self.server_name:
            reply = P.Reply(reply.last_seq, reply.requested_seq, reply.block_seq,
                            self.server_name)
        self.reply = reply
        self._transition(SessionInput.REQUEST)
        log.info("%s: %s request, history from seq %d, last %d", self._who(), req.kind,
                 reply.requested_seq, reply.last_seq)
        return [Send(P.REPLY, 0, P.encode_reply(reply))]
