"""Our sans-I/O stream client and server replayed against the reference wire captures."""
from __future__ import annotations

import struct

import pytest

from streamproto import events as ev
from streamproto.stream import protocol as P
from streamproto.stream.client import (CloseRequest, Command, OpenRequest, SendRequest,
                                       StreamClientCore, StreamData)
from streamproto.stream.server import (Disconnect, MemoryHistory, RequestSession, Send,
                                       WANT_DATA)

from tests.streamproto.stream.stream_wirelog import WIRE_LOGS, EventLine, FrameSplitter, frame, parse, split

STORED = [(10, 10, b"aaa"), (10, 20, b"bbb"), (10, 30, b"ccc")]
LATER = (10, 40, b"ddd")
IDS = [p.stem for p in WIRE_LOGS]


def _open_kwargs(params: dict) -> dict:
    kw = {"mode": params["mode"]}
    if "seq" in params:
        kw["seq"] = int(params["seq"])
    if "block" in params:
        kw["block"] = int(params["block"])
    if "block-type" in params:
        kw["block_type"] = params["block-type"]
    return kw


def _as_line(e) -> EventLine:
    if isinstance(e, ev.State):
        return EventLine("STATE", ev.STATE_IDS[e.state], 0, b"")
    if isinstance(e, ev.Data):
        return EventLine("DATA", e.msgid, e.seq, bytes(e.body))
    assert isinstance(e, ev.Control), e
    return EventLine("CTRL", e.msgid, e.seq, bytes(e.body))


class Replay:
    """Feeds one capture's server-side bytes into a StreamClientCore, records what it does."""

    def __init__(self, log):
        self.log = log
        self.client = StreamClientCore(protocol=log.protocol, peer=log.peer)
        self.events: list = []
        self.req_sent = b""
        self.commands: list = []
        self.closed_request_before_server_eof = False
        self.server_eof = False

    def take(self, out):
        for item in out:
            if isinstance(item, Command):
                self.commands.append(item)
                if isinstance(item, SendRequest):
                    self.req_sent += frame(item.msgid, item.seq, item.body)
                elif isinstance(item, CloseRequest) and not self.server_eof:
                    self.closed_request_before_server_eof = True
            else:
                self.events.append(item)

    def run(self):
        c = self.client
        self.take(c.open(**_open_kwargs(self.log.open_params)))
        pub, req = FrameSplitter(), FrameSplitter()
        hello_done = False
        for w in self.log.wire:
            if w.kind == "OPEN" and w.tag == "REQ":
                assert any(isinstance(x, OpenRequest) for x in self.commands)
                self.take(c.request_connected())
            elif w.kind == "DATA" and w.direction == "S>C" and w.tag == "PUB":
                for msgid, seq, body in pub.feed(w.data):
                    if not hello_done:
                        assert msgid == 101
                        hello_done = True
                        self.take(c.online_active(struct.unpack_from("<q", body, 2)[0]))
                    else:
                        self.take(c.online_message(msgid, seq, body))
            elif w.kind == "DATA" and w.direction == "S>C" and w.tag == "REQ":
                for msgid, seq, body in req.feed(w.data):
                    self.take(c.request_message(msgid, seq, body))
            elif w.kind == "EOF" and w.direction == "S>C" and w.tag == "REQ":
                self.server_eof = True
                self.take(c.request_closed())
            elif w.kind == "EOF" and w.direction == "C>S" and w.tag == "PUB":
                self.take(c.close())           # the user closed the channel
            elif w.kind == "EOF" and w.direction == "S>C" and w.tag == "PUB":
                self.take(c.online_closed())
        return self


@pytest.mark.parametrize("path", WIRE_LOGS, ids=IDS)
def test_client_events_match_reference(path):
    log = parse(path)
    r = Replay(log).run()
    assert [_as_line(e) for e in r.events] == log.events


@pytest.mark.parametrize("path", WIRE_LOGS, ids=IDS)
def test_client_request_bytes_match_reference(path):
    log = parse(path)
    r = Replay(log).run()
    assert r.req_sent.hex() == log.stream("REQ", "C>S").hex()
    # who closes the request connection first: the client only on the "nothing to fetch" path
    wire = [(w.tag, w.direction, w.kind) for w in log.wire]
    if ("REQ", "C>S", "EOF") in wire:
        client_first = wire.index(("REQ", "C>S", "EOF")) < wire.index(("REQ", "S>C", "EOF"))
        assert r.closed_request_before_server_eof == client_first


@pytest.mark.parametrize("path", WIRE_LOGS, ids=IDS)
def test_client_marks_history_and_online(path):
    log = parse(path)
    r = Replay(log).run()
    seen_online = log.open_params["mode"] == "online"
    data = 0
    for e in r.events:
        if isinstance(e, ev.Control) and e.name == "Online":
            seen_online = True
        elif isinstance(e, StreamData):
            data += 1
            assert e.online == seen_online, e
    assert data == sum(1 for e in log.events if e.kind == "DATA")


@pytest.mark.parametrize("path", WIRE_LOGS, ids=IDS)
def test_client_last_seq_after_run(path):
    log = parse(path)
    r = Replay(log).run()
    delivered = [e.seq for e in log.events if e.kind == "DATA"]
    assert r.client.last_seq == (delivered[-1] if delivered else -1)


@pytest.mark.parametrize("path", [p for p in WIRE_LOGS if p.stem != "online"],
                         ids=[s for s in IDS if s != "online"])
