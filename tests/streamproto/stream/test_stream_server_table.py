"""The request session's transition table, walked row by row through its public inputs.

The session's public inputs are total: whatever the peer sends, in whatever state, is
classified into an input the state accepts (a bad request is refused, not raised). The pairs
the table leaves out can only come from a bug in the session itself, so they are checked on
``_transition`` directly.
"""
from __future__ import annotations

from typing import Callable

import pytest

from streamproto.errors import LocalProtocolError, StorageError
from streamproto.stream import protocol as P
from streamproto.stream.server import Disconnect, MemoryHistory, RequestSession, Send
from streamproto.stream.server_state import (FAST_PATHS, SESSION_TRANSITIONS, SessionInput,
                                             SessionState)

from .transitions import record

S, I = SessionState, SessionInput
STORED = [(10, 10, b"aaa"), (10, 20, b"bbb"), (10, 30, b"ccc")]
Call = Callable[[RequestSession], object]


class _BrokenReader:
    def read(self, limit):
        raise StorageError("s.dat: bad frame at offset 64")

    def close(self):
        pass


class _BrokenHistory(MemoryHistory):
    def open_reader(self, seq):
        return _BrokenReader()


def request(c: RequestSession) -> object:
    msgid, body = P.encode_request(P.Request("seq", 0, client="c0"))
    return c.receive(msgid, 0, body)


SETUPS: dict[SessionState, list[Call]] = {
    S.WAIT_REQUEST: [],
    S.STREAMING: [request],
    S.CLOSED: [request, lambda c: c.eof()],
}
TRIGGERS: dict[SessionInput, Call] = {
    I.REQUEST: request,
    I.REQUEST_REFUSED: lambda c: c.receive(99, 0, b"junk"),
    I.PULL: lambda c: c.pull(0),
    I.READER_FAILED: lambda c: c.pull(0),          # with the broken history below
    I.CLIENT_DONE: lambda c: c.receive(P.CLIENT_DONE, 0, P.encode_client_done(30)),
    I.UNEXPECTED_MESSAGE: lambda c: c.receive(99, 0, b"junk"),
    I.LATE_MESSAGE: lambda c: c.receive(99, 0, b"junk"),
    I.EOF: lambda c: c.eof(),
}
ROWS = [(s, i, n) for s, row in SESSION_TRANSITIONS.items() for i, n in row.items()]
MISSING = [(s, i) for s in SessionState for i in SessionInput if i not in SESSION_TRANSITIONS[s]]


def build(state: SessionState, broken: bool = False) -> RequestSession:
    c = RequestSession((_BrokenHistory if broken else MemoryHistory)(STORED), peer="conn 1")
    for call in SETUPS[state]:
        call(c)
    assert c.state is state
    return c


def test_table_is_complete():
    assert list(SESSION_TRANSITIONS) == list(SessionState)
    assert {i for row in SESSION_TRANSITIONS.values() for i in row} == set(SessionInput)
    assert set(TRIGGERS) == set(SessionInput)
    for state, inp in FAST_PATHS:
        assert SESSION_TRANSITIONS[state][inp] is state


@pytest.mark.parametrize("state,inp,new", ROWS, ids=[f"{s.value}-{i.value}" for s, i, _ in ROWS])
def test_every_row_is_taken_by_its_public_input(state, inp, new):
    c = build(state, broken=inp is I.READER_FAILED)
    log = record(c)
    out = TRIGGERS[inp](c)
    assert c.state is new
    if (state, inp) in FAST_PATHS:
        assert log == [] and out                     # a history batch, no lookup
    else:
        assert log == [(state, inp, new)]
    if new is S.CLOSED and state is not S.CLOSED:
        assert c.reason and not c.streaming and c.want is None


def test_refused_request_answers_error_then_disconnects():
    c = build(S.WAIT_REQUEST)
    out = TRIGGERS[I.REQUEST_REFUSED](c)
    assert isinstance(out, list) and [type(o) for o in out] == [Send, Disconnect]
    assert out[0].msgid == P.ERROR


@pytest.mark.parametrize("state,inp", MISSING, ids=[f"{s.value}-{i.value}" for s, i in MISSING])
def test_pairs_missing_from_the_table_raise_local_error(state, inp):
    c = build(state)
    with pytest.raises(LocalProtocolError,
                       match=f"^request session of client 'c0' \\(conn 1\\): input "
                             f"'{inp.value}' is not valid in state {state.value}$"
                       if state is not S.WAIT_REQUEST else
                       f"^request session of client conn 1: input '{inp.value}' is not valid "
                       f"in state {state.value}$"):
        c._transition(inp)
    assert c.state is state


def test_state_is_read_only():
    c = build(S.STREAMING)
    with pytest.raises(AttributeError):
        c.state = S.CLOSED  # type: ignore[misc]
