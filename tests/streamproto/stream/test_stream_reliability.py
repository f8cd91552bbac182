"""Reliability of the asyncio stream server/client: restarts, many clients, slow clients, junk."""
from __future__ import annotations

import asyncio
import os
import struct
import time

import pytest

from streamproto import events as ev
from streamproto.stream import protocol as P
from streamproto.stream.server import WANT_WRITABLE
from tests.streamproto.netutil import run
from tests.streamproto.stream.stream_net import (Collector, StreamClient, StreamServer,
                                                 client_url, is_online, seed, server_url,
                                                 wait_for)
from tests.streamproto.stream.stream_wirelog import frame

T = 10.0


@run
async def test_restart_server_20_times_client_resumes_with_seq_data(tmp_path):
    url = server_url(tmp_path, extra=";autoseq=yes")
    kill: list = []                 # [server] while a kill at the next history message is due
    tasks = []

    def hook(e):
        if kill and isinstance(e, ev.Data):
            tasks.append(asyncio.ensure_future(kill.pop().close()))

    got = Collector(hook)
    client = StreamClient(client_url(tmp_path), on_event=got)
    params: dict = {"mode": "seq", "seq": 0}
    modes, reasons = [], []
    for rnd in range(20):
        server = StreamServer(url)
        await server.open()
        away = (4000, bytes(200)) if rnd % 4 == 3 else (50, b"while away")
        for _ in range(away[0]):                       # stored while the client is away
            server.post(10, 0, away[1])
        modes.append(params["mode"])
        if rnd % 4 == 3:                               # kill in the middle of the catch-up
            kill.append(server)
        await client.open(params)
        if rnd % 4 != 3:
            await got.wait(lambda es: client.core.state.value in ("Online", "Drain"), T,
                           "client online")
            for _ in range(5):                         # live
                server.post(10, 0, b"live")
            await wait_for(lambda: client.last_seq == server.last_seq, T, "live data")
            for _ in range(3):                         # posted just before the kill
                server.post(10, 0, b"lost?")
        await got.wait(lambda es: client.state == ev.ERROR or not kill, T, "kill")
        await server.close()
        await got.wait(lambda es: client.state == ev.ERROR, T, "client error")
        reasons.append(client.reason)
        params = client.reopen_params()
        await client.close()
    # final catch-up: whatever the client missed comes as history
    async with StreamServer(url) as server:
        await client.open(params)
        await wait_for(lambda: client.last_seq == server.last_seq, T, "final catch-up")
        last = server.last_seq
        await client.close()
    assert modes[0] == "seq" and set(modes[1:]) == {"seq-data"}
    assert any("Connected" in r for r in reasons)          # some kills hit the catch-up
    assert got.seqs() == list(range(last + 1))            # every seq exactly once, in order


@run
async def test_20_clients_history_while_posting(tmp_path):
    seed(tmp_path / "storage.dat", [(10, s, b"stored %d" % s) for s in range(3000)],
         block=64 * 1024)
    async with StreamServer(server_url(tmp_path)) as server:
        cols = [Collector() for _ in range(20)]
        clients = [StreamClient(client_url(tmp_path, f";peer=c{i}"), on_event=c)
                   for i, c in enumerate(cols)]
        await asyncio.gather(*(c.open({"mode": "seq", "seq": i * 100})
                               for i, c in enumerate(clients)))
        for s in range(3000, 4000):
            server.post(10, s, b"live %d" % s)
            if s % 10 == 0:
                await asyncio.sleep(0)
        await wait_for(lambda: all(c.last_seq == 3999 for c in clients), T, "all clients")
        for i, col in enumerate(cols):
            assert col.seqs() == list(range(i * 100, 4000)), f"client {i}"
            assert sum(map(is_online, col.events)) == 1
        await asyncio.gather(*(c.close() for c in clients))
        await wait_for(lambda: not server.sessions and not server.online.subscribers)


