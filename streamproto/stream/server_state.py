"""States, inputs and the transition table of a stream server's request session.

Kept apart from :mod:`streamproto.stream.server` so the table reads on its own, h11-style:
``SESSION_TRANSITIONS[state][input]`` is the one state an input leads to.
:class:`~streamproto.stream.server.RequestSession` classifies each call into one
:class:`SessionInput` and changes state only through its ``_transition(input)``; an input
absent for a state raises :class:`~streamproto.errors.LocalProtocolError` naming both.
"""
from __future__ import annotations

import enum

__all__ = ["SessionState", "SessionInput", "SESSION_TRANSITIONS", "FAST_PATHS"]


class SessionState(enum.Enum):
    """Where one request connection is."""

    WAIT_REQUEST = "WaitRequest"    # connected, no request yet
    STREAMING = "Streaming"         # Reply sent, history (and then live stored data) flowing
    CLOSED = "Closed"               # ended: ClientDone, Error answered, EOF, reader failure


class SessionInput(enum.Enum):
    """What happened, as the session classifies it; the value names it in errors."""

    REQUEST = "request"                        # a valid request: Reply sent
    REQUEST_REFUSED = "request_refused"        # any other message before the Reply: Error sent
    PULL = "pull"                              # the transport can take more
    READER_FAILED = "reader_failed"            # the storage reader raised
    CLIENT_DONE = "client_done"                # ClientDone after the Reply
    UNEXPECTED_MESSAGE = "unexpected_message"  # any other message after the Reply
    LATE_MESSAGE = "late_message"              # a message after the session ended: ignored
    EOF = "eof"                                # the connection went away


S, I = SessionState, SessionInput

#: state -> input -> new state. Inputs absent from a state's row raise LocalProtocolError.
SESSION_TRANSITIONS: dict[SessionState, dict[SessionInput, SessionState]] = {
    S.WAIT_REQUEST: {
        I.REQUEST:              S.STREAMING,     # -> Send(Reply)
        I.REQUEST_REFUSED:      S.CLOSED,        # -> Send(Error), Disconnect
        I.PULL:                 S.WAIT_REQUEST,  # nothing to send yet
        I.EOF:                  S.CLOSED,
    },
    S.STREAMING: {
        I.PULL:                 S.STREAMING,     # fast path: next history batch
        I.READER_FAILED:        S.CLOSED,        # -> Disconnect (by the composition)
        I.CLIENT_DONE:          S.CLOSED,        # -> Disconnect
        I.UNEXPECTED_MESSAGE:   S.CLOSED,        # -> Disconnect
        I.EOF:                  S.CLOSED,
    },
    S.CLOSED: {
        I.PULL:                 S.CLOSED,        # late events racing the end: ignored
        I.LATE_MESSAGE:         S.CLOSED,
        I.EOF:                  S.CLOSED,
    },
}

#: Self-loops handled inline after an ``is`` test of the state, without a table lookup.
FAST_PATHS: frozenset[tuple[SessionState, SessionInput]] = frozenset({
    (S.STREAMING, I.PULL),
})
del S, I
