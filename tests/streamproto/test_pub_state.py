"""The pub cores' transition tables, walked row by row through their public inputs.

Both cores take whatever their peer sends (a bad Hello drops that subscriber, bad bytes fail
the client), so their public inputs never raise; the pairs the tables leave out are checked on
``_transition`` directly.
"""
from __future__ import annotations

from typing import Callable

import pytest

from streamproto.errors import LocalProtocolError
from streamproto.events import ACTIVE, ERROR, OPENING, Control, State
from streamproto.pub.protocol import (FRAME, PubClientCore, PubServerCore, encode_hello_reply)
from streamproto.pub.state import (FAST_PATHS, PUB_CLIENT_TRANSITIONS, SUBSCRIBER_TRANSITIONS,
                                   PubClientInput, SubscriberInput, SubscriberState)

from tests.streamproto.test_pub_protocol import HELLO_C0, FakeIO

# --- client ---------------------------------------------------------------------------------

CI = PubClientInput
DATA_FRAME = FRAME.pack(3, 10, 40) + b"ddd"
CLIENT_SETUPS: dict[str, list[Callable[[PubClientCore], object]]] = {
    OPENING: [],
    ACTIVE: [lambda c: c.receive_data(encode_hello_reply(30))],
    ERROR: [lambda c: c.eof()],
}
CLIENT_TRIGGERS: dict[PubClientInput, Callable[[PubClientCore], object]] = {
    CI.HELLO_REPLY: lambda c: c.receive_data(encode_hello_reply(30)),
    CI.DATA: lambda c: c.receive_data(DATA_FRAME),
    CI.PROTOCOL_ERROR: lambda c: c.receive_data(FRAME.pack(2000, 10, 1)),   # > limit / not 101
    CI.LATE_BYTES: lambda c: c.receive_data(DATA_FRAME),
    CI.EOF: lambda c: c.eof(),
    CI.CONNECTION_LOST: lambda c: c.connection_lost("connection lost: reset"),
}
CLIENT_ROWS = [(s, i, n) for s, row in PUB_CLIENT_TRANSITIONS.items() for i, n in row.items()]


def record(obj, log):
    take = obj._transition

    def recording(*args):
        before = args[0].state if len(args) == 2 else obj.state
        new = take(*args)
        log.append((before, args[-1], new))
        return new

    obj._transition = recording
    return log


def client(state: str) -> PubClientCore:
    c = PubClientCore("c0", limit=1024)
    for call in CLIENT_SETUPS[state]:
        call(c)
    assert c.state == state
    return c


def test_client_table_is_complete():
    assert list(PUB_CLIENT_TRANSITIONS) == [OPENING, ACTIVE, ERROR]
    assert {i for row in PUB_CLIENT_TRANSITIONS.values() for i in row} == set(PubClientInput)
    for state, inp in FAST_PATHS:
        assert PUB_CLIENT_TRANSITIONS[state][inp] == state


@pytest.mark.parametrize("state,inp,new", CLIENT_ROWS,
                         ids=[f"{s}-{i.value}" for s, i, _ in CLIENT_ROWS])
def test_client_row_taken_by_its_public_input(state, inp, new):
    c = client(state)
    log = record(c, [])
    out = CLIENT_TRIGGERS[inp](c)
    assert c.state == new
    if (state, inp) in FAST_PATHS:
        assert log == [] and c.last_seq == 40
    else:
        assert log == [(state, inp, new)]
    if new == ERROR and state != ERROR:
        assert c.reason and out and out[-1] == State(ERROR, c.reason)
    if state == ERROR:
        assert out == []                                # ignored once failed


@pytest.mark.parametrize("state", [OPENING, ACTIVE, ERROR])
def test_client_pairs_missing_from_the_table_raise_local_error(state):
    missing = [i for i in PubClientInput if i not in PUB_CLIENT_TRANSITIONS[state]]
    assert missing
    for inp in missing:
        c = client(state)
        with pytest.raises(LocalProtocolError, match=f"^pub client: input '{inp.value}' is not "
                                                     f"valid in state {state}$"):
            c._transition(inp)
        assert c.state == state


# --- server: one state per subscriber -------------------------------------------------------

SI, SS = SubscriberInput, SubscriberState


class FailingIO(FakeIO):
    """Sends the first ``ok`` calls, then every send raises."""

    def __init__(self, ok=0):
        super().__init__()
        self.ok = ok

    def send(self, data):
        if self.ok <= 0:
            raise OSError(32, "Broken pipe")
        self.ok -= 1
        return super().send(data)


