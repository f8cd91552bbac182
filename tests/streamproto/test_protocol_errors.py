"""ProtocolError comes in two kinds: local (our misuse: a bug in the caller) and remote (the peer
sent bad bytes: that peer is dropped). Each raise site raises the right one, and the handlers
catch only the remote kind, so a bug is never mistaken for a bad peer."""
from __future__ import annotations

import logging
from typing import Callable

import pytest

import streamproto
from streamproto.errors import (LocalProtocolError, ProtocolError, RemoteProtocolError,
                                StreamprotoError)
from streamproto.events import ACTIVE, Data
from streamproto.frames import FrameReader, frame_format
from streamproto.pub.protocol import (FRAME, PubClientCore, decode_hello_reply,
                                      encode_hello_reply, parse_hello)
from streamproto.stream import protocol as P
from streamproto.stream.client import StreamClientCore
from streamproto.stream.server import MemoryHistory, RequestSession, translate


def test_both_kinds_share_the_root():
    for kind in (LocalProtocolError, RemoteProtocolError):
        assert issubclass(kind, ProtocolError) and issubclass(kind, StreamprotoError)
        assert getattr(streamproto, kind.__name__) is kind
    assert not issubclass(LocalProtocolError, RemoteProtocolError)
    assert not issubclass(RemoteProtocolError, LocalProtocolError)


def _read(frame: str, data: bytes, limit: int = 1024) -> None:
    FrameReader(frame, limit, where="conn 7").feed(data)


LOCAL: dict[str, Callable[[], object]] = {
    "frame body too large": lambda: frame_format("short").encode(1, 1, bytes(70000)),
    "frame msgid does not fit": lambda: frame_format("tiny").encode_header(0, 1 << 20, 0),
    "frame seq does not fit": lambda: frame_format("tiny").encode_header(0, 1, 1 << 40),
    "request of unknown kind": lambda: P.encode_request(P.Request("bogus")),
    "block request without type": lambda: P.encode_request(P.Request("block")),
    "request seq out of range": lambda: P.encode_request(P.Request("seq", -1)),
    "RequestOld for initial": lambda: P.encode_request(P.Request("initial", old=True)),
    "short BeginOfBlock control": lambda: P.decode_begin_of_block(b"\x01"),
    "stream client input in the wrong state": lambda: StreamClientCore().request_connected(),
}
REMOTE: dict[str, Callable[[], object]] = {
    "frame over the receive limit": lambda: _read("std", FRAME.pack(2000, 1, 1)),
    "bson frame smaller than its header": lambda: _read("bson", b"\x02\x00\x00\x00"),
    "request with a bad msgid": lambda: P.decode_request(99, bytes(40)),
    "short request": lambda: P.decode_request(P.REQUEST, bytes(10)),
    "request of version 2": lambda: P.decode_request(P.REQUEST, b"\x02" + bytes(34)),
    "request pointer past the end": lambda: P.decode_request(
        P.REQUEST, b"\x01\x00" + (100).to_bytes(4, "little") + b"\x03\x00\x00\x01" + bytes(25)),
    "short Reply": lambda: P.decode_reply(bytes(31)),
    "short Error": lambda: P.decode_error(bytes(15)),
    "short ClientDone": lambda: P.decode_client_done(bytes(7)),
    "Hello with a bad msgid": lambda: parse_hello(FRAME.pack(10, 99, 0) + bytes(10)),
    "HelloReply of version 2": lambda: decode_hello_reply(101, b"\x02\x00" + bytes(8)),
    "last request on an empty server": lambda: translate(P.Request("last"), MemoryHistory()),
    "block request without block storage": lambda: translate(
        P.Request("block", block_type="default"), MemoryHistory()),
}


@pytest.mark.parametrize("name", LOCAL)
def test_local_raise_sites(name):
    with pytest.raises(LocalProtocolError):
        LOCAL[name]()


@pytest.mark.parametrize("name", REMOTE)
def test_remote_raise_sites(name):
    with pytest.raises(RemoteProtocolError):
        REMOTE[name]()


def test_frame_reader_names_the_connection_and_stays_failed():
    r = FrameReader("std", 64, where="conn 7")
    with pytest.raises(RemoteProtocolError, match="^conn 7: frame of 116 bytes"):
        r.feed(FRAME.pack(100, 1, 1))
    with pytest.raises(RemoteProtocolError):
        r.feed(b"")


def test_a_callback_bug_passes_through_the_frame_reader_unchanged():
    def on_frame(msgid, seq, body):
        raise LocalProtocolError("caller bug")
    r = FrameReader("std", 1024)
    with pytest.raises(LocalProtocolError, match="caller bug"):
        r.parse(FRAME.pack(1, 1, 1) + b"x", on_frame)


def test_pub_client_fails_on_remote_errors_only():
    c = PubClientCore()
    events = c.receive_data(encode_hello_reply(5) + FRAME.pack(1, 10, 6) + b"x")
    assert events[0].state == ACTIVE and events[1] == Data(10, 6, b"x")

    def buggy(ev):
        raise LocalProtocolError("bug in the subscriber's consumer")
    with pytest.raises(LocalProtocolError, match="consumer"):   # not taken for the server's fault
        c.receive(FRAME.pack(1, 10, 7) + b"y", buggy)
    assert c.state == ACTIVE and c.reason is None


def test_stream_client_turns_a_bad_reply_into_an_error_state():
    c = StreamClientCore()
    c.open("seq", 0)
    c.online_active(5)
    c.request_connected()
    out = c.request_message(P.REPLY, 0, b"short")
    assert out[-1].state == "Error" and c.error.startswith("Invalid Reply from server: Reply: body")


def test_request_session_refuses_a_bad_request_with_a_log_line_naming_the_peer(caplog):
    s = RequestSession(MemoryHistory(), peer="request connection 4")
    with caplog.at_level(logging.WARNING, logger="streamproto.stream.server"):
        out = s.receive(P.REQUEST, 0, bytes(10))
    assert P.decode_error(out[0].body).error.startswith("Invalid request: Request: body is 10")
    [rec] = caplog.records
    assert rec.levelno == logging.WARNING and "client request connection 4" in rec.getMessage()
