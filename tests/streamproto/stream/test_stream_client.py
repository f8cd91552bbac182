"""StreamClientCore state machine: the reference's python/test/test_stream.py scenarios, merge invariants."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from streamproto import events as ev
from streamproto.errors import ConfigError, LocalProtocolError
from streamproto.stream import protocol as P
from streamproto.stream.client import (TRANSITIONS, ClientInput, ClientState, CloseRequest,
                                       OpenRequest, SendRequest, StreamClientCore, StreamData)

from tests.streamproto.stream.stream_sim import Sim

STORED = [(10, 10, b"aaa"), (10, 20, b"bbb"), (10, 30, b"ccc")]


def seqs(sim):
    return [d.seq for d in sim.data()]


def online_ctl(sim):
    return [c.seq for c in sim.controls() if c.name == "Online"]


@pytest.mark.parametrize("mode,seq,expect", [   # test_open
    ("seq-data", 20, [30]), ("seq", 20, [20, 30]), ("last", None, [30]),
    ("initial", None, [10, 20, 30]), ("seq", 0, [10, 20, 30]),
])
@pytest.mark.parametrize("protocol", ["new", "old"])
def test_open_table(mode, seq, expect, protocol):
    if protocol == "old" and mode in ("last", "initial"):
        with pytest.raises(ConfigError, match="needs stream.protocol=new"):
            StreamClientCore(protocol="old").open(mode)
        return
    sim = Sim(STORED, protocol=protocol)
    sim.open(mode=mode, seq=seq)
    sim.run()
    assert seqs(sim) == expect and online_ctl(sim) == [30]
    sim.post(10, 40, b"ddd")
    sim.run()
    assert seqs(sim) == expect + [40]
    assert sim.client.state is ClientState.ONLINE and sim.client.last_seq == 40
    assert [d.online for d in sim.data()] == [False] * len(expect) + [True]


def test_overlapped_live_posts_during_history():
    sim = Sim(STORED, batch=1)
    sim.open(mode="seq", seq=20)
    sim.step_server()
    sim.step_req()                      # Reply
    for s in (40, 50, 60):
        sim.post(10, s, b"x")
        sim.step_pub()                  # buffered
    sim.run()
    assert seqs(sim) == [20, 30, 40, 50, 60] and online_ctl(sim) == [60]
    done = [c for c in sim.commands if isinstance(c, SendRequest) and c.msgid == P.CLIENT_DONE]
    assert len(done) == 1
    sim.post(10, 70, b"y")
    sim.run()
    assert seqs(sim)[-1] == 70 and sim.client.dropped >= 0


def test_slow_online_history_catches_up_then_duplicates_dropped():
    sim = Sim(STORED)
    sim.open(mode="seq", seq=20)
    for s in (40, 50, 60):
        sim.post(10, s, b"x")           # pub delivery held back
    while sim.step_server() | sim.step_req():
        pass
    assert seqs(sim) == [20, 30, 40, 50, 60] and online_ctl(sim) == [60]
    sim.post(10, 70, b"y")
    sim.run()                           # 40..60 arrive late on pub: dropped, 70 delivered
    assert seqs(sim) == [20, 30, 40, 50, 60, 70] and sim.client.dropped == 3


def test_recent_nothing_to_fetch():
    sim = Sim(STORED)
    sim.open(mode="seq", seq=31)
    sim.run()
    assert seqs(sim) == [] and online_ctl(sim) == [30]
    assert any(isinstance(c, CloseRequest) for c in sim.commands)
    assert not any(isinstance(c, SendRequest) and c.msgid == P.CLIENT_DONE for c in sim.commands)
    assert sim.client.last_seq == 30
    assert sim.client.reopen_params() == {"mode": "seq-data", "seq": 30}


def test_nothing_to_fetch_keeps_buffered_online_messages():
    """The reference drops what the online buffer holds on this path; we deliver it."""
    sim = Sim(STORED)
    sim.open(mode="seq", seq=31)
    sim.step_server()
    sim.post(10, 40, b"ddd")
    sim.step_pub()                      # 40 buffered before the Reply arrives
    sim.run()
    assert seqs(sim) == [40] and online_ctl(sim) == [40]
    assert [e.seq for e in sim.events if isinstance(e, (ev.Data, ev.Control))] == [40, 40]


def test_empty_server_initial_waits_for_first_message():
    sim = Sim()
    sim.open(mode="initial")
    sim.run()
    assert sim.client.state is ClientState.WAIT_ONLINE and sim.states() == ["Opening", "Active"]
    sim.post(10, 10, b"a")
    sim.run()
    assert seqs(sim) == [10] and online_ctl(sim) == [10]
    sim.post(10, 11, b"b")
    sim.run()
    assert seqs(sim) == [10, 11] and [d.online for d in sim.data()] == [False, True]


def test_empty_server_initial_keeps_buffered_online_messages():
    sim = Sim()
    sim.open(mode="initial")
    sim.step_server()
    sim.post(10, 0, b"a")
    sim.post(10, 1, b"b")
    sim.step_pub()
    sim.step_pub()
    sim.run()
    assert seqs(sim) == [0, 1] and online_ctl(sim) == [1]


@pytest.mark.parametrize("mode,seq", [("seq", 0), ("last", None)])
def test_empty_server_other_modes_fail(mode, seq):
    sim = Sim()
    sim.open(mode=mode, seq=seq)
    sim.run()
    assert sim.client.state is ClientState.ERROR
    if mode == "last":
        assert sim.client.error == "Server error: Failed to request last message: no data on the server"
    else:
        assert sim.client.error == "Server has no data for now, can not open from seq 0"


def test_request_beyond_last_plus_one_is_rejected_by_client():
    sim = Sim(STORED)
    sim.open(mode="seq", seq=100)
    sim.run()
    assert sim.client.error == "Invalid server seq: 30 < requested 100"
    assert sim.states() == ["Opening", "Active", "Error"]


def test_online_gap_pub_ahead_of_reply():
    """HelloReply reports 10 > Reply.last_seq 4: history continues live over request."""
    sim = Sim([(1, s, b"h") for s in range(5)], hello_seq=10)
    sim.open(mode="seq", seq=0)
    while sim.step_server() | sim.step_req():
        pass
    assert seqs(sim) == [0, 1, 2, 3, 4] and online_ctl(sim) == []
    sim.storage.append(1, 10, b"late")   # stored, streamed on request; pub message lost
    sim.run()
    assert seqs(sim) == [0, 1, 2, 3, 4, 10] and online_ctl(sim) == [10]


def test_two_pow_32_seqs():
    big = 1 << 32
    sim = Sim([(1, big, b"a"), (1, big + 1, b"b")])
    sim.open(mode="seq", seq=big)
    sim.run()
    assert seqs(sim) == [big, big + 1] and online_ctl(sim) == [big + 1]


def test_ring_eviction_during_history_loses_nothing():
    sim = Sim([(1, s, b"h" * 50) for s in range(10)], ring_size=1024, batch=1)
    sim.open(mode="seq", seq=0)
    sim.step_server()
    sim.step_req()
    for s in range(10, 60):             # far more than the 1 KiB buffer holds
        sim.post(1, s, b"o" * 50)
        sim.step_pub()
    sim.run()
    assert seqs(sim) == list(range(60)) and online_ctl(sim) == [59]


def test_oversized_online_message_while_buffering():
    sim = Sim(STORED, ring_size=1024)
    sim.open(mode="seq", seq=10)
    sim.step_server()
    sim.post(1, 40, b"x" * 600)          # > size/2: cannot be buffered
    sim.step_pub()
    sim.post(1, 50, b"y")
    sim.step_pub()
    sim.run()
    assert seqs(sim) == [10, 20, 30, 40, 50] and online_ctl(sim) == [50]


def test_nothing_to_fetch_after_buffer_overflow_uses_history():
    sim = Sim(STORED, ring_size=1024)
    sim.open(mode="seq", seq=31)
    sim.step_server()                   # Request answered: Reply in flight
    for s in range(40, 80):
        sim.post(1, s, b"z" * 40)
        sim.step_pub()
    sim.run()
    assert seqs(sim) == list(range(40, 80)) and online_ctl(sim) == [79]


def test_server_error_and_unknown_reply():
    c = StreamClientCore(peer="c0")
    c.open("seq", 1)
    c.online_active(5)
    c.request_connected()
    out = c.request_message(P.ERROR, 0, P.encode_error("no way"))
    assert out == [ev.State("Error", "Server error: no way")] and c.state is ClientState.ERROR
    assert c.close() == [ev.State("Closing"), ev.State("Closed")]
    c.open("seq", 1)
    c.online_active(5)
    c.request_connected()
    out = c.request_message(99, 0, b"")
    assert out[0].state == "Error" and "Unknown message from server: msgid 99" in out[0].reason
    c.close()
    c.open("seq", 1)
    c.online_active(5)
    c.request_connected()
    out = c.request_message(P.REPLY, 0, bytes(31))
    assert "Invalid Reply from server: Reply: body is 31 bytes" in out[0].reason


def test_request_eof_before_catch_up_is_an_error():
    sim = Sim(STORED, batch=1)
    sim.open(mode="seq", seq=10)
    sim.step_server()
    sim.step_req()
    sim.step_req()
    sim.take(sim.client.request_closed())
    assert sim.client.state is ClientState.ERROR
    assert sim.client.error == "Request channel closed in state Connected"
    assert sim.client.last_seq == 10
    assert sim.client.reopen_params() == {"mode": "seq-data", "seq": 10}


def test_online_eof_is_an_error_in_any_open_state():
    c = StreamClientCore()
    c.open("online")
    c.online_active(3)
    assert c.online_message(1, 4, b"") [0].online
    out = c.online_closed("Server dropped connection")
    assert out == [ev.State("Error", "Online channel closed in state Online: Server dropped connection")]


def test_request_eof_after_catch_up_is_ignored():
    sim = Sim(STORED)
    sim.open(mode="seq", seq=10)
    sim.run()
    assert sim.server_closed_request and sim.client.state is ClientState.DRAIN
    assert sim.states() == ["Opening", "Active"]


def test_block_reply_emits_begin_and_end_of_block():
    c = StreamClientCore(peer="c0")
    c.open("block", block=0)
    c.online_active(30)
    [send] = c.request_connected()
    assert P.decode_request(send.msgid, send.body).kind == "block"
    out = c.request_message(P.REPLY, 0, P.encode_reply(P.Reply(30, 9, 11)))
    assert out[1] == ev.Control("BeginOfBlock", 12, 9, P.encode_begin_of_block(10), None, {"last_seq": 10})
    assert c.reopen_params() == {"mode": "block", "block": 0, "block-type": "default"}
    out = c.request_message(1, 9, b"a") + c.request_message(1, 10, b"b") + c.request_message(1, 20, b"c")
    kinds = [(type(o).__name__, getattr(o, "name", None), o.seq) for o in out if not isinstance(o, SendRequest)]
    assert kinds == [("StreamData", None, 9), ("StreamData", None, 10), ("Control", "EndOfBlock", 10),
                     ("StreamData", None, 20)]
    out = c.request_message(1, 30, b"d")
    assert [o.name for o in out if isinstance(o, ev.Control)] == ["Online"]
    assert c.reopen_params() == {"mode": "seq-data", "seq": 30}


def test_block_ending_at_last_seq_reports_end_then_online():
    c = StreamClientCore()
    c.open("block", block=1)
    c.online_active(10)
    c.request_connected()
    c.request_message(P.REPLY, 0, P.encode_reply(P.Reply(10, 9, 11)))
    out = c.request_message(1, 9, b"") + c.request_message(1, 10, b"")
    names = [o.name for o in out if isinstance(o, ev.Control)]
    assert names == ["EndOfBlock", "Online"]


@pytest.mark.parametrize("kw,match", [
    ({"mode": "bogus"}, "invalid value 'bogus'"), ({"mode": "seq"}, "'seq' is mandatory"),
    ({"mode": "seq", "seq": -1}, "negative value -1"), ({"mode": "block"}, "'block' is mandatory"),
])
def test_open_parameter_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        StreamClientCore().open(**kw)


def test_inputs_missing_from_the_table_raise():
    c = StreamClientCore()
    with pytest.raises(LocalProtocolError,
                       match="input 'online_active' is not valid in state Closed"):
        c.online_active(1)
    c.open("seq", 0)
    with pytest.raises(LocalProtocolError,
                       match="'request_connected' is not valid in state Connecting"):
        c.request_connected()
    with pytest.raises(LocalProtocolError,
                       match="'online_message' is not valid in state Connecting"):
        c.online_message(1, 1, b"")


def test_table_names_every_state():
    assert set(TRANSITIONS) == set(ClientState)
    for row in TRANSITIONS.values():
        assert set(row) <= set(ClientInput)


def test_online_mode_and_reopen():
    c = StreamClientCore()
    assert c.open("online") == [ev.State("Opening")]
    assert c.online_active(5) == [ev.State("Active")]
    assert c.online_message(1, 6, b"x") == [StreamData(1, 6, b"x", None, True)]
    assert c.online_message(1, 6, b"x") == [] and c.dropped == 1
    assert c.reopen_params() == {"mode": "online"}
    c.close()
    assert c.open("seq", 7)[0] == ev.State("Opening") and c.last_seq == -1
    assert c.online_active(6) == [OpenRequest()]


# ---------------------------------------------------------------- merge invariant (hypothesis)

@settings(max_examples=300, deadline=None)
@given(n_stored=st.integers(0, 12),
       gap=st.integers(1, 3),
       mode=st.sampled_from(["seq", "seq-data", "initial", "last"]),
       start=st.integers(0, 40),
       ring_size=st.sampled_from([1024, 128 * 1024]),
       batch=st.integers(1, 5),
       script=st.lists(st.sampled_from(["post", "pub", "req", "server"]), max_size=120))
def test_every_seq_delivered_once_in_order(n_stored, gap, mode, start, ring_size, batch, script):
    stored = [(1, i * gap, b"s" * (i % 7 * 10)) for i in range(n_stored)]
    sim = Sim(stored, ring_size=ring_size, batch=batch)
    seq = start if mode in ("seq", "seq-data") else None
    sim.open(mode=mode, seq=seq)
    nxt = n_stored * gap
    for step in script:
        if step == "post":
            sim.post(1, nxt, b"p" * (nxt % 7 * 100))
            nxt += gap
        else:
            {"pub": sim.step_pub, "req": sim.step_req, "server": sim.step_server}[step]()
    sim.run()
    c = sim.client
    if c.state is ClientState.ERROR:
        # only legitimate failures: empty server (not initial), a start beyond last + 1, or a
        # tiny online buffer overflowing before the Reply came (nothing can refill it: reopen)
        allowed = ("Server has no data", "Invalid server seq", "Server error: Failed to request last")
        if ring_size == 1024:
            allowed += ("Online buffer overflowed while waiting for the server's reply",)
        assert c.error.startswith(allowed)
        return
    all_seqs = [s for s in range(0, nxt, gap)]
    if mode in ("seq", "seq-data"):
        first = start + (mode == "seq-data")
    else:
        first = c.reply.requested_seq
    got = seqs(sim)
    assert got == [s for s in all_seqs if s >= first]
    assert c.state in (ClientState.ONLINE, ClientState.DRAIN, ClientState.WAIT_ONLINE)
    onl = [i for i, e in enumerate(sim.events) if isinstance(e, ev.Control) and e.name == "Online"]
    if c.state is ClientState.WAIT_ONLINE:
        assert onl == [] and got == []
        return
    assert len(onl) == 1
    before = [e for e in sim.events[:onl[0]] if isinstance(e, ev.Data)]
    after = [e for e in sim.events[onl[0]:] if isinstance(e, ev.Data)]
    assert sim.events[onl[0]].seq == (before[-1].seq if before else c.reply.last_seq)
    assert not any(d.online for d in before) and all(d.online for d in after)


def test_switch_waits_for_history_to_pass_everything_evicted():
    """Buffer cleared by an oversized message: history must pass it before going online."""
    sim = Sim(STORED, ring_size=1024)
    sim.open(mode="seq", seq=31)
    sim.step_server()                   # Reply in flight
    sim.post(1, 40, b"a")
    sim.post(1, 50, b"x" * 600)         # clears the buffer
    sim.step_pub()
    sim.step_pub()
    sim.step_req()                      # Reply: buffer lost data -> history continues
    assert sim.client.state is ClientState.CONNECTED
    sim.run()
    assert seqs(sim) == [40, 50] and online_ctl(sim) == [50]
    sim.post(1, 60, b"b")
    sim.run()
    assert seqs(sim) == [40, 50, 60]
