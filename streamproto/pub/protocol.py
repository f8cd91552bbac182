"""Sans-I/O core of ``pub+tcp://`` (``docs/network-format.md#pub-handshake``): handshake codecs, server, client.

The ring is in :mod:`streamproto.pub.ring` (re-exported here); the states, inputs and
transition tables of both cores in :mod:`streamproto.pub.state`. A peer's bad bytes raise (and
are handled as) :class:`~streamproto.errors.RemoteProtocolError`.

No sockets here. :class:`PubServerCore` is driven by ``connect``/``receive``/``post``/``flush``
and talks to each subscriber's transport through a small :class:`SubscriberIO` object (send
non-blocking, ask for write readiness, drop the connection). :class:`PubClientCore` is fed bytes
and returns events.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from streamproto.errors import ChannelError, RemoteProtocolError
from streamproto.events import ACTIVE, ERROR, OPENING, Control, Data, Event, Message, State
from streamproto.frames import FrameReader
from streamproto.pub.ring import DEFAULT_RING_SIZE, FRAME, PubRing
from streamproto.pub.state import (PUB_CLIENT_TRANSITIONS, SUBSCRIBER_TRANSITIONS, PubClientInput,
                                   SubscriberInput, SubscriberState)
from streamproto.statemachine import next_state

__all__ = [
    "HELLO_ID", "HELLO_REPLY_ID", "VERSION", "FRAME", "HELLO_LIMIT", "DEFAULT_RING_SIZE",
    "encode_hello", "parse_hello", "Hello", "encode_hello_reply", "decode_hello_reply",
    "PubRing", "SubscriberIO", "PubServerCore", "PubClientCore", "SubscriberState",
    "SubscriberInput", "PubClientInput",
]

HELLO_ID = 100
HELLO_REPLY_ID = 101
VERSION = 1
HELLO_LIMIT = 1024                       # the reference server's handshake buffer
_HELLO = struct.Struct("<hII")           # version, name.offset, name.count|entity<<24
_HELLO_REPLY = struct.Struct("<hq")      # version, seq


# --- Hello / HelloReply ----------------------------------------------------------------------

def encode_hello(name: str | None = "", *, tail_in_frame: bool = False) -> bytes:
    """Hello frame. ``name=None``: null name pointer, 26 bytes, the safest form.

    A string name is laid out as the reference client does: the ``name + NUL`` tail follows the
    10-byte fixed part but ``frame.size`` stays 10 (``tail_in_frame=True`` counts it instead).
    """
    if name is None:
        return FRAME.pack(10, HELLO_ID, 0) + _HELLO.pack(VERSION, 0, 0)
    tail = name.encode() + b"\0"
    if len(tail) >= 1 << 24 or 16 + 10 + len(tail) > HELLO_LIMIT:
        raise ChannelError(f"pub peer name of {len(tail) - 1} bytes is too long for a Hello")
    body = _HELLO.pack(VERSION, 8, len(tail) | 1 << 24) + tail
    return FRAME.pack(len(body) if tail_in_frame else 10, HELLO_ID, 0) + body


@dataclass(frozen=True)
class Hello:
    """A parsed Hello: peer ``name``, bytes ``consumed`` from the buffer, tail bytes still to ``skip``."""

    name: str
    consumed: int
    skip: int


def parse_hello(buf: bytes | bytearray | memoryview) -> Hello | None:
    """Parse a Hello at the start of ``buf``; None while incomplete; RemoteProtocolError if invalid.

    Tolerates the reference client's name tail outside ``frame.size``: the tail bytes already
    in ``buf`` are consumed, the missing ones are reported in ``skip``.
    """
    if len(buf) < 16:
        return None
    size, msgid, _seq = FRAME.unpack_from(buf, 0)
    if msgid != HELLO_ID:
        raise RemoteProtocolError(f"pub handshake: expected Hello (msgid {HELLO_ID}), got "
                                  f"msgid {msgid}")
    if size < _HELLO.size:
        raise RemoteProtocolError(f"pub handshake: Hello size {size} is smaller than "
                                  f"{_HELLO.size}")
    if 16 + size > HELLO_LIMIT:
        raise RemoteProtocolError(f"pub handshake: Hello size {size} exceeds {HELLO_LIMIT - 16}")
    if len(buf) < 16 + size:
        return None
    version, off, word = _HELLO.unpack_from(buf, 16)
    if version != VERSION:
        raise RemoteProtocolError(f"pub handshake: Hello version {version}, expected "
                                  f"{VERSION}")
    count, entity = word & 0xFFFFFF, word >> 24
    end = 16 + size
    name = ""
    if count:
        if entity != 1:
            raise RemoteProtocolError(f"pub handshake: Hello name element size {entity}, "
                                      "expected 1")
        tail_end = 16 + 2 + off + count
        if tail_end > HELLO_LIMIT:
            raise RemoteProtocolError(f"pub handshake: Hello name ({off}+{count}) runs past "
                                      f"{HELLO_LIMIT} bytes")
        end = max(end, tail_end)
        if len(buf) >= tail_end:
            name = bytes(buf[tail_end - count:tail_end - 1]).decode("utf-8", "replace")
    consumed = min(end, len(buf))
    return Hello(name, consumed, end - consumed)


def encode_hello_reply(seq: int) -> bytes:
    """HelloReply frame (26 bytes) reporting the server's last ``seq`` (-1 when empty)."""
    return FRAME.pack(_HELLO_REPLY.size, HELLO_REPLY_ID, 0) + _HELLO_REPLY.pack(VERSION, seq)


