"""Sans-I/O core of a ``stream+`` client: merges stored history and live data
(``docs/network-format.md#client-states``, ``docs/network-format.md#how-history-meets-online``).

The client owns no socket. The composition (an asyncio channel) runs two connections — the
*online* pub+tcp subscription and the short-lived *request* tcp connection — and feeds what
happens on them into :class:`StreamClientCore`; every input method returns a list of outputs.

Inputs (methods):

=============================================  ================================================
``open(mode, seq=None, block=None, ...)``      start; validates the open parameters
``online_active(server_seq)``                  pub handshake done (HelloReply seq, -1 if none)
``request_connected()``                        the request tcp connection is established
``request_message(msgid, seq, body)``          one message (frame decoded) on the request conn
``request_batch(messages)``                    the messages of one received buffer, in order
``online_message(msgid, seq, body)``           one data message from the pub subscription
``online_batch(messages)``                     the data messages of one received buffer
``request_closed(reason)``                     request conn EOF / failure (``failed=True``)
``online_closed(reason)``                      pub subscription EOF or failure
``close()``                                    user closes the channel
=============================================  ================================================

Outputs (items of the returned list):

* user events — :class:`streamproto.events.State` (Opening, Active, Error with ``reason``,
  Closing, Closed), :class:`StreamData` (a :class:`streamproto.events.Data` with ``online``:
  False for everything delivered before the ``Online`` control, True after it; in mode
  ``online`` always True) or, from the batch inputs, :class:`StreamBatch` (runs of them with the
  same ``online`` flag) and :class:`streamproto.events.Control` (``Online`` 10, ``EndOfBlock``
  11, ``BeginOfBlock`` 12 with ``data={'last_seq': N}``);
* commands for the composition — :class:`OpenRequest` (connect the request channel),
  :class:`SendRequest` (post ``msgid``/``seq``/``body`` on it, std frame), :class:`CloseRequest`.
  Commands subclass :class:`Command`; everything else goes to the user. ``close()`` means the
  composition closes both connections.

States, the inputs each call is classified into and the transition table live in
:mod:`streamproto.stream.client_state`; every state change goes through
:meth:`StreamClientCore._transition`, and a call the current state does not accept raises
:class:`~streamproto.errors.LocalProtocolError` naming the input and the state.

Behaviour beyond the reference C++ client (all wire compatible):

* online messages that reach the buffer while the server replies "nothing to fetch" (request seq
  = last + 1) or "empty server" (``initial``) are delivered, not dropped;
* when history meets the buffer the buffer is drained at once (the reference's transient
  ``Overlapped`` state), so ``ClientDone`` is never postponed and the buffer cannot overflow
  after it; a buffer overflow before that point only evicts entries the history stream (which
  follows the storage live) will deliver again;
* with an empty buffer the switch happens once history reached the server's last seq *and*
  every seq the online side delivered so far (evicted ones included), so an overflow can
  never open a gap; if the buffer overflowed on the "nothing to fetch" path the request
  connection is kept and its live history refills the gap;
* duplicates (seq <= last delivered) are dropped wherever they come from, counted in
  :attr:`StreamClientCore.dropped`;
* a request-connection failure after catch-up (the server closes it after ``ClientDone``) is
  ignored instead of failing the channel.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from itertools import islice
from operator import lt
from typing import Any, Sequence

from streamproto import events as ev
from streamproto.config import INT64_MAX
from streamproto.errors import ConfigError, LocalProtocolError, RemoteProtocolError
from streamproto.statemachine import next_state
from streamproto.stream import protocol as P
from streamproto.stream.client_state import TRANSITIONS, ClientInput, ClientState, Ring

__all__ = ["StreamClientCore", "ClientState", "ClientInput", "TRANSITIONS", "StreamData",
           "StreamBatch", "Command",
           "OpenRequest", "SendRequest", "CloseRequest", "MODES", "DEFAULT_RING_SIZE"]

MODES = ("online", "seq", "seq-data", "block", "initial", "last")
DEFAULT_RING_SIZE = 128 * 1024


@dataclass(slots=True)
class StreamData(ev.Data):
    """A data message of a stream; ``online`` is False for history (before ``Online``)."""

    online: bool = False


class StreamBatch(ev.Batch):
    """Data messages of a stream delivered together; ``online`` as in :class:`StreamData`."""

    __slots__ = ("online",)
    event_type = StreamData

    def __init__(self, messages: list[ev.Message], online: bool = False) -> None:
        super().__init__(messages)
        self.online = online

    def _key(self) -> tuple:
        return (self.online,)

    def events(self) -> list[ev.Data]:
        D, o = StreamData, self.online
        return [D(m, s, b, None, o) for m, s, b in self.messages]

    @classmethod
    def of_events(cls, events: Sequence[ev.Data]) -> "StreamBatch":
        return cls([(e.msgid, e.seq, e.body) for e in events],
                   bool(getattr(events[0], "online", False)))

    @staticmethod
    def event_key(event: ev.Data) -> tuple:
        return (getattr(event, "online", False),)


def _increasing(seqs: list[int]) -> bool:
    return all(map(lt, seqs, islice(seqs, 1, None)))


class Command:
    """Base of the outputs addressed to the composition rather than the user."""

    __slots__ = ()


@dataclass(slots=True)
class OpenRequest(Command):
    """Connect the request channel (then call :meth:`StreamClientCore.request_connected`)."""


@dataclass(slots=True)
class SendRequest(Command):
    """Post one message on the request channel (std frame ``{len(body), msgid, seq}``)."""

    msgid: int
    seq: int
    body: bytes


@dataclass(slots=True)
class CloseRequest(Command):
    """Close the request connection (no more input is needed from it)."""


class StreamClientCore:
    """State machine of one stream client; see the module docstring for inputs and outputs.

    Init parameters: ``protocol`` (``new``/``old``), ``peer`` (client name in the request and
    the pub Hello), ``ring_size`` (online buffer bytes, default 128 KiB).
    """

    def __init__(self, *, protocol: str = "new", peer: str = "",
                 ring_size: int = DEFAULT_RING_SIZE):
        if protocol not in ("new", "old"):
            raise ConfigError(f"parameter 'stream.protocol': invalid value {protocol!r} "
                              "(expected new or old)")
        if ring_size < 1024:
            raise ConfigError(f"parameter 'size': online buffer {ring_size} bytes is below 1kb")
        self.protocol = protocol
        self.peer = peer
        self.ring_size = ring_size
        self._state = ClientState.CLOSED          # changed only by _transition
        self._mode = ""
        self._request: P.Request | None = None
        self._open_params: dict[str, Any] = {}
        self._open_seq: int | None = None
        self._seq = -1                            # last seq delivered
        self._server_seq = -1
        self._block_end = -1
        self._block_pending = False
        self._ring = Ring(ring_size)
        self.dropped = 0
        self.error: str | None = None
        self.reply: P.Reply | None = None

    # ------------------------------------------------------------------ public attributes
    @property
    def state(self) -> ClientState:
        """Internal state (:class:`ClientState`)."""
        return self._state

    @property
    def last_seq(self) -> int:
        """Last seq delivered to the user (or the server's seq at an empty switch); -1 if none."""
        return self._seq

    def reopen_params(self) -> dict[str, Any]:
        """Open parameters that resume this stream with no gap and no duplicate."""
        if self._mode != "online" and self._seq >= 0 and not self._block_pending:
            return {"mode": "seq-data", "seq": self._seq}
        return dict(self._open_params)

    # ------------------------------------------------------------------ inputs
    def open(self, mode: str, seq: int | None = None, *, block: int | None = None,
             block_type: str = "default") -> list:
        """Start opening with TLL open parameters ``mode`` (+ ``seq`` / ``block``)."""
        request = self._build_request(mode, seq, block, block_type)
        self._transition(ClientInput.OPEN)
        self._reset()
        self._mode, self._request = mode, request
        self._open_params = {"mode": mode}
        if seq is not None:
            self._open_params["seq"] = int(seq)
        if mode == "block":
            assert block is not None  # checked by _build_request
            self._open_params.update(block=int(block), **{"block-type": block_type})
        if mode in ("seq", "seq-data"):
            self._open_seq = request.seq
        return [ev.State(ev.OPENING)]

    def online_active(self, server_seq: int = -1) -> list:
        """The online subscription is up; ``server_seq`` = HelloReply seq (-1: unknown)."""
        if self._mode == "online":
            self._transition(ClientInput.ONLINE_ACTIVE_NO_HISTORY)
            return [ev.State(ev.ACTIVE)]
        self._transition(ClientInput.ONLINE_ACTIVE)
        if server_seq >= 0:
            self._server_seq = server_seq
        return [OpenRequest()]

    def request_connected(self) -> list:
        """The request connection is up: returns the Request/RequestOld to send."""
        self._transition(ClientInput.REQUEST_CONNECTED)
        assert self._request is not None  # set by open()
        msgid, body = P.encode_request(self._request)
        return [SendRequest(msgid, 0, body)]

    def online_message(self, msgid: int, seq: int, body: bytes) -> list:
        """One data message from the online subscription."""
        if self._state is ClientState.ONLINE:   # hot path: ONLINE_MESSAGE / ONLINE_STALE
            if seq > self._seq:
                self._seq = seq
                return [StreamData(msgid, seq, body, None, True)]
            self.dropped += 1
            return []
        return self._online_slow(msgid, seq, body)

    def request_message(self, msgid: int, seq: int, body: bytes) -> list:
        """One message from the request connection (Reply/Error first, then history)."""
        state = self._state
        if state is ClientState.CONNECTED:      # hot path: history
            return self._history(msgid, seq, body)
        if state is ClientState.OPENING:
            return self._reply(msgid, seq, body)
        self._transition(ClientInput.REQUEST_MESSAGE)
        return []                               # after catch-up or close: stale, ignored

    def request_closed(self, reason: str = "", failed: bool = False) -> list:
        """The request connection ended (EOF, or ``failed`` with ``reason``)."""
        before = self._state
        if self._transition(ClientInput.REQUEST_CLOSED) is before:
            return []                           # after catch-up or close: ignored
        what = "failed" if failed else "closed"
        text = f"Request channel {what} in state {before.value}"
        return self._failed(text + (f": {reason}" if reason else ""), [])

    def online_closed(self, reason: str = "") -> list:
        """The online subscription ended (server EOF, dropped as too slow, socket error)."""
        before = self._state
        if self._transition(ClientInput.ONLINE_CLOSED) is before:
            return []                           # already failed or closed
        text = f"Online channel closed in state {before.value}"
        return self._failed(text + (f": {reason}" if reason else ""), [])

    def close(self) -> list:
        """Close: Closing, Closed; the composition then closes both connections."""
        before = self._state
        self._transition(ClientInput.CLOSE)
        if before is ClientState.CLOSED:
            return []
        self._ring.clear()
        return [ev.State(ev.CLOSING), ev.State(ev.CLOSED)]

    # ------------------------------------------------------------------ internals
    def _reset(self) -> None:
        """Forget the previous session (the attributes are declared in ``__init__``)."""
        self._mode = ""
        self._request = None
        self._open_params = {}
        self._open_seq = None
        self._seq = -1
        self._server_seq = -1
        self._block_end = -1
        self._block_pending = False
        self._ring = Ring(self.ring_size)
        self.dropped = 0
        self.error = None
        self.reply = None

    def _build_request(self, mode: str, seq: int | None, block: int | None,
                       block_type: str) -> P.Request:
        """The request the open parameters ask for; ConfigError (naming the parameter) for
        anything the Request message cannot carry, so nothing fails later on the wire."""
        request = self._request_for(mode, seq, block, block_type)
        if mode != "online":
            try:
                P.encode_request(request)
            except LocalProtocolError as e:
                raise ConfigError(f"open parameters: {e}") from None
        return request

    def _request_for(self, mode: str, seq: int | None, block: int | None,
                     block_type: str) -> P.Request:
        old = self.protocol == "old"
        if mode not in MODES:
            raise ConfigError(f"open parameter 'mode': invalid value {mode!r} "
                              f"(expected one of {', '.join(MODES)})")
        if mode in ("seq", "seq-data"):
            if seq is None:
                raise ConfigError(f"open parameter 'seq' is mandatory with mode={mode}")
            seq = int(seq)
            if seq < 0:
                raise ConfigError(f"open parameter 'seq': negative value {seq}")
            if seq + (mode == "seq-data") > INT64_MAX:
                raise ConfigError(f"open parameter 'seq': {seq} is out of the int64 range "
                                  f"0..{INT64_MAX - (mode == 'seq-data')}")
            return P.Request(P.REQUEST_SEQ, seq + (mode == "seq-data"), client=self.peer, old=old)
        if mode == "block":
            if block is None:
                raise ConfigError("open parameter 'block' is mandatory with mode=block")
            if not 0 <= int(block) <= INT64_MAX:
                raise ConfigError(f"open parameter 'block': {block} is out of the int64 range "
                                  f"0..{INT64_MAX}")
            if not block_type:
                raise ConfigError("open parameter 'block-type' must not be empty")
            return P.Request(P.REQUEST_BLOCK, block_type=block_type, block_index=int(block),
                             client=self.peer, old=old)
        if mode in ("initial", "last"):
            if old:
                raise ConfigError(f"mode={mode} needs stream.protocol=new (RequestOld can only "
                                  "ask for a seq or a block)")
            return P.Request(mode, client=self.peer)
        return P.Request(P.REQUEST_SEQ, client=self.peer, old=old)  # online: never sent

    def _transition(self, inp: ClientInput) -> ClientState:
        """The only place the state changes: ``TRANSITIONS[state][inp]``, or LocalProtocolError."""
        new = next_state(TRANSITIONS, self._state, inp, "stream client")
        self._state = new
        return new

    def _fail(self, inp: ClientInput, reason: str, out: list) -> list:
        self._transition(inp)
        return self._failed(reason, out)

    def _failed(self, reason: str, out: list) -> list:
        """Effects of entering ERROR: remember ``reason``, report it, forget the buffer."""
        self.error = reason
        out.append(ev.State(ev.ERROR, reason))
        self._ring.clear()
        return out

    def _deliver(self, out: list, msgid: int, seq: int, body: bytes, online: bool) -> None:
        if seq <= self._seq:
            self.dropped += 1
            return
        if self._block_pending and self._seq < self._block_end <= seq:
            self._end_block(out)
        self._seq = seq
        out.append(StreamData(msgid, seq, body, None, online))

    def _end_block(self, out: list) -> None:
        self._block_pending = False
        out.append(ev.Control("EndOfBlock", P.END_OF_BLOCK, self._block_end - 1))

    def _go_online(self, out: list) -> None:
        if self._block_pending:
            self._end_block(out)
        out.append(ev.Control("Online", P.ONLINE, self._seq))

    def _replay_ring(self, out: list) -> None:
        for msgid, seq, body in self._ring.items:
            self._deliver(out, msgid, seq, body, False)
        self._ring.clear()

    def _online_slow(self, msgid: int, seq: int, body: bytes) -> list:
        state = self._state
        if state is ClientState.DRAIN and seq <= self._seq:
            self._transition(ClientInput.ONLINE_STALE)
            self.dropped += 1
            return []
        self._transition(ClientInput.ONLINE_MESSAGE)
        if state in (ClientState.REQUESTING, ClientState.OPENING, ClientState.CONNECTED):
            self._ring.push(msgid, seq, body)
            return []
        if state is ClientState.DRAIN:
            self._seq = seq
            return [StreamData(msgid, seq, body, None, True)]
        if state is ClientState.WAIT_ONLINE:
            out: list = []
            self._deliver(out, msgid, seq, body, False)
            self._go_online(out)
            return out
        return []  # ERROR / CLOSED: ignored

    def _reply(self, msgid: int, seq: int, body: bytes) -> list:
        inp = ClientInput.REPLY_FAILED
        if msgid == P.ERROR:
            try:
                text = P.decode_error(body).error
            except RemoteProtocolError as e:
                return self._fail(inp, f"Invalid Error message from server: {e}", [])
            return self._fail(inp, f"Server error: {text}", [])
        if msgid != P.REPLY:
            return self._fail(inp, f"Unknown message from server: msgid {msgid}, expected "
                                   f"{P.REPLY} Reply or {P.ERROR} Error", [])
        try:
            reply = P.decode_reply(body)
        except RemoteProtocolError as e:
            return self._fail(inp, f"Invalid Reply from server: {e}", [])
        self.reply = reply
        self._server_seq = max(self._server_seq, reply.last_seq)
        self._block_end = reply.block_seq
        out: list = [ev.State(ev.ACTIVE)]
        if self._open_seq is None:
            self._open_seq = reply.requested_seq
        open_seq = self._open_seq
        if self._block_end > 0:
            self._block_pending = True
            last = self._block_end - 1
            out.append(ev.Control("BeginOfBlock", P.BEGIN_OF_BLOCK,
                                  min(last, reply.requested_seq),
                                  P.encode_begin_of_block(last), None, {"last_seq": last}))
        ring = self._ring
        if self._server_seq == -1:
            if self._mode != "initial":
                return self._fail(inp, f"Server has no data for now, can not open from seq "
                                       f"{open_seq}", out)
            if ring.evicted_seq > -1 << 63:
                return self._fail(inp, "Online buffer overflowed while waiting for the server's "
                                       "reply: messages lost, reopen", out)
            out.append(CloseRequest())
            if not ring.items:
                self._transition(ClientInput.REPLY_EMPTY)
                return out
            self._transition(ClientInput.REPLY_UP_TO_DATE)
            self._replay_ring(out)  # reference drops these
            self._go_online(out)
            return out
        if self._server_seq + 1 == open_seq:     # nothing old to fetch
            if ring.evicted_seq > self._server_seq:
                # buffered live data lost: let the history stream (following storage) refill it
                self._transition(ClientInput.REPLY_HISTORY)
                return out
            self._transition(ClientInput.REPLY_UP_TO_DATE)
            self._seq = self._server_seq
            out.append(CloseRequest())
            self._replay_ring(out)  # reference drops these
            self._go_online(out)
            return out
        if self._server_seq < open_seq:
            return self._fail(inp, f"Invalid server seq: {self._server_seq} < requested "
                                   f"{open_seq}", out)
        self._transition(ClientInput.REPLY_HISTORY)
        return out

    def _history(self, msgid: int, seq: int, body: bytes) -> list:
        out: list = []
        if seq <= self._seq:
            self.dropped += 1
            return out
        if self._block_pending and self._seq < self._block_end <= seq:
            self._end_block(out)
        self._seq = seq
        out.append(StreamData(msgid, seq, body, None, False))
        items = self._ring.items
        if not items:
            # caught up with the server's last seq and with everything the online side
            # delivered so far (even what the buffer had to evict): switch
            if seq >= self._server_seq and seq >= self._ring.evicted_seq:
                self._transition(ClientInput.HISTORY_CAUGHT_UP)
                out.append(SendRequest(P.CLIENT_DONE, 0, P.encode_client_done(seq)))
                self._go_online(out)
            return out
        if items[0][1] > seq + 1:
            return out
        # history met the buffered online data: finish with the buffer (stale entries skipped)
        self._transition(ClientInput.HISTORY_MET_ONLINE)
        out.append(SendRequest(P.CLIENT_DONE, 0, P.encode_client_done(seq)))
        self._replay_ring(out)
        self._go_online(out)
        return out

    # ------------------------------------------------------------------ batch inputs
    def request_batch(self, messages: list[ev.Message]) -> list:
        """The messages of one received buffer on the request connection, in order.

        Same outputs as :meth:`request_message` per message, except that runs of history
        data come as one :class:`StreamBatch`. The state only changes through the per-message
        path (a run ends before the message that switches online).
        """
        out: list = []
        seqs = [m[1] for m in messages]
        growing: bool | None = None     # do the seqs grow from the first history message on?
        i, n = 0, len(messages)
        while i < n:
            if (self._state is ClientState.CONNECTED and not self._block_pending
                    and seqs[i] > self._seq):
                if growing is None:
                    growing = _increasing(seqs[i:])
                if growing:
                    items = self._ring.items
                    # the first seq that switches online (see _history); the run stops before
                    stop = (items[0][1] - 1 if items
                            else max(self._server_seq, self._ring.evicted_seq))
                    k = bisect_left(seqs, stop, i) - i
                    if k > 0:
                        self._seq = seqs[i + k - 1]
                        out.append(StreamBatch(messages if k == n else messages[i:i + k], False))
                        i += k
                        continue
            out += self.request_message(*messages[i])
            i += 1
        return out

    def online_batch(self, messages: list[ev.Message]) -> list:
        """The data messages of one received buffer on the online subscription, in order:
        one online :class:`StreamBatch` once online, else what :meth:`online_message` gives
        for each."""
        if (self._state is ClientState.ONLINE and messages and messages[0][1] > self._seq
                and _increasing([m[1] for m in messages])):
            self._seq = messages[-1][1]
            return [StreamBatch(messages, True)]
        out: list = []
        for m in messages:
            out += self.online_message(*m)
        return out
