"""Sans-I/O pub+tcp: handshake against the reference's bytes, ring, eviction, client core."""
from __future__ import annotations

import re
import struct

import pytest

from streamproto import schemas
from streamproto.errors import ChannelError, RemoteProtocolError
from streamproto.events import ACTIVE, ERROR, Control, Data, State
from streamproto.frames import frame_format
from streamproto.pub.protocol import (FRAME, PubClientCore, PubRing, PubServerCore,
                                      decode_hello_reply, encode_hello, encode_hello_reply,
                                      parse_hello)

# docs/network-format.md#pub-handshake / golden wire logs: the reference client's Hello with peer "c0"
# (tail outside frame)
HELLO_C0 = bytes.fromhex("0a00000064000000000000000000000001000800000003000001633000")
HELLO_EMPTY = bytes.fromhex("0a000000640000000000000000000000010008000000010000010" "0")
HELLO_TEST = bytes.fromhex("0a00000064000000000000000000000001000800000005000001") + b"test\0"


def wire_lines(golden, tag="PUB"):
    out = []
    for log in sorted((golden / "wire").glob("*.log")):
        for line in log.read_text().splitlines():
            m = re.match(rf"{tag} conn\d+ (C>S|S>C) ([0-9a-f]+)$", line)
            if m:
                out.append((log.name, m.group(1), bytes.fromhex(m.group(2))))
    return out


def test_golden_pub_handshakes(golden):
    lines = wire_lines(golden)
    assert len(lines) >= 18
    for name, direction, data in lines:
        if direction == "C>S":
            assert data == HELLO_C0 == encode_hello("c0"), name
            h = parse_hello(data)
            assert (h.name, h.consumed, h.skip) == ("c0", len(data), 0)
        elif data[4:8] == (101).to_bytes(4, "little"):
            assert data == encode_hello_reply(30), name
            assert decode_hello_reply(101, data[16:]) == 30
        else:   # live message 40 "ddd" after the handshake: plain std frame
            assert data == frame_format("std").encode(10, 40, b"ddd")


def test_hello_variants():
    assert encode_hello("") == HELLO_EMPTY and len(HELLO_EMPTY) == 27
    assert encode_hello("test") == HELLO_TEST and len(HELLO_TEST) == 31
    assert encode_hello(None) == FRAME.pack(10, 100, 0) + b"\x01\x00" + bytes(8)
    in_frame = encode_hello("test", tail_in_frame=True)
    assert FRAME.unpack_from(in_frame)[0] == 15
    for data, name in [(HELLO_EMPTY, ""), (HELLO_TEST, "test"), (in_frame, "test"),
                       (encode_hello(None), "")]:
        h = parse_hello(data)
        assert (h.name, h.consumed, h.skip) == (name, len(data), 0)


def test_hello_reply_bytes():
    assert encode_hello_reply(-1).hex() == "0a000000650000000000000000000000" "0100" + "ff" * 8
    assert decode_hello_reply(101, b"\x01\x00") == -1      # legacy 2-byte reply
    with pytest.raises(RemoteProtocolError, match="expected HelloReply"):
        decode_hello_reply(100, bytes(10))
    with pytest.raises(RemoteProtocolError, match="version 2"):
        decode_hello_reply(101, b"\x02\x00" + bytes(8))


def test_hello_in_pieces_and_partial_tail():
    for cut in range(len(HELLO_C0)):
        h = parse_hello(HELLO_C0[:cut])
        if cut < 26:
            assert h is None
        else:   # frame complete, tail not: handshake done, the rest is to be skipped
            assert (h.consumed, h.skip) == (cut, len(HELLO_C0) - cut)


@pytest.mark.parametrize("data,message", [
    (FRAME.pack(10, 12, 0) + bytes(10), "expected Hello"),
    (FRAME.pack(6, 100, 0) + bytes(6), "smaller than 10"),
    (FRAME.pack(2000, 100, 0), "exceeds 1008"),
    (FRAME.pack(10, 100, 0) + b"\x02\x00" + bytes(8), "version 2"),
    (FRAME.pack(10, 100, 0) + struct.pack("<hII", 1, 8, 3 | 2 << 24), "element size 2"),
    (FRAME.pack(10, 100, 0) + struct.pack("<hII", 1, 2000, 3 | 1 << 24), "runs past 1024"),
])
def test_bad_hello(data, message):
    with pytest.raises(RemoteProtocolError, match=message):
        parse_hello(data)


