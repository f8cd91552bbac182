"""The stream client's transition table, walked row by row through the public inputs only.

Every row of ``TRANSITIONS`` is reached from a fresh core and taken by the public call that the
core classifies into that row's input; the state changes exactly as the row says, through one
``_transition`` call (or none, for the self-loops the hot paths handle inline). Every call a
state does not accept raises LocalProtocolError naming the input and the state, and changes
nothing. Random call sequences never leave the table.
"""
from __future__ import annotations

from typing import Callable

import pytest
from hypothesis import given, settings, strategies as st

from streamproto.errors import LocalProtocolError, ProtocolError
from streamproto.stream import protocol as P
from streamproto.stream.client import StreamClientCore
from streamproto.stream.client_state import FAST_PATHS, TRANSITIONS, ClientInput, ClientState
from .transitions import record

S, I = ClientState, ClientInput
Call = Callable[[StreamClientCore], object]


def reply(last: int, requested: int) -> Call:
    return lambda c: c.request_message(P.REPLY, 0, P.encode_reply(P.Reply(last, requested, -1)))


def online(seq: int) -> Call:
    return lambda c: c.online_message(10, seq, b"on")


def history(seq: int) -> Call:
    return lambda c: c.request_message(10, seq, b"hist")


OPEN_SEQ0: Call = lambda c: c.open("seq", 0)
ACTIVE5: Call = lambda c: c.online_active(5)           # the server's last seq is 5
CONNECT: Call = lambda c: c.request_connected()

#: named ways to reach a state from a fresh core (public calls only)
SETUPS: dict[str, tuple[ClientState, list[Call]]] = {
    "closed": (S.CLOSED, []),
    "connecting": (S.CONNECTING, [OPEN_SEQ0]),
    "connecting-online-mode": (S.CONNECTING, [lambda c: c.open("online")]),
    "requesting": (S.REQUESTING, [OPEN_SEQ0, ACTIVE5]),
    "opening": (S.OPENING, [OPEN_SEQ0, ACTIVE5, CONNECT]),
    "opening-seq-6": (S.OPENING, [lambda c: c.open("seq", 6), ACTIVE5, CONNECT]),
    "opening-initial": (S.OPENING, [lambda c: c.open("initial"), lambda c: c.online_active(-1),
                                    CONNECT]),
    "connected": (S.CONNECTED, [OPEN_SEQ0, ACTIVE5, CONNECT, reply(5, 0)]),
    "connected-buffered": (S.CONNECTED, [OPEN_SEQ0, ACTIVE5, CONNECT, reply(5, 0), online(6)]),
    "wait-online": (S.WAIT_ONLINE, [lambda c: c.open("initial"), lambda c: c.online_active(-1),
                                    CONNECT, reply(-1, -1)]),
    "drain": (S.DRAIN, [lambda c: c.open("seq", 6), ACTIVE5, CONNECT, reply(5, 6)]),
    "online": (S.ONLINE, [lambda c: c.open("seq", 6), ACTIVE5, CONNECT, reply(5, 6), online(6)]),
    "error": (S.ERROR, [OPEN_SEQ0, lambda c: c.online_closed("gone")]),
}
#: the setup used for a state unless a row needs another one
DEFAULT = {S.CLOSED: "closed", S.CONNECTING: "connecting", S.REQUESTING: "requesting",
           S.OPENING: "opening", S.CONNECTED: "connected", S.WAIT_ONLINE: "wait-online",
           S.DRAIN: "drain", S.ONLINE: "online", S.ERROR: "error"}
SPECIAL = {
    (S.CONNECTING, I.ONLINE_ACTIVE_NO_HISTORY): "connecting-online-mode",
    (S.OPENING, I.REPLY_UP_TO_DATE): "opening-seq-6",
    (S.OPENING, I.REPLY_EMPTY): "opening-initial",
    (S.CONNECTED, I.HISTORY_MET_ONLINE): "connected-buffered",
}

#: the public call that the setups above classify into each input
TRIGGERS: dict[ClientInput, Call] = {
    I.OPEN: OPEN_SEQ0,
    I.CLOSE: lambda c: c.close(),
    I.ONLINE_ACTIVE: ACTIVE5,
    I.ONLINE_ACTIVE_NO_HISTORY: ACTIVE5,
    I.ONLINE_MESSAGE: online(100),
    I.ONLINE_STALE: lambda c: c.online_message(10, c.last_seq, b"old"),
    I.ONLINE_CLOSED: lambda c: c.online_closed("gone"),
    I.REQUEST_CONNECTED: CONNECT,
    I.REPLY_HISTORY: reply(5, 0),
    I.REPLY_UP_TO_DATE: reply(5, 6),
    I.REPLY_EMPTY: reply(-1, -1),
    I.REPLY_FAILED: lambda c: c.request_message(P.ERROR, 0, P.encode_error("no")),
    I.HISTORY_MESSAGE: history(1),
    I.HISTORY_CAUGHT_UP: history(5),
    I.HISTORY_MET_ONLINE: history(5),
    I.REQUEST_MESSAGE: history(100),
    I.REQUEST_CLOSED: lambda c: c.request_closed("eof"),
}