@run
async def test_client_that_stops_reading_stalls_nobody(tmp_path):
    body = bytes(200)
    seed(tmp_path / "storage.dat", [(10, s, body) for s in range(20000)], block=1 << 20)
    async with StreamServer(server_url(tmp_path)) as server:
        # a request client that asks for everything and never reads
        r, w = await asyncio.open_unix_connection(f"{tmp_path}/request.sock")
        msgid, req = P.encode_request(P.Request(P.REQUEST_SEQ, 0))
        w.write(frame(msgid, 0, req))
        # and an online subscriber that never reads after its Hello
        pr, pw = await asyncio.open_unix_connection(f"{tmp_path}/online.sock")
        from streamproto.pub.protocol import encode_hello
        pw.write(encode_hello("sleepy"))
        await wait_for(lambda: server.sessions and any(
            s.want == WANT_WRITABLE for s in server.sessions.values()), T, "slow client paused")
        slow_addr = next(iter(server.sessions))
        got = Collector()
        client = StreamClient(client_url(tmp_path), on_event=got)
        await client.open("mode=seq;seq=0")
        t0 = time.perf_counter()
        for s in range(20000, 22000):              # posting is never held up
            server.post(10, s, body)
            if s % 100 == 0:
                await asyncio.sleep(0)
        post_time = time.perf_counter() - t0
        await wait_for(lambda: client.last_seq == 21999, T, "fast client catch-up")
        assert got.seqs() == list(range(22000))
        assert post_time < 2.0
        # memory held for the slow one stays bounded: high water + one batch
        assert server.sessions[slow_addr].want == WANT_WRITABLE
        assert server.request.write_buffer_size(slow_addr) <= server.high_water + 1024 * 240
        await client.close()
        w.close()
        pw.close()
        await wait_for(lambda: not server.sessions, T)


async def _answer(path: str, data: bytes, close: bool = False) -> bytes:
    """Send raw bytes on a request connection; everything received until EOF."""
    r, w = await asyncio.open_unix_connection(path)
    w.write(data)
    if close:
        w.write_eof()
    try:
        return await asyncio.wait_for(r.read(), 5)
    finally:
        w.close()


def _error_text(answer: bytes) -> str:
    size, msgid, _ = struct.unpack_from("<Iiq", answer)
    assert msgid == P.ERROR and len(answer) == 16 + size
    return P.decode_error(answer[16:]).error


@run
async def test_garbage_and_truncated_requests(tmp_path):
    seed(tmp_path / "storage.dat")
    async with StreamServer(server_url(tmp_path)) as server:
        path = f"{tmp_path}/request.sock"
        _, good = P.encode_request(P.Request(P.REQUEST_SEQ, 10))
        bad_version = struct.pack("<h", 2) + good[2:]
        bad_tag = good[:18] + b"\x09" + good[19:]
        bad_ptr = good[:2] + struct.pack("<II", 1000, 5 | 1 << 24) + good[10:]
        old_negative = struct.pack("<hq", 1, -5) + bytes(25)
        cases = [
            (frame(P.REQUEST, 0, bad_version), "unsupported version 2"),
            (frame(P.REQUEST, 0, bad_tag), "unknown union tag 9"),
            (frame(P.REQUEST, 0, bad_ptr), "runs past the end"),
            (frame(P.REQUEST, 0, good[:20]), "shorter than its fixed size 35"),
            (frame(P.REQUEST_OLD, 0, old_negative), "Negative seq: -5"),
            (frame(P.CLIENT_DONE, 0, bytes(8)), "ClientDone received before any request"),
            (frame(99, 0, b"junk"), "Invalid message from client: msgid 99"),
        ]
        answers = await asyncio.gather(*(_answer(path, d) for d, _ in cases))
        for (_, want), got in zip(cases, answers):
            assert want in _error_text(got)
        # dropped without an answer: over-limit frame, truncated frame + EOF, random bytes
        assert await _answer(path, struct.pack("<Iiq", 0xFFFFFFF0, 12, 0)) == b""
        assert await _answer(path, frame(P.REQUEST, 0, good)[:25], close=True) == b""
        rnd = os.urandom(4096)
        await _answer(path, struct.pack("<Iiq", 100, 12, 0) + rnd[:100], close=True)
        r, w = await asyncio.open_unix_connection(path)     # connect and vanish
        w.close()
        # junk after the Reply: connection dropped, the server goes on
        got = await _answer(path, frame(P.REQUEST, 0, good) + frame(77, 0, b"??"))
        assert struct.unpack_from("<Iiq", got)[1] == P.REPLY
        # garbage on the online socket: that subscriber is dropped
        assert await _answer(f"{tmp_path}/online.sock", os.urandom(64)) == b""
        await wait_for(lambda: not server.sessions, T)
        assert server.state == ev.ACTIVE
        col = Collector()
        client = StreamClient(client_url(tmp_path), on_event=col)
        await client.open("mode=seq;seq=0")
        await col.wait(lambda es: any(map(is_online, es)), T)
        assert col.seqs() == [10, 20, 30]
        await client.close()