def test_yaml_scheme_agrees_with_struct_codec():
    tllschema = pytest.importorskip("tllschema")
    s = tllschema.load(schemas.url("pub.yaml"))
    assert (s.message("Hello").msgid, s.message("Hello").size) == (100, 10)
    assert (s.message("HelloReply").msgid, s.message("HelloReply").size) == (101, 10)
    assert s.message("HelloReply").encode({"version": 1, "seq": 30}) == encode_hello_reply(30)[16:]
    # the C++ binder's Hello: fixed part + name tail
    assert s.message("Hello").encode({"version": 1, "name": "c0"}) == HELLO_C0[16:]
    assert s.message("Hello").decode(HELLO_TEST[16:]).name == "test"


# --- ring -------------------------------------------------------------------------------

def test_ring_admission_rule():
    ring = PubRing(1024)
    assert ring.max_body() == 496
    ring.push(1, 1, b"x" * 496)
    with pytest.raises(ChannelError, match="497 bytes .* too large for a ring of 1024 bytes"):
        ring.push(1, 2, b"x" * 497)
    with pytest.raises(Exception, match="too small"):
        PubRing(1000)


def test_ring_slot_limit_is_size_over_64_minus_one():
    ring = PubRing(1024)            # 16 slots, 15 usable
    for i in range(15):
        assert ring.push(0, i, b"") == 0
    assert ring.push(0, 15, b"") == 1 and len(ring) == 15 and ring.seqs[ring.first % 16] == 1


def test_ring_entries_never_wrap():
    ring = PubRing(1024)
    for i in range(3):
        ring.push(1, i, b"a" * 284)  # 300-byte entries at 0, 300, 600
    assert ring.starts[:3] == [0, 300, 600]
    assert ring.push(1, 3, b"b" * 284) == 1      # 124 bytes left at the end: goes to 0, evicts seq 0
    assert ring.starts[3] == 0 and ring.wrap == 3
    assert bytes(ring.data[0:16]) == FRAME.pack(284, 1, 3)
    view, last = ring.run(ring.first, 0)        # contiguous run stops before the wrap
    assert last == 2 and len(view) == 600
    view, last = ring.run(3, 0)
    assert last == 3 and bytes(view) == FRAME.pack(284, 1, 3) + b"b" * 284


class FakeIO:
    """SubscriberIO double: accepts up to `room` bytes per send (None = everything)."""

    def __init__(self, room=None):
        self.room, self.sent, self.dropped, self.writable = room, bytearray(), None, False

    def send(self, data):
        n = len(data) if self.room is None else min(self.room, len(data))
        if self.room is not None:
            self.room -= n
        self.sent += data[:n]
        return n

    def want_write(self, flag):
        self.writable = flag

    def drop(self, reason):
        self.dropped = reason


def subscribe(core, sid, io, hello=HELLO_C0):
    core.connect(sid, io)
    core.receive(sid, hello)
    reply, io.sent[:] = bytes(io.sent[:26]), io.sent[26:]
    return reply


def frames_of(data):
    r = frame_format("std")
    from streamproto.frames import FrameReader
    reader = FrameReader(r, 1 << 20)
    reader.feed(bytes(data))
    return list(reader.frames())


def test_server_handshake_last_seq_and_events():
    events = []
    core = PubServerCore(4096, on_event=events.append)
    core.open(last_seq=9)
    io = FakeIO()
    assert subscribe(core, 1, io) == encode_hello_reply(9)
    assert events == [Control("Connect", 10, 0, b"", addr=1)]
    core.post(10, 10, b"hello")
    assert frames_of(io.sent) == [(10, 10, b"hello")]    # the seeded entry is never sent
    core.open()                                          # ring cleared on open
    io2 = FakeIO()
    assert subscribe(core, 2, io2) == encode_hello_reply(-1)
    core.disconnect(1)
    assert events[-1] == Control("Disconnect", 20, 0, b"", addr=1) and io.dropped


def test_server_starts_subscriber_at_ring_end():
    core = PubServerCore(4096)
    core.post(1, 1, b"old")
    io = FakeIO()
    assert subscribe(core, 1, io) == encode_hello_reply(1)
    core.post(1, 2, b"new")
    assert frames_of(io.sent) == [(1, 2, b"new")]


def test_server_swallows_hello_tail_arriving_late_then_drops_on_extra_bytes():
    core = PubServerCore(4096)
    io = FakeIO()
    core.connect(1, io)
    core.receive(1, HELLO_TEST[:26])                     # frame only; 5 tail bytes still to come
    assert io.sent == encode_hello_reply(-1) and io.dropped is None
    core.receive(1, HELLO_TEST[26:])                     # the tail: ignored
    assert io.dropped is None
    core.receive(1, b"\x00")                             # anything more: protocol violation
    assert "unexpected bytes after its handshake" in io.dropped