def decode_hello_reply(msgid: int, body: bytes) -> int:
    """Server's last seq from a HelloReply frame (-1 for a legacy 2-byte reply)."""
    if msgid != HELLO_REPLY_ID:
        raise RemoteProtocolError(f"pub handshake: expected HelloReply (msgid "
                                  f"{HELLO_REPLY_ID}), got msgid {msgid}")
    if len(body) < 2:
        raise RemoteProtocolError(f"pub handshake: HelloReply of {len(body)} bytes, "
                                  "expected >= 2")
    version, = struct.unpack_from("<h", body)
    if version != VERSION:
        raise RemoteProtocolError(f"pub handshake: HelloReply version {version}, expected "
                                  f"{VERSION}")
    if len(body) < _HELLO_REPLY.size:
        return -1
    return _HELLO_REPLY.unpack_from(body)[1]


# --- server ----------------------------------------------------------------------------------

class SubscriberIO(Protocol):
    """What :class:`PubServerCore` needs from one subscriber's transport."""

    def send(self, data: memoryview) -> int:
        """Non-blocking send; bytes written (0 when the socket buffer is full); OSError on failure."""

    def want_write(self, flag: bool) -> None:
        """Ask (or stop asking) for :meth:`PubServerCore.flush` when the socket is writable."""

    def drop(self, reason: str) -> None:
        """Close the connection (the core already forgot the subscriber)."""


_NEVER = 1 << 62   # `next` of a subscriber that is not active yet


class _Subscriber:
    __slots__ = ("sid", "io", "state", "buf", "skip", "next", "pos", "name", "writing", "info")

    def __init__(self, sid: int, io: SubscriberIO, info: bytes) -> None:
        self.sid, self.io, self.info = sid, io, info
        self.state = SubscriberState.HANDSHAKE    # changed only by PubServerCore._transition
        self.buf = bytearray()
        self.skip = 0
        self.next = _NEVER          # absolute ring index of the next entry to send
        self.pos = 0
        self.name = ""
        self.writing = False

    @property
    def active(self) -> bool:
        """Handshake done and not dropped."""
        return self.state is SubscriberState.ACTIVE


