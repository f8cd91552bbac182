"""RequestSession: translation table, boundary cases, malformed requests, flow control."""
from __future__ import annotations

import pytest

from streamproto.errors import StorageError
from streamproto.stream import protocol as P
from streamproto.stream.server import (WANT_DATA, WANT_WRITABLE, Disconnect, MemoryHistory,
                                       RequestSession, Send, SessionState)

STORED = [(10, 10, b"aaa"), (10, 20, b"bbb"), (10, 30, b"ccc")]


def ask(session, req: P.Request):
    msgid, body = P.encode_request(req)
    return session.receive(msgid, 0, body)


def drain(session, buffered=0):
    out = []
    while True:
        batch = session.pull(buffered)
        if not batch:
            return out
        out += [m[1] for m in batch]


@pytest.mark.parametrize("req,reply,history", [
    (P.Request("seq", 20), P.Reply(30, 20, -1), [20, 30]),
    (P.Request("seq", 20, old=True), P.Reply(30, 20, -1), [20, 30]),
    (P.Request("seq", 0), P.Reply(30, 0, -1), [10, 20, 30]),       # before the storage start
    (P.Request("seq", 21), P.Reply(30, 21, -1), [30]),             # gap
    (P.Request("seq", 31), P.Reply(30, 31, -1), []),               # last + 1
    (P.Request("seq", 100), P.Reply(30, 100, -1), []),             # beyond: client rejects
    (P.Request("last"), P.Reply(30, 29, -1), [30]),
    (P.Request("initial"), P.Reply(30, 10, -1), [10, 20, 30]),
])
def test_translation(req, reply, history):
    s = RequestSession(MemoryHistory(STORED))
    [out] = ask(s, req)
    assert out == Send(P.REPLY, 0, P.encode_reply(reply))
    assert drain(s) == history and s.want == WANT_DATA and s.streaming


def test_last_on_contiguous_stream_returns_last_two():
    s = RequestSession(MemoryHistory([(1, q, b"") for q in range(27, 31)]))
    [out] = ask(s, P.Request("last"))
    assert P.decode_reply(out.body) == P.Reply(30, 29, -1)
    assert drain(s) == [29, 30]


def test_empty_storage():
    s = RequestSession(MemoryHistory())
    [out] = ask(s, P.Request("initial"))
    assert P.decode_reply(out.body) == P.Reply(-1, -1, -1)
    s = RequestSession(MemoryHistory())
    out = ask(s, P.Request("last"))
    assert out[0] == Send(P.ERROR, 0, P.encode_error("Failed to request last message: no data on the server"))
    assert isinstance(out[1], Disconnect) and s.state is SessionState.CLOSED


@pytest.mark.parametrize("old", [False, True])
def test_block_without_block_storage(old):
    s = RequestSession(MemoryHistory(STORED))
    out = ask(s, P.Request("block", block_type="default", block_index=0, old=old))
    assert out[0].body.hex() == (
        "1000000031000001" "0000000000000000" + b"Requested block, but no block storage configured\0".hex())
    assert isinstance(out[1], Disconnect)


def test_server_name_in_reply_and_error():
    s = RequestSession(MemoryHistory(STORED), server_name="s")
    [out] = ask(s, P.Request("seq", 0))
    assert P.decode_reply(out.body) == P.Reply(30, 0, -1, "s")
    s = RequestSession(MemoryHistory(), server_name="s")
    out = ask(s, P.Request("last"))
    assert P.decode_error(out[0].body).server == "s"


@pytest.mark.parametrize("msgid,body,text", [
    (12, bytes(10), "Invalid request: Request: body is 10 bytes, shorter than its fixed size 35"),
    (12, b"\x02\x00" + bytes(33), "Invalid request: Request.version: unsupported version 2, expected 1 (at byte offset 0)"),
    (12, b"\x01\x00" + bytes(16) + b"\x09" + bytes(16), "Invalid request: Request.data: unknown union tag 9"),
    (11, b"\x01\x00" + (-5).to_bytes(8, "little", signed=True) + bytes(25), "Negative seq: -5"),
    (12, b"\x01\x00" + bytes(16) + b"\x00" + b"\xff" * 8 + bytes(8), "Requested seq 18446744073709551615 is out of range"),
    (40, bytes(8), "ClientDone received before any request"),
    (77, b"junk", "Invalid message from client: msgid 77, expected 12 Request or 11 RequestOld"),
])
def test_malformed_requests_are_answered(msgid, body, text):
    s = RequestSession(MemoryHistory(STORED))
    out = s.receive(msgid, 0, body)
    assert isinstance(out[0], Send) and out[0].msgid == P.ERROR
    assert P.decode_error(out[0].body).error.startswith(text)
    assert isinstance(out[1], Disconnect) and not s.streaming
    assert s.receive(12, 0, body) == [] and s.pull() == ()


def test_message_after_reply_drops_the_connection_without_answer():
    s = RequestSession(MemoryHistory(STORED))
    ask(s, P.Request("seq", 0))
    out = ask(s, P.Request("seq", 0))
    assert len(out) == 1 and isinstance(out[0], Disconnect)
    assert "after the Reply" in out[0].reason and not s.streaming


def test_storage_open_failure():
    class Failing(MemoryHistory):
        def open_reader(self, seq):
            raise StorageError("Requested seq 5 is less then first seq 10")
    s = RequestSession(Failing(STORED))
    out = ask(s, P.Request("seq", 5))
    assert P.decode_error(out[0].body).error == (
        "Failed to open storage from seq 5: Requested seq 5 is less then first seq 10")


def test_reader_failure_mid_stream_disconnects():
    class Broken:
        def read(self, limit):
            raise StorageError("file.dat: bad frame at offset 4096")
        def close(self):
            pass
    class Src(MemoryHistory):
        def open_reader(self, seq):
            return Broken()
    s = RequestSession(Src(STORED))
    ask(s, P.Request("seq", 0))
    assert s.pull() == () and s.state is SessionState.CLOSED
    assert "bad frame at offset 4096" in s.reason


def test_flow_control_pulls_only_below_high_water():
    storage = MemoryHistory([(1, q, b"x" * 100) for q in range(100)])
    s = RequestSession(storage, high_water=1000, batch=8)
    ask(s, P.Request("seq", 0))
    assert len(s.pull(0)) == 8
    assert s.pull(1000) == () and s.want == WANT_WRITABLE
    assert s.pull(999)[0][1] == 8 and s.want is None
    assert drain(s)[-1] == 99 and s.want == WANT_DATA


def test_eof_and_client_done_close_the_reader():
    s = RequestSession(MemoryHistory(STORED))
    ask(s, P.Request("seq", 0))
    s.eof()
    assert s.state is SessionState.CLOSED and s.pull() == ()
    s = RequestSession(MemoryHistory(STORED))
    ask(s, P.Request("seq", 0))
    [d] = s.receive(P.CLIENT_DONE, 0, b"\x01")       # unreadable ClientDone still ends it
    assert isinstance(d, Disconnect) and s.done_seq is None


def test_memory_history_rejects_non_monotonic():
    h = MemoryHistory(STORED)
    with pytest.raises(StorageError, match="seq 30 is not after the last stored seq 30"):
        h.append(1, 30, b"")