ROWS = [(state, inp, new) for state, row in TRANSITIONS.items() for inp, new in row.items()]


def build(setup: str) -> StreamClientCore:
    state, calls = SETUPS[setup]
    c = StreamClientCore()
    for call in calls:
        call(c)
    assert c.state is state, setup
    return c


def test_table_is_complete_and_readable():
    assert list(TRANSITIONS) == list(ClientState)            # every state, in declaration order
    used = {inp for row in TRANSITIONS.values() for inp in row}
    assert used == set(ClientInput)                          # no input that nothing accepts
    assert set(TRIGGERS) == set(ClientInput)
    for state, inp in FAST_PATHS:                            # inline paths only for self-loops
        assert TRANSITIONS[state][inp] is state


@pytest.mark.parametrize("state,inp,new", ROWS, ids=[f"{s.value}-{i.value}" for s, i, _ in ROWS])
def test_every_row_is_taken_by_its_public_input(state, inp, new):
    c = build(SPECIAL.get((state, inp), DEFAULT[state]))
    log = record(c)
    TRIGGERS[inp](c)
    assert c.state is new
    if (state, inp) in FAST_PATHS:
        assert log == []                                     # inline, no lookup, no assignment
    else:
        assert log == [(state, inp, new)]


def _illegal():
    out = []
    for state in ClientState:
        for inp in (I.OPEN, I.CLOSE, I.ONLINE_ACTIVE, I.REQUEST_CONNECTED, I.REQUEST_MESSAGE,
                    I.ONLINE_MESSAGE, I.REQUEST_CLOSED, I.ONLINE_CLOSED):
            if inp is I.REQUEST_MESSAGE and state in (S.OPENING, S.CONNECTED):
                continue                                     # classified as a Reply / history
            if inp not in TRANSITIONS[state]:
                out.append((state, inp))
    return out


ILLEGAL = _illegal()


def test_the_calls_each_state_refuses():
    assert ILLEGAL == [
        (S.CLOSED, I.ONLINE_ACTIVE), (S.CLOSED, I.REQUEST_CONNECTED),
        (S.CONNECTING, I.OPEN), (S.CONNECTING, I.REQUEST_CONNECTED),
        (S.CONNECTING, I.REQUEST_MESSAGE), (S.CONNECTING, I.ONLINE_MESSAGE),
        (S.CONNECTING, I.REQUEST_CLOSED),
        *[(s, i) for s in (S.REQUESTING,) for i in (I.OPEN, I.ONLINE_ACTIVE, I.REQUEST_MESSAGE)],
        *[(s, i) for s in (S.OPENING, S.CONNECTED, S.WAIT_ONLINE, S.DRAIN, S.ONLINE, S.ERROR)
          for i in (I.OPEN, I.ONLINE_ACTIVE, I.REQUEST_CONNECTED)],
    ]


@pytest.mark.parametrize("state,inp", ILLEGAL, ids=[f"{s.value}-{i.value}" for s, i in ILLEGAL])
def test_illegal_input_raises_local_error_and_changes_nothing(state, inp):
    c = build(DEFAULT[state])
    before = dict(vars(c))
    with pytest.raises(LocalProtocolError,
                       match=f"^stream client: input '{inp.value}' is not valid in state "
                             f"{state.value}$") as e:
        TRIGGERS[inp](c)
    assert isinstance(e.value, ProtocolError)                # the common root still catches it
    assert vars(c) == before and c.state is state


CALLS: list[Call] = [
    OPEN_SEQ0, lambda c: c.open("online"), lambda c: c.open("initial"), lambda c: c.open("seq", 6),
    ACTIVE5, lambda c: c.online_active(-1), CONNECT,
    reply(5, 0), reply(5, 6), reply(-1, -1), reply(5, 9), TRIGGERS[I.REPLY_FAILED],
    lambda c: c.request_message(P.REPLY, 0, b"short"), lambda c: c.request_message(99, 0, b""),
    history(1), history(3), history(5), history(7), online(2), online(5), online(6), online(8),
    lambda c: c.request_closed("x"), lambda c: c.request_closed("x", failed=True),
    lambda c: c.online_closed("x"), lambda c: c.close(),
]