class PubServerCore:
    """Publisher: ring + subscribers. Events (Connect/Disconnect controls) go to ``on_event``.

    ``post`` never blocks and never fails because of a subscriber: data is stored in the ring and
    sent without blocking; a subscriber that still needs an entry the ring is about to evict
    gets one last non-blocking send and is otherwise dropped ("out of data").
    Unlike the reference, a subscriber is dropped only when data it still has to send is
    evicted, not as soon as its last *sent* entry is.
    """

    def __init__(self, size: int = DEFAULT_RING_SIZE, *, hello: bool = True,
                 on_event: Callable[[Event], None] | None = None) -> None:
        self.ring = PubRing(size)
        self.hello = hello
        self.on_event = on_event or (lambda ev: None)
        self.subscribers: dict[int, _Subscriber] = {}
        self._min_next = _NEVER     # <= min(s.next): cheap "anyone lagging?" test

    def open(self, last_seq: int | None = None) -> None:
        """Clear the ring; ``last_seq >= 0`` seeds it with an empty entry so HelloReply reports it."""
        self.ring.clear()
        if last_seq is not None and last_seq >= 0:
            self.ring.push(0, last_seq, b"")

    @property
    def last_seq(self) -> int:
        return self.ring.last_seq

    def connect(self, sid: int, io: SubscriberIO, info: bytes = b"") -> None:
        """A connection was accepted; with ``hello=no`` it is active at once.

        ``info`` becomes the body of the Connect event (the tcp 19-byte peer address).
        """
        s = _Subscriber(sid, io, info)
        self.subscribers[sid] = s
        if not self.hello:
            self._activate(s, SubscriberInput.NO_HANDSHAKE)

    def receive(self, sid: int, data: bytes | bytearray | memoryview) -> None:
        """Bytes from a subscriber: its Hello (and name tail); anything later drops it."""
        s = self.subscribers.get(sid)
        if s is None:
            return
        if s.state is SubscriberState.ACTIVE:
            n = min(s.skip, len(data))
            if n:
                self._transition(s, SubscriberInput.NAME_TAIL)
                s.skip -= n
                s.buf += data[:n]
                if not s.skip:              # late name tail complete: now we know the name
                    h = parse_hello(s.buf)
                    s.name, s.buf = (h.name if h else ""), bytearray()
            if len(data) > n:
                self._drop(s, SubscriberInput.UNEXPECTED_BYTES,
                           f"subscriber {s.sid} '{s.name}' sent {len(data) - n} unexpected bytes "
                           "after its handshake")
            return
        s.buf += data
        try:
            hello = parse_hello(s.buf)
        except RemoteProtocolError as e:
            self._drop(s, SubscriberInput.BAD_HANDSHAKE, f"subscriber {sid}: {e}")
            return
        if hello is None:
            if len(s.buf) > HELLO_LIMIT:
                self._drop(s, SubscriberInput.BAD_HANDSHAKE,
                           f"subscriber {sid}: handshake longer than {HELLO_LIMIT} bytes")
            return
        rest = bytes(s.buf[hello.consumed:])
        s.name, s.skip = hello.name, hello.skip
        s.buf = s.buf[:hello.consumed] if hello.skip else bytearray()
        try:
            n = s.io.send(memoryview(encode_hello_reply(self.ring.last_seq)))
        except OSError as e:
            self._drop(s, SubscriberInput.SEND_FAILED,
                       f"subscriber {sid}: failed to send HelloReply: {e}")
            return
        if n != 26:
            self._drop(s, SubscriberInput.SEND_FAILED,
                       f"subscriber {sid}: HelloReply truncated ({n} of 26 bytes sent)")
            return
        self._activate(s, SubscriberInput.HELLO)
        if rest:
            self.receive(sid, rest)

    def _transition(self, s: _Subscriber, inp: SubscriberInput) -> SubscriberState:
        """The only place a subscriber's state changes: ``SUBSCRIBER_TRANSITIONS``."""
        new = next_state(SUBSCRIBER_TRANSITIONS, s.state, inp, lambda: f"pub subscriber {s.sid}")
        s.state = new
        return new

    def _activate(self, s: _Subscriber, inp: SubscriberInput) -> None:
        self._transition(s, inp)
        s.next = self.ring.next     # only messages posted from now on
        self._min_next = min(self._min_next, s.next)
        self.on_event(Control("Connect", 10, 0, s.info, addr=s.sid))

    def disconnect(self, sid: int, reason: str = "closed") -> None:
        """The connection went away (EOF/error) or the user closes it."""
        s = self.subscribers.get(sid)
        if s is not None:
            self._drop(s, SubscriberInput.DISCONNECT, reason)

    def _drop(self, s: _Subscriber, inp: SubscriberInput, reason: str) -> None:
        """Forget ``s`` and close its connection; a Disconnect event if it was active."""
        if self.subscribers.pop(s.sid, None) is None:
            return                  # already forgotten
        was_active = s.state is SubscriberState.ACTIVE
        self._transition(s, inp)
        s.next = _NEVER
        s.io.drop(reason)
        if was_active:
            self.on_event(Control("Disconnect", 20, 0, b"", addr=s.sid))

    def post(self, msgid: int, seq: int, body: bytes | bytearray | memoryview,
             *, flush: bool = True) -> None:
        """Store a message; with ``flush`` send to every subscriber now, else leave it for :meth:`flush`.

        ChannelError only for a message that can never fit (``16 + len(body) > size / 2``).
        """
        ring = self.ring
        while not ring.try_push(msgid, seq, body):
            if self._min_next <= ring.first:
                self._rescue(ring.first)
            ring.first += 1           # evict the oldest entry
        if flush:
            self.flush()

    def post_many(self, messages: Sequence[tuple[int, int, bytes | bytearray | memoryview]],
                  *, flush: bool = True) -> None:
        """Store messages in order, as many :meth:`post` calls would (same ring layout, same
        evictions), copying them in contiguous runs; with ``flush`` send them now.

        ChannelError, before anything is stored, for a message that can never fit.
        """
        ring = self.ring
        blob, cum = ring.frame_many(messages)
        seqs = [m[1] for m in messages]
        i, n = 0, len(messages)
        while i < n:
            k, e = ring.plan(cum, i)
            if not k:                   # wrap or empty the ring: one entry the usual way
                m, s, b = messages[i]
                self.post(m, s, b, flush=False)
                i += 1
                continue
            if e:
                last = ring.first + e - 1
                if self._min_next <= last:
                    self._rescue(last)
                ring.first += e
            ring.place(blob, cum, seqs, i, k)
            i += k
        if flush:
            self.flush()

    def _rescue(self, index: int) -> None:
        """Entry ``index`` is about to be evicted: last non-blocking send to whoever still needs it, drop the rest."""
        ring = self.ring
        for s in [s for s in self.subscribers.values() if s.next <= index]:
            self._flush_one(s)
            if s.next <= index and s.sid in self.subscribers:
                self._drop(s, SubscriberInput.OUT_OF_DATA,
                           f"subscriber {s.sid} '{s.name}' out of data: entry {index} "
                           f"(seq {ring.seqs[index % ring.nslots]}) evicted before it was sent")
        self._update_min()

    def _update_min(self) -> None:
        self._min_next = min((s.next for s in self.subscribers.values()), default=_NEVER)

    def flush(self, sid: int | None = None) -> None:
        """Send pending ring data to one subscriber or to all (non-blocking)."""
        if sid is not None:
            s = self.subscribers.get(sid)
            if s is not None and s.state is SubscriberState.ACTIVE:
                self._flush_one(s)
            return
        nxt = self.ring.next
        for s in list(self.subscribers.values()):
            if s.next < nxt:
                self._flush_one(s)
        self._update_min()

    def _flush_one(self, s: _Subscriber) -> None:
        ring = self.ring
        while s.next < ring.next:
            if s.next < ring.first:
                self._drop(s, SubscriberInput.OUT_OF_DATA,
                           f"subscriber {s.sid} '{s.name}' out of data")
                return
            view, last = ring.run(s.next, s.pos)
            want = len(view)
            try:
                n = s.io.send(view)
            except OSError as e:
                self._drop(s, SubscriberInput.SEND_FAILED,
                           f"send to subscriber {s.sid} '{s.name}' failed: {e}")
                return
            finally:
                view.release()
            if n == want:
                s.next, s.pos = last + 1, 0
                continue
            cur = ring.starts[s.next % ring.nslots] + s.pos + n
            while ring.ends[s.next % ring.nslots] <= cur:
                s.next += 1
            s.pos = cur - ring.starts[s.next % ring.nslots]
            if not s.writing:
                s.writing = True
                s.io.want_write(True)
            return
        if s.writing:
            s.writing = False
            s.io.want_write(False)


