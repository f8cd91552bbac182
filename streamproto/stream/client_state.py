"""States, inputs and the transition table of the stream client, plus its online buffer.

Kept apart from :mod:`streamproto.stream.client` so the table reads on its own, h11-style:
``TRANSITIONS[state][input]`` lists the states an input may lead to; an input absent for a
state raises :class:`~streamproto.errors.ProtocolError` naming both.
"""
from __future__ import annotations

import enum
from collections import deque

__all__ = ["ClientState", "ClientInput", "TRANSITIONS", "Ring"]

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
    OPEN = "open"
    ONLINE_ACTIVE = "online_active"
    REQUEST_CONNECTED = "request_connected"
    REQUEST_MESSAGE = "request_message"
    ONLINE_MESSAGE = "online_message"
    REQUEST_CLOSED = "request_closed"
    ONLINE_CLOSED = "online_closed"
    CLOSE = "close"


S, I = ClientState, ClientInput

#: state -> input -> the states the input may lead to. An input absent for a state is a
#: composition bug and raises ProtocolError naming both.
TRANSITIONS: dict[ClientState, dict[ClientInput, tuple[ClientState, ...]]] = {
    S.CLOSED: {
        I.OPEN: (S.CONNECTING,),
        # late transport events racing a close are ignored
        I.ONLINE_MESSAGE: (S.CLOSED,), I.REQUEST_MESSAGE: (S.CLOSED,),
        I.REQUEST_CLOSED: (S.CLOSED,), I.ONLINE_CLOSED: (S.CLOSED,), I.CLOSE: (S.CLOSED,),
    },
    S.CONNECTING: {
        I.ONLINE_ACTIVE: (S.REQUESTING, S.ONLINE),     # ONLINE: mode=online
        I.ONLINE_CLOSED: (S.ERROR,), I.CLOSE: (S.CLOSED,),
    },
    S.REQUESTING: {
        I.REQUEST_CONNECTED: (S.OPENING,),
        I.ONLINE_MESSAGE: (S.REQUESTING,),             # buffered
        I.REQUEST_CLOSED: (S.ERROR,), I.ONLINE_CLOSED: (S.ERROR,), I.CLOSE: (S.CLOSED,),
    },
    S.OPENING: {
        # Reply: history follows / nothing to fetch / empty server; Error or junk: ERROR
        I.REQUEST_MESSAGE: (S.CONNECTED, S.DRAIN, S.WAIT_ONLINE, S.ERROR),
        I.ONLINE_MESSAGE: (S.OPENING,),                # buffered
        I.REQUEST_CLOSED: (S.ERROR,), I.ONLINE_CLOSED: (S.ERROR,), I.CLOSE: (S.CLOSED,),
    },
    S.CONNECTED: {
        # history; DRAIN: reached the server's last seq, ONLINE: met the online buffer
        I.REQUEST_MESSAGE: (S.CONNECTED, S.DRAIN, S.ONLINE),
        I.ONLINE_MESSAGE: (S.CONNECTED,),              # buffered
        I.REQUEST_CLOSED: (S.ERROR,), I.ONLINE_CLOSED: (S.ERROR,), I.CLOSE: (S.CLOSED,),
    },
    S.WAIT_ONLINE: {
        I.ONLINE_MESSAGE: (S.ONLINE,),
        I.REQUEST_MESSAGE: (S.WAIT_ONLINE,), I.REQUEST_CLOSED: (S.WAIT_ONLINE,),
        I.ONLINE_CLOSED: (S.ERROR,), I.CLOSE: (S.CLOSED,),
    },
    S.DRAIN: {
        I.ONLINE_MESSAGE: (S.DRAIN, S.ONLINE),         # stale ones dropped, first newer: ONLINE
        I.REQUEST_MESSAGE: (S.DRAIN,), I.REQUEST_CLOSED: (S.DRAIN,),   # after ClientDone
        I.ONLINE_CLOSED: (S.ERROR,), I.CLOSE: (S.CLOSED,),
    },
    S.ONLINE: {
        I.ONLINE_MESSAGE: (S.ONLINE,),
        I.REQUEST_MESSAGE: (S.ONLINE,), I.REQUEST_CLOSED: (S.ONLINE,),
        I.ONLINE_CLOSED: (S.ERROR,), I.CLOSE: (S.CLOSED,),
    },
    S.ERROR: {
        I.ONLINE_MESSAGE: (S.ERROR,), I.REQUEST_MESSAGE: (S.ERROR,),
        I.REQUEST_CLOSED: (S.ERROR,), I.ONLINE_CLOSED: (S.ERROR,), I.CLOSE: (S.CLOSED,),
    },
}
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