def test_server_answers_match_reference(path):
    """Our RequestSession, fed the reference client's requests, writes the reference's bytes."""
    log = parse(path)
    storage = MemoryHistory(STORED)
    session = RequestSession(storage)
    sent = b""
    disconnected = False
    for msgid, seq, body in split(log.stream("REQ", "C>S")):
        for out in session.receive(msgid, seq, body):
            if isinstance(out, Send):
                sent += frame(out.msgid, out.seq, out.body)
            else:
                assert isinstance(out, Disconnect)
                disconnected = True
        while session.streaming:
            batch = session.pull(len(sent))
            if not batch:
                assert session.want == WANT_DATA
                break
            sent += b"".join(frame(*m) for m in batch)
    if not disconnected:   # the client closed first (nothing to fetch)
        session.eof()
    assert sent.hex() == log.stream("REQ", "S>C").hex()
    assert not session.streaming


def test_server_follows_storage_until_client_done():
    storage = MemoryHistory(STORED)
    session = RequestSession(storage)
    msgid, body = P.encode_request(P.Request(P.REQUEST_SEQ, 20))
    [reply] = session.receive(msgid, 0, body)
    assert P.decode_reply(reply.body) == P.Reply(30, 20, -1)
    assert [m[1] for m in session.pull()] == [20, 30]
    assert session.pull() == () and session.want == WANT_DATA
    storage.append(*LATER)
    assert list(session.pull()) == [LATER]
    [done] = session.receive(P.CLIENT_DONE, 0, P.encode_client_done(40))
    assert isinstance(done, Disconnect) and session.done_seq == 40
    assert session.pull() == ()


@pytest.mark.parametrize("path", WIRE_LOGS, ids=IDS)
def test_online_handshake_bytes_match_reference(path):
    """The pub side of a stream: Hello carries the stream's peer name; HelloReply the last seq."""
    pub = pytest.importorskip("streamproto.pub.protocol")
    log = parse(path)
    assert pub.encode_hello(log.peer) == log.stream("PUB", "C>S")
    s2c = log.stream("PUB", "S>C")
    assert s2c == pub.encode_hello_reply(MemoryHistory(STORED).last_seq) + frame(*LATER)


# --- the transition tables against the reference runs ------------------------------------------

_HISTORY = ("OPEN>CONNECTING ONLINE_ACTIVE>REQUESTING REQUEST_CONNECTED>OPENING "
            "REPLY_HISTORY>CONNECTED HISTORY_CAUGHT_UP>DRAIN REQUEST_CLOSED>DRAIN "
            "ONLINE_MESSAGE>ONLINE CLOSE>CLOSED ONLINE_CLOSED>CLOSED")
#: the client's transitions for each capture (the reference's Opening is our Connecting,
#: Requesting and Opening; history messages before the last take the Connected self-loop inline)
CLIENT_PATHS = {
    "before-start": _HISTORY, "initial": _HISTORY, "last": _HISTORY, "seq-data": _HISTORY,
    "seq-new": _HISTORY, "seq-old": _HISTORY,
    "recent": ("OPEN>CONNECTING ONLINE_ACTIVE>REQUESTING REQUEST_CONNECTED>OPENING "
               "REPLY_UP_TO_DATE>DRAIN REQUEST_CLOSED>DRAIN ONLINE_MESSAGE>ONLINE CLOSE>CLOSED "
               "ONLINE_CLOSED>CLOSED"),
    "block-without-blocks": ("OPEN>CONNECTING ONLINE_ACTIVE>REQUESTING REQUEST_CONNECTED>OPENING "
                             "REPLY_FAILED>ERROR REQUEST_CLOSED>ERROR ONLINE_MESSAGE>ERROR "
                             "CLOSE>CLOSED ONLINE_CLOSED>CLOSED"),
    "online": "OPEN>CONNECTING ONLINE_ACTIVE_NO_HISTORY>ONLINE CLOSE>CLOSED ONLINE_CLOSED>CLOSED",
}
SERVER_PATHS = {   # the request session's transitions, fed the reference client's requests
    "recent": "REQUEST>STREAMING EOF>CLOSED",
    "block-without-blocks": "REQUEST_REFUSED>CLOSED",
}


def _recording(core) -> list:
    log: list = []
    take = core._transition

    def recording(inp):
        new = take(inp)
        log.append(f"{inp.name}>{new.name}")
        return new

    core._transition = recording
    return log


@pytest.mark.parametrize("path", WIRE_LOGS, ids=IDS)
def test_client_transitions_follow_the_reference_run(path):
    r = Replay(parse(path))
    log = _recording(r.client)
    r.run()
    assert " ".join(log) == CLIENT_PATHS[path.stem]


@pytest.mark.parametrize("path", [p for p in WIRE_LOGS if p.stem != "online"],
                         ids=[s for s in IDS if s != "online"])
def test_server_transitions_follow_the_reference_run(path):
    log = parse(path)
    session = RequestSession(MemoryHistory(STORED))
    steps = _recording(session)
    ended = False
    for msgid, seq, body in split(log.stream("REQ", "C>S")):
        ended = any(isinstance(o, Disconnect) for o in session.receive(msgid, seq, body))
        while session.streaming and session.pull():
            pass
    if not ended:
        session.eof()
    assert " ".join(steps) == SERVER_PATHS.get(path.stem, "REQUEST>STREAMING CLIENT_DONE>CLOSED")