def test_server_hello_split_byte_by_byte():
    core = PubServerCore(4096)
    io = FakeIO()
    core.connect(1, io)
    for b in HELLO_C0:
        core.receive(1, bytes([b]))
    assert io.sent == encode_hello_reply(-1) and io.dropped is None
    assert core.subscribers[1].name == "c0"


def test_server_rejects_bad_hello_without_connect_event():
    events = []
    core = PubServerCore(4096, on_event=events.append)
    io = FakeIO()
    core.connect(1, io)
    core.receive(1, FRAME.pack(10, 101, 0) + bytes(10))
    assert "expected Hello" in io.dropped and events == [] and not core.subscribers


def test_post_never_fails_because_of_slow_subscriber_and_it_is_evicted():
    events = []
    core = PubServerCore(1024, on_event=events.append)
    fast, slow = FakeIO(), FakeIO()
    subscribe(core, 1, fast)
    subscribe(core, 2, slow)
    slow.room = 100                                      # takes 100 bytes, then nothing
    for i in range(40):
        core.post(10, i, bytes([i]) * 30)
    assert [s for _m, s, _b in frames_of(fast.sent)] == list(range(40))
    assert fast.dropped is None
    assert "out of data" in slow.dropped
    assert Control("Disconnect", 20, 0, b"", addr=2) in events
    assert list(core.subscribers) == [1]
    # what the slow one got before eviction is a clean prefix of the stream (no torn frame
    # except possibly the last, partially sent one)
    assert bytes(slow.sent) == bytes(fast.sent[:100])


def test_partial_send_resumes_in_the_middle_of_a_frame():
    core = PubServerCore(64 * 1024)
    io = FakeIO()
    subscribe(core, 1, io)
    io.room = 0
    for i in range(8):
        core.post(10, i, bytes([65 + i]) * 260)
    assert io.writable is True
    while core.subscribers[1].next < core.ring.next:
        io.room = 37                                     # drip-feed like a tiny sndbuf
        core.flush(1)
    assert io.writable is False
    assert frames_of(io.sent) == [(10, i, bytes([65 + i]) * 260) for i in range(8)]


def test_caught_up_subscriber_survives_eviction_of_its_last_sent_entry():
    # the reference drops it (its rule compares the last *sent* seq); nothing it needs is gone
    core = PubServerCore(1024)
    io = FakeIO()
    subscribe(core, 1, io)
    for i in range(20):
        core.post(10, i, b"x" * 400)                     # every post evicts the previous entry
    assert io.dropped is None and len(frames_of(io.sent)) == 20


def test_batching_one_send_per_contiguous_run():
    core = PubServerCore(1 << 20)
    sends = []

    class CountingIO(FakeIO):
        def send(self, data):
            sends.append(len(data))
            return super().send(data)

    io = CountingIO()
    subscribe(core, 1, io)
    sends.clear()
    for i in range(1000):
        core.post(10, i, b"x" * 10, flush=False)
    core.flush()
    assert sends == [26 * 1000]


# --- client core ------------------------------------------------------------------------

def test_client_core_handshake_data_and_eof():
    c = PubClientCore("c0")
    assert c.hello() == HELLO_C0
    stream = encode_hello_reply(30) + frame_format("std").encode(10, 40, b"ddd")
    events = []
    for b in stream:                                     # byte by byte
        events += c.receive_data(bytes([b]))
    assert events == [State(ACTIVE), Data(10, 40, b"ddd")]
    assert (c.server_seq, c.last_seq) == (30, 40)
    assert c.eof() == [State(ERROR, "Server dropped connection")]


def test_client_core_errors():
    c = PubClientCore()
    assert c.receive_data(FRAME.pack(0, 10, 0)) == [
        State(ERROR, "pub client: expected HelloReply (msgid 101), got msgid 10")] or \
        c.state == ERROR
    c = PubClientCore(limit=1024)
    ev = c.receive_data(encode_hello_reply(-1) + FRAME.pack(2000, 10, 1))
    assert ev[0] == State(ACTIVE) and ev[1].state == ERROR
    assert "exceeds the receive limit of 1024" in ev[1].reason
    assert c.receive_data(b"more") == []                  # stays failed
    c = PubClientCore()
    c.receive_data(encode_hello_reply(-1) + b"\x05\x00")
    assert "middle of a frame (2 bytes pending)" in c.eof()[0].reason
