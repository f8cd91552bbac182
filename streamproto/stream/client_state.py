"""States, inputs and the transition table of the stream client, plus its online buffer.

Kept apart from :mod:`streamproto.stream.client` so the table reads on its own, h11-style:
``TRANSITIONS[state][input]`` is the one state an input leads to. The core classifies what
happened (a Reply that leaves history to fetch, a history message that reaches the server's
last seq, ...) into one :class:`ClientInput` and changes state only through its
``_transition(input)``; an input absent for a state raises
:class:`~streamproto.errors.LocalProtocolError` naming both, before anything else changes.
"""
from __future__ import annotations

import enum
from collections import deque

__all__ = ["ClientState", "ClientInput", "TRANSITIONS", "FAST_PATHS", "Ring"]

_FRAME = 16  # std frame header, counted per buffered message like the reference ring


class ClientState(enum.Enum):
    """Internal states; ``CONNECTED`` = receiving history, ``DRAIN`` = caught up, dropping stale."""

    CLOSED = "Closed"
    CONNECTING = "Connecting"      # waiting for the pub handshake
    REQUESTING = "Requesting"      # online up (buffering), request connection being established
    OPENING = "Opening"            # request sent, waiting for Reply / Error
    CONNECTED = "Connected"        # history arriving, online buffered
    WAIT_ONLINE = "WaitOnline"     # server empty (initial): first online message goes online
    DRAIN = "Drain"                # online switch done; online seq <= last are stale
    ONLINE = "Online"
    ERROR = "Error"


class ClientInput(enum.Enum):
    """What happened, as the core classifies it; the value names it in errors."""

    # the user
    OPEN = "open"                                  # open(): parameters valid
    CLOSE = "close"                                # close()
    # the online (pub) subscription
    ONLINE_ACTIVE = "online_active"                # handshake done, history wanted
    ONLINE_ACTIVE_NO_HISTORY = "online_active_no_history"   # handshake done, mode=online
    ONLINE_MESSAGE = "online_message"              # a data message (buffered, delivered, ignored)
    ONLINE_STALE = "online_stale"                  # after the switch: seq <= last delivered
    ONLINE_CLOSED = "online_closed"                # EOF or failure
    # the request connection
    REQUEST_CONNECTED = "request_connected"        # connected: send the request
    REPLY_HISTORY = "reply_history"                # Reply, history follows
    REPLY_UP_TO_DATE = "reply_up_to_date"          # Reply, nothing old to fetch: switch now
    REPLY_EMPTY = "reply_empty"                    # Reply of an empty server (initial), no data yet
    REPLY_FAILED = "reply_failed"                  # Error, junk, or a Reply we cannot use
    HISTORY_MESSAGE = "history_message"            # a history message (duplicates dropped)
    HISTORY_CAUGHT_UP = "history_caught_up"        # ... reaching the server's last seq, no buffer
    HISTORY_MET_ONLINE = "history_met_online"      # ... reaching the buffered online data
    REQUEST_MESSAGE = "request_message"            # a message nobody waits for any more: ignored
    REQUEST_CLOSED = "request_closed"              # EOF or failure


S, I = ClientState, ClientInput

