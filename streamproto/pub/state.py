"""States, inputs and transition tables of the ``pub+tcp`` cores (h11 style).

:class:`~streamproto.pub.protocol.PubServerCore` keeps one :class:`SubscriberState` per
connection, :class:`~streamproto.pub.protocol.PubClientCore` one channel state (``Opening``,
``Active``, ``Error``, the strings of :mod:`streamproto.events`). Each changes state only in
its ``_transition``, through ``TABLE[state][input]``; an input absent for a state raises
:class:`~streamproto.errors.LocalProtocolError` naming both.
"""
from __future__ import annotations

import enum

from streamproto.events import ACTIVE, ERROR, OPENING

__all__ = ["SubscriberState", "SubscriberInput", "SUBSCRIBER_TRANSITIONS", "PubClientInput",
           "PUB_CLIENT_TRANSITIONS", "FAST_PATHS"]


class SubscriberState(enum.Enum):
    """One subscriber connection of a pub server."""

    HANDSHAKE = "Handshake"     # accepted, waiting for its Hello
    ACTIVE = "Active"           # HelloReply sent: receives every message posted from now on
    DROPPED = "Dropped"         # connection closed and forgotten: no input reaches it any more


class SubscriberInput(enum.Enum):
    """What happened to one subscriber; the value names it in errors."""

    HELLO = "hello"                         # a valid Hello: HelloReply sent
    NO_HANDSHAKE = "no_handshake"           # hello=no: active at accept
    BAD_HANDSHAKE = "bad_handshake"         # an invalid or overlong Hello: dropped
    NAME_TAIL = "name_tail"                 # the rest of the Hello's out-of-frame name
    UNEXPECTED_BYTES = "unexpected_bytes"   # anything else after the handshake: dropped
    OUT_OF_DATA = "out_of_data"             # the ring evicted what it still had to get
    SEND_FAILED = "send_failed"             # a send raised, or HelloReply went out truncated
    DISCONNECT = "disconnect"               # EOF, socket error, or the server drops it


_S, _I = SubscriberState, SubscriberInput

#: subscriber state -> input -> new state.
SUBSCRIBER_TRANSITIONS: dict[SubscriberState, dict[SubscriberInput, SubscriberState]] = {
    _S.HANDSHAKE: {
        _I.HELLO:               _S.ACTIVE,      # Connect event
        _I.NO_HANDSHAKE:        _S.ACTIVE,      # Connect event
        _I.BAD_HANDSHAKE:       _S.DROPPED,
        _I.SEND_FAILED:         _S.DROPPED,
        _I.DISCONNECT:          _S.DROPPED,
    },
    _S.ACTIVE: {
        _I.NAME_TAIL:           _S.ACTIVE,
        _I.UNEXPECTED_BYTES:    _S.DROPPED,     # Disconnect event (as for every drop below)
        _I.OUT_OF_DATA:         _S.DROPPED,
        _I.SEND_FAILED:         _S.DROPPED,
        _I.DISCONNECT:          _S.DROPPED,
    },
    _S.DROPPED: {},
}
del _S, _I


class PubClientInput(enum.Enum):
    """What happened on a subscriber's connection; the value names it in errors."""

    HELLO_REPLY = "hello_reply"             # a valid HelloReply
    DATA = "data"                           # a data message
    PROTOCOL_ERROR = "protocol_error"       # the server sent bytes that break the protocol
    LATE_BYTES = "late_bytes"               # bytes after a failure: ignored
    EOF = "eof"                             # the server closed the connection
    CONNECTION_LOST = "connection_lost"     # the socket failed


_I2 = PubClientInput

#: channel state -> input -> new state of a subscriber (``hello=no`` starts Active).
PUB_CLIENT_TRANSITIONS: dict[str, dict[PubClientInput, str]] = {
    OPENING: {
        _I2.HELLO_REPLY:        ACTIVE,
        _I2.PROTOCOL_ERROR:     ERROR,
        _I2.EOF:                ERROR,
        _I2.CONNECTION_LOST:    ERROR,
    },
    ACTIVE: {
        _I2.DATA:               ACTIVE,         # fast path
        _I2.PROTOCOL_ERROR:     ERROR,
        _I2.EOF:                ERROR,
        _I2.CONNECTION_LOST:    ERROR,
    },
    ERROR: {
        _I2.LATE_BYTES:         ERROR,          # ignored
        _I2.EOF:                ERROR,
        _I2.CONNECTION_LOST:    ERROR,
    },
}
del _I2

#: Self-loops handled inline without a table lookup (the frame loop picks the data callback).
FAST_PATHS: frozenset[tuple[str, PubClientInput]] = frozenset({(ACTIVE, PubClientInput.DATA)})
