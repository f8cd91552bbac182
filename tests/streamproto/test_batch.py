"""Batch APIs (issue 11, part 3): one-pass frame split, on_batch / batches() delivery, post_many.

Batches must hold exactly the messages per-message delivery gives, in the same order, and
both kinds of delivery can be mixed on one channel.
"""
from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproto.errors import ChannelError, ProtocolError
from streamproto.events import ACTIVE, Batch, Control, Data, State
from streamproto.frames import FrameReader, frame_format
from streamproto.pub.channel import PubClient, PubServer
from streamproto.pub.ring import PubRing
from streamproto.tcp import TcpClient, TcpServer

from .netutil import run, until


def messages(n: int, seed: int = 1, sizes=(0, 3, 26, 26, 26, 200)) -> list[tuple]:
    rnd = random.Random(seed)
    return [(rnd.randint(-5, 300), s, bytes([s % 251]) * rnd.choice(sizes)) for s in range(n)]


def flat(items) -> list[tuple]:
    """(msgid, seq, body) of every data message in a mix of batches and Data events."""
    out: list = []
    for x in items:
        if isinstance(x, Batch):
            out += x.messages
        elif isinstance(x, Data):
            out.append((x.msgid, x.seq, x.body))
    return out


# --- FrameReader.split ----------------------------------------------------------------------

def reference_split(fmt, stream: bytes) -> list[tuple]:
    """Frames cut one by one with the header struct (the definition of the format)."""
    out, off, h = [], 0, fmt.header
    while off + h.size <= len(stream):
        size, msgid, seq = h.unpack_from(stream, off)
        if off + h.size + size > len(stream):
            break
        out.append((msgid, seq, stream[off + h.size:off + h.size + size]))
        off += h.size + size
    return out


@settings(max_examples=200, deadline=5000)
@given(name=st.sampled_from(["std", "short", "tiny"]),
       sizes=st.lists(st.sampled_from([0, 1, 7, 26, 26, 26, 26, 300]), max_size=60),
       cuts=st.lists(st.integers(min_value=0, max_value=20000), max_size=6))
def test_split_matches_frame_by_frame_parsing(name, sizes, cuts):
    fmt = frame_format(name)
    msgs = [(i - 3, i * 7, bytes([i % 256]) * s) for i, s in enumerate(sizes)]
    stream = fmt.encode_many(msgs)
    reader = FrameReader(name, limit=1 << 20)
    got: list = []
    prev = 0
    for c in sorted({min(c, len(stream)) for c in cuts}) + [len(stream)]:
        reader.split(stream[prev:c], got)
        prev = c
    assert got == reference_split(fmt, stream) == msgs
    assert reader.pending == 0


def test_split_fixed_size_run_then_other_sizes():
    fmt = frame_format("std")
    msgs = [(1, s, b"%026d" % s) for s in range(1000)] + [(2, 1000, b"odd"), (3, 1001, b"")]
    msgs += [(4, s, b"%026d" % s) for s in range(1002, 1100)]
    stream = fmt.encode_many(msgs)
    out: list = []
    FrameReader("std").split(stream[:-5], out)      # last frame torn: kept for later
    assert out == msgs[:-1]
    # a size field that differs only in its high byte is not mistaken for a run
    sneaky = fmt.encode_many([(1, 0, b"a" * 26), (1, 1, b"b" * 26)])[:-26]
    sneaky = sneaky[:42] + (26 + (1 << 24)).to_bytes(4, "little") + sneaky[46:]
    with pytest.raises(ProtocolError, match="exceeds the receive limit"):
        FrameReader("std").split(sneaky + bytes(100), [])


def test_split_keeps_good_frames_before_a_bad_one():
    good = frame_format("std").encode_many([(1, s, b"x" * 26) for s in range(5)])
    out: list = []
    bad = (1 << 30).to_bytes(4, "little") + bytes(12)
    with pytest.raises(ProtocolError, match="stream offset 210"):
        FrameReader("std").split(good + bad, out)
    assert [m[1] for m in out] == [0, 1, 2, 3, 4]


def test_encode_many_refuses_before_writing_anything():
    with pytest.raises(ProtocolError, match="frame short: body of 70000 bytes does not fit"):
        frame_format("short").encode_many([(1, 1, b"a"), (1, 2, bytes(70000))])


# --- pub ring: post_many stores exactly what posts one by one store ---------------------------

def ring_state(r: PubRing) -> tuple:
    live = range(r.first, r.next)
    return (r.first, r.next, r.tail, r.wrap if len(r) else None,
            [(r.starts[i % r.nslots], r.ends[i % r.nslots], r.seqs[i % r.nslots]) for i in live],
            [bytes(r.view[r.starts[i % r.nslots]:r.ends[i % r.nslots]]) for i in live])