@settings(max_examples=300, deadline=5000)
@given(st.lists(st.integers(0, len(CALLS) - 1), max_size=25))
def test_random_calls_stay_in_the_table(picks):
    """Any call sequence: each call takes at most one row of the table, or raises
    LocalProtocolError without side effects."""
    c = StreamClientCore(ring_size=1024)
    log = record(c)
    for k in picks:
        before, seen = c.state, len(log)
        try:
            CALLS[k](c)
        except LocalProtocolError as e:
            assert f"is not valid in state {before.value}" in str(e)
            assert c.state is before and len(log) == seen
            continue
        taken = log[seen:]
        assert len(taken) <= 1
        if taken:
            (old, inp, new), = taken
            assert old is before and TRANSITIONS[old][inp] is new is c.state
        else:
            assert c.state is before and before in (S.CONNECTED, S.ONLINE)   # FAST_PATHS


def test_table_follows_the_reference_state_machine():
    """The rules of the reference client (src/channel/stream-client.cc; docs/network-format.md#client-states),
    row by row,
    with the deviations the client module documents."""
    T = TRANSITIONS
    opened = [s for s in ClientState if s not in (S.CLOSED, S.ERROR)]
    assert T[S.CLOSED][I.OPEN] is S.CONNECTING                         # 1. open
    assert [s for s in ClientState if I.OPEN in T[s]] == [S.CLOSED]    # (reopen after close)
    assert T[S.CONNECTING][I.ONLINE_ACTIVE_NO_HISTORY] is S.ONLINE    # 2. mode=online
    assert T[S.CONNECTING][I.ONLINE_ACTIVE] is S.REQUESTING           # 2. open the request
    assert T[S.REQUESTING][I.REQUEST_CONNECTED] is S.OPENING          # 3. request sent
    for s in (S.REQUESTING, S.OPENING, S.CONNECTED):                  # 3. online data buffered
        assert T[s][I.ONLINE_MESSAGE] is s
    assert (T[S.OPENING][I.REPLY_FAILED], T[S.OPENING][I.REPLY_HISTORY],   # 4. first frame
            T[S.OPENING][I.REPLY_EMPTY], T[S.OPENING][I.REPLY_UP_TO_DATE]) == (
        S.ERROR, S.CONNECTED, S.WAIT_ONLINE, S.DRAIN)
    assert T[S.CONNECTED][I.HISTORY_MESSAGE] is S.CONNECTED           # 5. history delivered
    assert T[S.CONNECTED][I.HISTORY_CAUGHT_UP] is S.DRAIN             # 5. caught up, ring empty
    # 5./6. history met the ring: the reference goes through Overlapped while it drains the
    # ring; we drain it in the same call, so the next state is Online directly
    assert T[S.CONNECTED][I.HISTORY_MET_ONLINE] is S.ONLINE
    assert (T[S.DRAIN][I.ONLINE_STALE], T[S.DRAIN][I.ONLINE_MESSAGE]) == (S.DRAIN, S.ONLINE)  # 7.
    assert T[S.WAIT_ONLINE][I.ONLINE_MESSAGE] is S.ONLINE             # 8.
    assert (T[S.ONLINE][I.ONLINE_MESSAGE], T[S.ONLINE][I.ONLINE_STALE]) == (S.ONLINE, S.ONLINE)
    # 10. the request connection ending before catch-up fails the channel, later it is ignored
    # (the reference also fails on a request *error* after catch-up; we ignore it: documented)
    assert [s for s in ClientState if T[s].get(I.REQUEST_CLOSED) is S.ERROR
            and s is not S.ERROR] == [S.REQUESTING, S.OPENING, S.CONNECTED]
    assert all(T[s][I.REQUEST_CLOSED] is s for s in ClientState
               if s not in (S.REQUESTING, S.OPENING, S.CONNECTED, S.CONNECTING))
    # the online subscription ending fails every opened state (the pub client goes Error on EOF)
    assert all(T[s][I.ONLINE_CLOSED] is S.ERROR for s in opened)
    # close from anywhere; every late transport event after Closed / Error is ignored
    assert all(T[s][I.CLOSE] is S.CLOSED for s in ClientState)
    for s in (S.CLOSED, S.ERROR):
        assert all(T[s][i] is s for i in (I.ONLINE_MESSAGE, I.ONLINE_CLOSED, I.REQUEST_MESSAGE,
                                          I.REQUEST_CLOSED))