@pytest.mark.parametrize("junk", [frame(P.REPLY, 0, b"short"), frame(55, 0, b"")])
@run
async def test_client_rejects_bad_reply(tmp_path, junk):
    from streamproto.pub.channel import PubServer
    from streamproto.tcp import TcpServer
    pub = PubServer(f"pub+tcp://{tmp_path}/online.sock")
    await pub.open()
    req = TcpServer(f"tcp://{tmp_path}/request.sock;mode=server",
                    on_event=lambda e: isinstance(e, ev.Data) and req.post_frames(e.addr, junk))
    await req.open()
    col = Collector()
    client = StreamClient(client_url(tmp_path), on_event=col)
    await client.open("mode=seq;seq=0")
    await col.wait(lambda es: client.state == ev.ERROR, T)
    assert "Reply" in client.reason or "Unknown message" in client.reason
    await client.close()
    await req.close()
    await pub.close()


@run
async def test_large_messages_memory_bounded_per_slow_client(tmp_path):
    body = bytes(30000)
    seed(tmp_path / "storage.dat", [(10, s, body) for s in range(400)], block=1 << 20)
    async with StreamServer(server_url(tmp_path)) as server:
        r, w = await asyncio.open_unix_connection(f"{tmp_path}/request.sock")
        msgid, req = P.encode_request(P.Request(P.REQUEST_SEQ, 0))
        w.write(frame(msgid, 0, req))
        await wait_for(lambda: server.sessions and any(
            s.want == WANT_WRITABLE for s in server.sessions.values()), T, "slow client paused")
        addr = next(iter(server.sessions))
        from streamproto.stream.history import BATCH_BYTES
        assert server.request.write_buffer_size(addr) <= server.high_water + BATCH_BYTES + 2 * len(body)
        # it still gets everything once it reads
        total = 0
        while total < 400:
            size, _, _ = struct.unpack("<Iiq", await asyncio.wait_for(r.readexactly(16), T))
            await asyncio.wait_for(r.readexactly(size), T)
            total += 1 if size == len(body) else 0
        w.close()


@run
async def test_request_connection_accepted_while_closing_gets_no_session(tmp_path):
    """A request connection whose Connect arrives after the shared history was released (the
    request server accepted it as the stream server closed) is dropped: no session over a
    released history is left behind."""
    server = StreamServer(server_url(tmp_path))
    await server.open()
    req = server.request
    real_close = req.close
    late: list = []

    async def close_after_late_accept():
        r, w = await asyncio.open_unix_connection(f"{tmp_path}/request.sock")
        late.append(w)
        await wait_for(lambda: bool(server.sessions) or r.at_eof(), T,
                       "late connection given a session or closed")
        late.append(dict(server.sessions))
        await real_close()

    req.close = close_after_late_accept
    await server.close()
    late[0].close()
    assert late[1] == {} and server.sessions == {}