@pytest.mark.parametrize("size", [1024, 4096, 1 << 16])
@pytest.mark.parametrize("uniform", [True, False])
def test_ring_push_many_is_push_one_by_one(size, uniform):
    rnd = random.Random(size + uniform)
    a, b = PubRing(size), PubRing(size)
    seq = 0
    for _ in range(150):
        n = rnd.randint(0, 60)
        if uniform:
            ln = rnd.choice([0, 10, 26, 100, min(400, size // 2 - 16)])
            batch = [(rnd.randint(-3, 3), seq + j, bytes([j % 256]) * ln) for j in range(n)]
        else:
            batch = [(1, seq + j, bytes(rnd.randint(0, size // 2 - 16))) for j in range(n)]
        seq += n
        evicted = sum(a.push(*m) for m in batch)
        assert b.push_many(batch) == evicted
        assert ring_state(a) == ring_state(b)


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_ring_push_many_takes_any_bytes_like_body(kind):
    """Equal-size bodies that are not bytes (the fixed-size struct's "s" refuses a memoryview)
    are stored as bytes bodies are."""
    a, b = PubRing(4096), PubRing(4096)
    batch = [(1, s, bytes([s]) * 26) for s in range(20)]
    for m in batch:
        a.push(*m)
    b.push_many([(m, s, kind(body)) for m, s, body in batch])
    assert ring_state(a) == ring_state(b)


def test_ring_push_many_refuses_whole_batch():
    r = PubRing(1024)
    r.push(1, 0, b"keep")
    with pytest.raises(ChannelError, match=r"message of 600 bytes \(seq 2\) is too large"):
        r.push_many([(1, 1, b"a"), (1, 2, bytes(600))])
    with pytest.raises(ChannelError, match="msgid 4294967296, seq 3"):
        r.push_many([(1, 1, b"a"), (1 << 32, 3, b"b")])
    assert len(r) == 1 and r.last_seq == 0


# --- channels --------------------------------------------------------------------------------

@run
async def test_pub_batches_mixed_with_posts_and_per_message_subscriber(tmp_path):
    srv = PubServer(f"pub+tcp://{tmp_path}/p.sock;mode=server;size=4mb")
    await srv.open()
    batches: list = []
    states: list = []
    per_msg: list = []
    c1 = PubClient(f"pub+tcp://{tmp_path}/p.sock", on_event=states.append,
                   on_batch=batches.append)
    c2 = PubClient(f"pub+tcp://{tmp_path}/p.sock", on_event=per_msg.append)
    c3 = PubClient(f"pub+tcp://{tmp_path}/p.sock")        # queue: read with batches()
    for c in (c1, c2, c3):
        await c.open()
        await until(lambda c=c: c.state == ACTIVE, what="subscribed")
    sent = messages(5000)
    i = 0
    while i < len(sent):                 # post_many runs and single posts, interleaved
        k = random.Random(i).randint(1, 300)
        if k % 3:
            srv.post_many(sent[i:i + k])
        else:
            for m in sent[i:i + k]:
                srv.post(*m)
        i += k
        await asyncio.sleep(0)
    await until(lambda: len(flat(batches)) == len(sent), what="batches")
    await until(lambda: len(flat(per_msg)) == len(sent), what="per message")
    assert flat(batches) == sent and all(isinstance(b, Batch) for b in batches)
    assert len(batches) < len(sent)                # they really came in batches
    assert all(type(e) is Data for e in per_msg if not isinstance(e, State))
    assert flat(per_msg) == sent
    assert states == [State("Opening"), State(ACTIVE)]
    # queue: a few per message, then batches, then per message again: same order
    got: list = []
    got.append(await c3.next_event(5))           # State(Active) was queued first
    while len(flat(got)) < 10:
        got.append(await c3.next_event(5))
    async for item in c3.batches():
        got.append(item)
        if len(flat(got)) >= 2500:
            break
    while len(flat(got)) < len(sent):
        got.append(await c3.next_event(5))
    assert flat(got) == sent and c3.last_seq == sent[-1][1]
    for c in (c1, c2, c3):
        await c.close()
    await srv.close()


@run
async def test_tcp_post_many_batches_both_ways(tmp_path):
    frames = []
    server_events: list = []
    srv = TcpServer(f"tcp://{tmp_path}/t.sock;mode=server;frame=short",
                    on_event=server_events.append, on_batch=frames.append)
    await srv.open()
    client_batches: list = []
    cli = TcpClient(f"tcp://{tmp_path}/t.sock;frame=short")  # queue, read as batches
    await cli.open()
    await until(lambda: srv.connections, what="connected")
    addr = next(iter(srv.connections))
    sent = messages(3000, sizes=(0, 5, 26, 26))
    cli.post_many(sent[:1000])
    for m in sent[1000:1500]:
        cli.post(*m)
    cli.post_many(sent[1500:])
    await until(lambda: len(flat(frames)) == len(sent), what="server batches")
    assert flat(frames) == sent and {b.addr for b in frames} == {addr}
    assert [e.name for e in server_events if isinstance(e, Control)] == ["Connect"]
    srv.post_many(sent, addr=addr)
    srv.post(7, 9, b"last", addr=addr)
    async for item in cli.batches():
        client_batches.append(item)
        if len(flat(client_batches)) == len(sent) + 1:
            break
    assert flat(client_batches) == sent + [(7, 9, b"last")]
    with pytest.raises(ProtocolError, match="frame short: msgid 1048576 does not fit int16"):
        srv.post_many([(1, 5, b""), (1 << 20, 6, b"")], addr=addr)
    with pytest.raises(ChannelError, match="unknown connection 99"):
        srv.post_many([(1, 1, b"")], addr=99)
    await cli.close()
    await srv.close()


@run
async def test_tcp_posts_go_out_before_a_disconnect(tmp_path):
    got: list = []
    srv = TcpServer(f"tcp://{tmp_path}/t.sock;mode=server")
    await srv.open()
    cli = TcpClient(f"tcp://{tmp_path}/t.sock", on_event=got.append)
    await cli.open()
    await until(lambda: srv.connections, what="connected")
    addr = next(iter(srv.connections))
    srv.post(1, 1, b"bye", addr=addr)
    srv.post_many([(1, 2, b"now")], addr=addr)
    assert srv.write_buffer_size(addr) > 0           # queued for the end of the iteration
    srv.disconnect(addr)                             # flushed before the close
    await until(lambda: cli.state != ACTIVE, what="closed by the server")
    assert [(e.seq, e.body) for e in got if isinstance(e, Data)] == [(1, b"bye"), (2, b"now")]
    await cli.close()
    await srv.close()