#: state -> input -> new state. Inputs absent from a state's row raise LocalProtocolError.
#: A self-loop on ONLINE_CLOSED / REQUEST_CLOSED / REQUEST_MESSAGE is an event ignored there.
TRANSITIONS: dict[ClientState, dict[ClientInput, ClientState]] = {
    S.CLOSED: {
        I.OPEN:                     S.CONNECTING,
        I.CLOSE:                    S.CLOSED,         # nothing to do
        I.ONLINE_MESSAGE:           S.CLOSED,         # late transport events racing a close
        I.ONLINE_CLOSED:            S.CLOSED,
        I.REQUEST_MESSAGE:          S.CLOSED,
        I.REQUEST_CLOSED:           S.CLOSED,
    },
    S.CONNECTING: {
        I.ONLINE_ACTIVE:            S.REQUESTING,     # -> OpenRequest
        I.ONLINE_ACTIVE_NO_HISTORY: S.ONLINE,         # channel Active
        I.ONLINE_CLOSED:            S.ERROR,
        I.CLOSE:                    S.CLOSED,
    },
    S.REQUESTING: {
        I.REQUEST_CONNECTED:        S.OPENING,        # -> SendRequest(Request)
        I.ONLINE_MESSAGE:           S.REQUESTING,     # buffered
        I.REQUEST_CLOSED:           S.ERROR,
        I.ONLINE_CLOSED:            S.ERROR,
        I.CLOSE:                    S.CLOSED,
    },
    S.OPENING: {
        I.REPLY_HISTORY:            S.CONNECTED,      # channel Active
        I.REPLY_UP_TO_DATE:         S.DRAIN,          # Active, buffer replayed, Online
        I.REPLY_EMPTY:              S.WAIT_ONLINE,    # Active
        I.REPLY_FAILED:             S.ERROR,
        I.ONLINE_MESSAGE:           S.OPENING,        # buffered
        I.REQUEST_CLOSED:           S.ERROR,
        I.ONLINE_CLOSED:            S.ERROR,
        I.CLOSE:                    S.CLOSED,
    },
    S.CONNECTED: {
        I.HISTORY_MESSAGE:          S.CONNECTED,      # hot path: delivered
        I.HISTORY_CAUGHT_UP:        S.DRAIN,          # delivered, ClientDone, Online
        I.HISTORY_MET_ONLINE:       S.ONLINE,         # delivered, ClientDone, buffer, Online
        I.ONLINE_MESSAGE:           S.CONNECTED,      # buffered
        I.REQUEST_CLOSED:           S.ERROR,
        I.ONLINE_CLOSED:            S.ERROR,
        I.CLOSE:                    S.CLOSED,
    },
    S.WAIT_ONLINE: {
        I.ONLINE_MESSAGE:           S.ONLINE,         # delivered, then Online
        I.REQUEST_MESSAGE:          S.WAIT_ONLINE,
        I.REQUEST_CLOSED:           S.WAIT_ONLINE,
        I.ONLINE_CLOSED:            S.ERROR,
        I.CLOSE:                    S.CLOSED,
    },
    S.DRAIN: {
        I.ONLINE_STALE:             S.DRAIN,          # dropped
        I.ONLINE_MESSAGE:           S.ONLINE,         # delivered
        I.REQUEST_MESSAGE:          S.DRAIN,          # after ClientDone: ignored
        I.REQUEST_CLOSED:           S.DRAIN,
        I.ONLINE_CLOSED:            S.ERROR,
        I.CLOSE:                    S.CLOSED,
    },
    S.ONLINE: {
        I.ONLINE_MESSAGE:           S.ONLINE,         # hot path: delivered
        I.ONLINE_STALE:             S.ONLINE,         # hot path: dropped
        I.REQUEST_MESSAGE:          S.ONLINE,
        I.REQUEST_CLOSED:           S.ONLINE,
        I.ONLINE_CLOSED:            S.ERROR,
        I.CLOSE:                    S.CLOSED,
    },
    S.ERROR: {
        I.ONLINE_MESSAGE:           S.ERROR,          # ignored until close()
        I.REQUEST_MESSAGE:          S.ERROR,
        I.REQUEST_CLOSED:           S.ERROR,
        I.ONLINE_CLOSED:            S.ERROR,
        I.CLOSE:                    S.CLOSED,
    },
}

#: Self-loops the hot paths handle inline, after an ``is`` test of the state, without a table
#: lookup (they keep the state, so nothing is assigned).
FAST_PATHS: frozenset[tuple[ClientState, ClientInput]] = frozenset({
    (S.CONNECTED, I.HISTORY_MESSAGE),
    (S.ONLINE, I.ONLINE_MESSAGE),
    (S.ONLINE, I.ONLINE_STALE),
})
del S, I


class Ring:
    """Online messages buffered until history meets them; bounded like the reference ring."""

    __slots__ = ("items", "used", "capacity", "slots", "evicted_seq")

    def __init__(self, capacity: int):
        self.items: deque[tuple[int, int, bytes]] = deque()
        self.used = 0
        self.capacity = capacity
        self.slots = max(capacity // 64 - 1, 1)
        self.evicted_seq = -1 << 63   # highest seq lost to eviction

    def push(self, msgid: int, seq: int, body: bytes) -> None:
        need = _FRAME + len(body)
        if need > self.capacity // 2:  # too large to buffer: forget everything up to it
            self.evicted_seq = max(self.evicted_seq, seq)
            self.clear()
            return
        items = self.items
        while items and (self.used + need > self.capacity or len(items) >= self.slots):
            _, old_seq, old_body = items.popleft()
            self.used -= _FRAME + len(old_body)
            self.evicted_seq = max(self.evicted_seq, old_seq)
        items.append((msgid, seq, body))
        self.used += need

    def clear(self) -> None:
        self.items.clear()
        self.used = 0