def server(state: SubscriberState, io=None, hello=HELLO_C0):
    events: list = []
    core = PubServerCore(1024, on_event=events.append)
    io = io or FakeIO()
    core.connect(1, io)
    if state is SS.ACTIVE:
        core.receive(1, hello)
    assert core.subscribers[1].state is state
    return core, io, events


def _fill(core):
    for seq in range(40):                  # far more than the 1 KiB ring holds
        core.post(10, seq, b"x" * 100)


SUBSCRIBER_CASES = {   # (state, input) -> (setup kwargs, trigger)
    (SS.HANDSHAKE, SI.HELLO): ({}, lambda core: core.receive(1, HELLO_C0)),
    (SS.HANDSHAKE, SI.BAD_HANDSHAKE): ({}, lambda core: core.receive(1, FRAME.pack(10, 99, 0))),
    (SS.HANDSHAKE, SI.SEND_FAILED): ({"io": FailingIO()}, lambda core: core.receive(1, HELLO_C0)),
    (SS.HANDSHAKE, SI.DISCONNECT): ({}, lambda core: core.disconnect(1, "eof")),
    (SS.ACTIVE, SI.NAME_TAIL): ({"hello": HELLO_C0[:26]}, lambda core: core.receive(1, b"c0\0")),
    (SS.ACTIVE, SI.UNEXPECTED_BYTES): ({}, lambda core: core.receive(1, b"?")),
    (SS.ACTIVE, SI.OUT_OF_DATA): ({"io": FakeIO(room=26)}, _fill),
    (SS.ACTIVE, SI.SEND_FAILED): ({"io": FailingIO(ok=1)}, lambda core: core.post(10, 1, b"x")),
    (SS.ACTIVE, SI.DISCONNECT): ({}, lambda core: core.disconnect(1, "eof")),
}
SUBSCRIBER_ROWS = [(s, i, n) for s, row in SUBSCRIBER_TRANSITIONS.items() for i, n in row.items()]


def test_subscriber_table_is_complete():
    assert list(SUBSCRIBER_TRANSITIONS) == list(SubscriberState)
    assert {i for row in SUBSCRIBER_TRANSITIONS.values() for i in row} == set(SubscriberInput)
    assert SUBSCRIBER_TRANSITIONS[SS.DROPPED] == {}     # a dropped subscriber is forgotten
    assert set(SUBSCRIBER_CASES) | {(SS.HANDSHAKE, SI.NO_HANDSHAKE)} == {
        (s, i) for s, i, _ in SUBSCRIBER_ROWS}


@pytest.mark.parametrize("state,inp,new", SUBSCRIBER_ROWS,
                         ids=[f"{s.value}-{i.value}" for s, i, _ in SUBSCRIBER_ROWS])
def test_subscriber_row_taken_by_its_public_input(state, inp, new):
    if inp is SI.NO_HANDSHAKE:                          # hello=no: active at accept
        events: list = []
        core = PubServerCore(1024, hello=False, on_event=events.append)
        log = record(core, [])
        core.connect(1, FakeIO())
        assert log == [(state, inp, new)] and core.subscribers[1].state is new
        assert [e.name for e in events] == ["Connect"]
        return
    kw, trigger = SUBSCRIBER_CASES[(state, inp)]
    core, io, events = server(state, **kw)
    sub = core.subscribers[1]
    log = record(core, [])
    trigger(core)
    assert sub.state is new and log[-1] == (state, inp, new)
    assert all(row in SUBSCRIBER_ROWS for row in log)
    if new is SS.DROPPED:
        assert 1 not in core.subscribers and io.dropped
        disconnects = [e for e in events if isinstance(e, Control) and e.name == "Disconnect"]
        assert len(disconnects) == (state is SS.ACTIVE)  # Disconnect only after a Connect


@pytest.mark.parametrize("state", list(SubscriberState))
def test_subscriber_pairs_missing_from_the_table_raise_local_error(state):
    for inp in SubscriberInput:
        if inp in SUBSCRIBER_TRANSITIONS[state]:
            continue
        core, _, _ = server(SS.ACTIVE)
        sub = core.subscribers[1]
        if state is SS.DROPPED:
            core.disconnect(1)
        elif state is SS.HANDSHAKE:
            core, _, _ = server(SS.HANDSHAKE)
            sub = core.subscribers[1]
        with pytest.raises(LocalProtocolError, match=f"^pub subscriber 1: input '{inp.value}' "
                                                     f"is not valid in state {state.value}$"):
            core._transition(sub, inp)
        assert sub.state is state