# --- client ---------------------------------------------------------------------------------

class PubClientCore:
    """Subscriber side: :meth:`hello` bytes to send, then feed received bytes, take events.

    States: Opening until HelloReply (then Active with :attr:`server_seq`), Error on a protocol
    violation, EOF or a lost connection (table:
    :data:`~streamproto.pub.state.PUB_CLIENT_TRANSITIONS`).
    :meth:`receive_batch` hands every received buffer's data to a callback as one list (fast
    path); :meth:`receive` passes per-message events to a callback; :meth:`receive_data`
    returns them as a list.
    """

    def __init__(self, name: str | None = "", *, limit: int = 256 * 1024,
                 hello: bool = True) -> None:
        self.name = name
        self.reader = FrameReader("std", limit, where="pub client")
        self.state = OPENING if hello else ACTIVE   # then changed only by _transition
        self.server_seq = -1
        self.last_seq = -1
        self.reason: str | None = None

    def hello(self) -> bytes:
        """The Hello to send right after connecting."""
        return encode_hello(self.name)

    def receive(self, data: bytes | bytearray | memoryview, emit: Callable[[Event], object],
                on_state: Callable[[State], object] | None = None) -> None:
        """Feed received bytes; ``emit(event)`` for every Data message and, unless
        ``on_state`` is given, for State changes too."""
        def per_message(msgs: list[Message]) -> None:
            for m, s, b in msgs:
                emit(Data(m, s, b))
        self.receive_batch(data, per_message, on_state or emit)

    def receive_batch(self, data: bytes | bytearray | memoryview,
                      on_batch: Callable[[list[Message]], object],
                      on_state: Callable[[State], object]) -> None:
        """Feed received bytes: every complete data frame in them, parsed in one pass, goes to
        ``on_batch(messages)`` as one list of ``(msgid, seq, body)``; State changes (Active
        after HelloReply, Error) go to ``on_state`` in order with the data."""
        if self.state == ERROR:
            self._transition(PubClientInput.LATE_BYTES)     # ignored
            return
        msgs: list[Message] = []
        err: RemoteProtocolError | None = None
        try:
            self.reader.split(data, msgs)
        except RemoteProtocolError as e:
            err = e
        if msgs and self.state == OPENING:
            m, _s, b = msgs[0]
            try:
                self.server_seq = decode_hello_reply(m, b)
            except RemoteProtocolError as e:
                self._fail(str(e), on_state)
                return
            self._transition(PubClientInput.HELLO_REPLY)
            on_state(State(ACTIVE))
            del msgs[0]
        if msgs:                                    # (Active, data): the fast-path self-loop
            self.last_seq = msgs[-1][1]
            on_batch(msgs)
        if err is not None:
            self._fail(str(err), on_state)

    def _fail(self, reason: str, on_state: Callable[[State], object]) -> None:
        self._transition(PubClientInput.PROTOCOL_ERROR)
        self.reason = reason
        on_state(State(ERROR, reason))

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Feed received bytes; return the resulting events."""
        out: list[Event] = []
        self.receive(data, out.append)
        return out

    def _transition(self, inp: PubClientInput) -> str:
        """The only place the state changes: ``PUB_CLIENT_TRANSITIONS[state][inp]``."""
        new = next_state(PUB_CLIENT_TRANSITIONS, self.state, inp, "pub client")
        self.state = new
        return new

    def eof(self) -> list[State]:
        """The server closed the connection: always an error for a subscriber."""
        if self.state == ERROR:
            self._transition(PubClientInput.EOF)            # already failed: ignored
            return []
        self._transition(PubClientInput.EOF)
        self.reason = ("Server dropped connection" if self.reader.pending == 0 else
                       f"Server dropped connection in the middle of a frame "
                       f"({self.reader.pending} bytes pending)")
        return [State(ERROR, self.reason)]

    def connection_lost(self, reason: str) -> list[State]:
        """The connection failed (socket error): Error with ``reason`` unless already failed."""
        if self.state == ERROR:
            self._transition(PubClientInput.CONNECTION_LOST)  # already failed: ignored
            return []
        self._transition(PubClientInput.CONNECTION_LOST)
        self.reason = reason
        return [State(ERROR, reason)]
