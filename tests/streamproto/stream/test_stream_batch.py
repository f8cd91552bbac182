"""Batch delivery of the stream client and post_many of the stream server (issue 11, part 3)."""
from __future__ import annotations

import asyncio

import pytest

from streamproto import events as ev
from streamproto.storage.writer import SeqError
from streamproto.stream.client import StreamBatch, StreamClientCore, StreamData
from streamproto.stream import protocol as P
from tests.streamproto.netutil import run
from tests.streamproto.stream.stream_net import (Collector, StreamClient, StreamServer,
                                                 client_url, is_online, seed, server_url,
                                                 wait_for)

T = 10.0


def flat(items) -> list[tuple]:
    out: list = []
    for x in items:
        if isinstance(x, StreamBatch):
            out += [(m, s, b, x.online) for m, s, b in x]
        elif isinstance(x, StreamData):
            out.append((x.msgid, x.seq, bytes(x.body), x.online))
    return out


@run
async def test_queue_mixes_per_message_and_batches_in_order(tmp_path):
    stored = [(10, s, b"h%d" % s) for s in range(3000)]
    seed(tmp_path / "storage.dat", stored)
    async with StreamServer(server_url(tmp_path)) as server:
        client = StreamClient(client_url(tmp_path))
        await client.open("mode=seq;seq=0")
        got: list = []
        while len(flat(got)) < 7:                    # a few per message...
            got.append(await client.next_event(T))
        async for item in client.batches():          # ...then whole batches...
            got.append(item)
            if any(map(is_online, got)):
                break
        server.post_many([(11, s, b"o%d" % s) for s in range(3000, 3500)])
        while len(flat(got)) < 3500:                 # ...then per message again
            got.append(await client.next_event(T))
        want = [(m, s, b, False) for m, s, b in stored]
        want += [(11, s, b"o%d" % s, True) for s in range(3000, 3500)]
        assert flat(got) == want
        assert [e.seq for e in got if is_online(e)] == [2999]
        assert any(isinstance(x, StreamBatch) and len(x) > 1 for x in got)
        await client.close()


@run
async def test_on_batch_with_online_traffic_during_catch_up(tmp_path):
    seed(tmp_path / "storage.dat", [(10, s, b"h") for s in range(20000)])
    async with StreamServer(server_url(tmp_path)) as server:
        col = Collector()
        client = StreamClient(client_url(tmp_path), on_event=col, on_batch=col)
        await client.open("mode=seq;seq=0")
        for s in range(20000, 21000):
            server.post(12, s, b"live")
            if s % 50 == 0:
                await asyncio.sleep(0)
        await wait_for(lambda: client.last_seq == 20999, T, "caught up")
        data = flat(col.events)
        assert [d[1] for d in data] == list(range(21000))
        online_at = next(e.seq for e in col.events if is_online(e))
        assert all(d[3] is (d[1] > online_at) for d in data)
        assert any(isinstance(e, StreamBatch) and e.online for e in col.events)
        await client.close()


def test_core_request_batch_matches_per_message():
    """request_batch gives what request_message per message gives, runs as batches."""
    def opened(ring_msgs=()):
        core = StreamClientCore()
        core.open("seq", 0)
        core.online_active(-1)
        core.request_connected()
        for m in ring_msgs:
            core.online_message(*m)
        reply = P.encode_reply(P.Reply(99, 0, -1))
        return core, [(P.REPLY, 0, reply)]

    history = [(10, s, b"%d" % s) for s in range(100)]
    for ring in ([], [(10, s, b"o") for s in range(60, 110)]):
        a, first = opened(ring)
        b, _ = opened(ring)
        per = []
        for m in first + history:
            per += a.request_message(*m)
        out = b.request_batch(first + history[:30]) + b.request_batch(history[30:])
        expand = []
        for o in out:
            expand += o.events() if isinstance(o, StreamBatch) else [o]
        assert expand == per and a.state is b.state and a.last_seq == b.last_seq
        assert any(isinstance(o, StreamBatch) for o in out)


@run
async def test_server_post_many_stops_at_the_first_bad_seq(tmp_path):
    async with StreamServer(server_url(tmp_path)) as server:
        col = Collector()
        client = StreamClient(client_url(tmp_path), on_event=col, on_batch=col)
        await client.open("mode=online")
        await wait_for(lambda: client.state == ev.ACTIVE, T, "online")
        assert server.post_many([(1, 5, b"a"), (1, 6, b"b")]) == 6
        with pytest.raises(SeqError, match="seq 6 is not greater than the last stored seq 7"):
            server.post_many([(1, 7, b"c"), (1, 6, b"dup"), (1, 8, b"never")])
        assert server.last_seq == 7
        await wait_for(lambda: client.last_seq == 7, T, "published")
        assert [d[1:3] for d in flat(col.events)] == [(5, b"a"), (6, b"b"), (7, b"c")]
        await client.close()
