"""Scenarios of the reference's python/test/test_stream.py (minus blocks) on the asyncio channels."""
from __future__ import annotations

import asyncio
import os

import pytest

from streamproto import events as ev
from streamproto.errors import ChannelError, ConfigError, StorageError
from streamproto.pub.channel import PubServer
from streamproto.registry import create_channel
from streamproto.storage import FileReader
from streamproto.stream import protocol as P
from streamproto.stream.channel import SeqError, StreamData
from streamproto.tcp import TcpServer
from tests.streamproto.netutil import run
from tests.streamproto.stream.stream_net import (Collector, StreamClient, StreamServer,
                                                 client_url, is_online, seed, server_url,
                                                 wait_for)

T = 5.0


def settled(es: list) -> bool:
    return any(is_online(e) for e in es) or any(
        isinstance(e, ev.State) and e.state == ev.ERROR for e in es)


async def history(tmp_path, params, *, extra="", server=None) -> Collector:
    """Open a client, wait for Online/Error, close it; returns the events."""
    got = Collector()
    client = StreamClient(client_url(tmp_path, extra), on_event=got)
    await client.open(params)
    await got.wait(settled, T, "Online or Error")
    await client.close()
    return got


def online_seq(events) -> int:
    return next(e.seq for e in events if is_online(e))


@pytest.mark.parametrize("protocol", ["old", "new"])
@run
async def test_basic(tmp_path, protocol):
    seed(tmp_path / "storage.dat")
    srv_events = Collector()
    server = StreamServer(server_url(tmp_path), on_event=srv_events, name="server")
    await server.open()
    assert server.online.name == "server/stream" and server.request.name == "server/request"
    assert server.last_seq == 30 and server.online.last_seq == 30
    with pytest.raises(SeqError, match="seq 25 is not greater than the last stored seq 30"):
        server.post(10, 25, b"x")
    with pytest.raises(SeqError):
        server.post(10, 30, b"x")
    got = Collector()
    client = StreamClient(client_url(tmp_path, f";stream.protocol={protocol};peer=c0"),
                          on_event=got)
    await client.open({"mode": "seq", "seq": 20})
    await got.wait(settled)
    await wait_for(lambda: not server.sessions)
    assert server.post(10, 40, b"ddd") == 40
    await got.wait(lambda es: 40 in got.seqs())
    assert got.seqs() == [20, 30, 40] and online_seq(got.events) == 30
    assert [e.name for e in srv_events.events if isinstance(e, ev.Control)] == ["Connect"]
    await client.close()
    await srv_events.wait(lambda es: es[-1].name == "Disconnect" if isinstance(es[-1], ev.Control)
                          else False)
    await server.close()
    # rejected posts were never stored
    with FileReader(str(tmp_path / "storage.dat")) as r:
        assert [m.seq for m in r] == [10, 20, 30, 40]


@pytest.mark.parametrize("params,data,online", [
    ("mode=seq-data;seq=20", [30], 30),
    ("mode=seq;seq=20", [20, 30], 30),
    ("mode=last", [30], 30),
    ("mode=initial", [10, 20, 30], 30),
    ("mode=seq;seq=0", [10, 20, 30], 30),
    ("mode=seq;seq=31", [], 30),            # recent: last + 1
])
@run
async def test_open(tmp_path, params, data, online):
    seed(tmp_path / "storage.dat")
    async with StreamServer(server_url(tmp_path)):
        got = await history(tmp_path, params)
    assert got.seqs() == data and online_seq(got.events) == online
    assert got.states() == ["Opening", "Active", "Closing", "Closed"]


@run
async def test_last_returns_last_two_of_contiguous(tmp_path):
    seed(tmp_path / "storage.dat", [(10, s, b"x") for s in range(27, 31)])
    async with StreamServer(server_url(tmp_path)):
        got = await history(tmp_path, "mode=last")
    assert got.seqs() == [29, 30]


@run
async def test_seq_beyond_last_is_client_error(tmp_path):
    seed(tmp_path / "storage.dat")
    async with StreamServer(server_url(tmp_path)):
        got = await history(tmp_path, "mode=seq;seq=35")
    assert got.states()[:3] == ["Opening", "Active", "Error"]   # Reply first, then checked
    assert "Invalid server seq: 30 < requested 35" in got.events[2].reason


@run
async def test_overlapped(tmp_path):
    """Live 40, 50, 60 posted while the client subscribes: each once, Online(60), then 70."""
    seed(tmp_path / "storage.dat")
    server: StreamServer | None = None

    def on_server(e):          # subscriber active: post before the client even sees HelloReply
        if isinstance(e, ev.Control) and e.name == "Connect":
            for s in (40, 50, 60):
                server.post(10, s, b"live")

    server = StreamServer(server_url(tmp_path), on_event=on_server)
    await server.open()
    got = Collector()
    client = StreamClient(client_url(tmp_path), on_event=got)
    await client.open("mode=seq;seq=20")
    await got.wait(settled)
    assert online_seq(got.events) == 60
    assert client.core.reply.last_seq == 60
    server.post(10, 70, b"after")
    await got.wait(lambda es: 70 in got.seqs())
    assert got.seqs() == [20, 30, 40, 50, 60, 70]
    assert [d.online for d in got.data()] == [False] * 5 + [True]
    await client.close()
    await server.close()


@run
async def test_reopen_after_server_restart_and_autoseq(tmp_path):
    url = server_url(tmp_path, extra=";autoseq=yes")
    async with StreamServer(url) as server:
        assert [server.post(10, 100, b"%d" % i) for i in range(5)] == [0, 1, 2, 3, 4]
    async with StreamServer(url) as server:
        assert server.last_seq == 4 and server.online.last_seq == 4
        got = await history(tmp_path, "mode=seq;seq=5")          # recent after reopen
        assert got.seqs() == [] and online_seq(got.events) == 4
        assert [server.post(10, 0, b"%d" % i) for i in range(5, 10)] == [5, 6, 7, 8, 9]
        got = await history(tmp_path, "mode=seq;seq=0")
    assert got.seqs() == list(range(10)) and online_seq(got.events) == 9
    assert [d.body for d in got.data()] == [b"%d" % i for i in range(10)]


@run
async def test_rotate_storage(tmp_path):
    url = server_url(tmp_path, storage=f"rotate+file://{tmp_path}/st", extra=";autoseq=yes")
    async with StreamServer(url) as server:
        got = Collector()
        client = StreamClient(client_url(tmp_path), on_event=got)
        await client.open("mode=online")
        await got.wait(lambda es: client.state == ev.ACTIVE)
        for i in range(25):
            server.post(10, 0, b"m%d" % i)
            if i % 10 == 9:
                server.rotate()
        await got.wait(lambda es: len(got.seqs()) == 25)
        await client.close()
        assert sorted(os.listdir(tmp_path)) == sorted(
            ["online.sock", "request.sock", "st.0.dat", "st.10.dat", "st.current.dat"])
        again = await history(tmp_path, "mode=seq;seq=0")
        assert again.seqs() == list(range(25))
        # a client following history across a rotation that happens meanwhile
        late = Collector()
        c2 = StreamClient(client_url(tmp_path), on_event=late)
        await c2.open("mode=seq;seq=5")
        server.rotate()
        server.post(10, 0, b"x")
        await late.wait(lambda es: 25 in late.seqs())
        assert late.seqs() == list(range(5, 26))
        await c2.close()
    with pytest.raises(ChannelError, match="rotate needs rotate"):
        async with StreamServer(server_url(tmp_path)) as s2:
            s2.rotate()


@run
async def test_ring_overlap_with_live_traffic(tmp_path):
    """5000 stored, posting continues during catch-up: every seq once, in order, one Online."""
    seed(tmp_path / "storage.dat", [(10, s, b"h%d" % s) for s in range(5000)],
         block=64 * 1024)
    async with StreamServer(server_url(tmp_path)) as server:
        got = Collector()
        client = StreamClient(client_url(tmp_path, ";size=16kb"), on_event=got)
        await client.open("mode=seq;seq=0")

        async def poster():
            for s in range(5000, 6500):
                server.post(10, s, b"l%d" % s)
                if s % 20 == 0:
                    await asyncio.sleep(0)

        await poster()
        await got.wait(lambda es: 6499 in got.seqs(), 10)
        assert got.seqs() == list(range(6500))
        onl = [i for i, e in enumerate(got.events) if is_online(e)]
        assert len(onl) == 1
        before = got.events[:onl[0]]
        assert all(not d.online for d in before if isinstance(d, StreamData))
        await client.close()


@run
async def test_online_gap(tmp_path):
    """pub says 10 but Reply says 4: history 0..4, 10 live over the request, Online(10)."""
    pub = PubServer(f"pub+tcp://{tmp_path}/online.sock")
    await pub.open({"last-seq": 10})
    req_events: list = []
    req = TcpServer(f"tcp://{tmp_path}/request.sock;mode=server", on_event=req_events.append)
    await req.open()
    got = Collector()
    client = StreamClient(client_url(tmp_path), on_event=got)
    try:
        await client.open("mode=seq;seq=0")
        await wait_for(lambda: any(isinstance(e, ev.Data) for e in req_events))
        addr = next(e.addr for e in req_events if isinstance(e, ev.Data))
        req.post(P.REPLY, 0, P.encode_reply(P.Reply(4, 0)), addr=addr)
        for s in range(5):
            req.post(10, s, b"h", addr=addr)
        await got.wait(lambda es: 4 in got.seqs())
        assert not any(is_online(e) for e in got.events)       # 10 still missing
        req.post(10, 10, b"late", addr=addr)
        await got.wait(settled)
        assert got.seqs() == [0, 1, 2, 3, 4, 10] and online_seq(got.events) == 10
        done = [e for e in req_events if isinstance(e, ev.Data) and e.msgid == P.CLIENT_DONE]
        await wait_for(lambda: any(isinstance(e, ev.Data) and e.msgid == P.CLIENT_DONE
                                   for e in req_events))
        done = [e for e in req_events if isinstance(e, ev.Data) and e.msgid == P.CLIENT_DONE]
        assert P.decode_client_done(done[0].body).seq == 10
    finally:
        await client.close()
        await req.close()
        await pub.close()


@run
async def test_max_size(tmp_path):
    async with StreamServer(server_url(tmp_path, extra=";max-size=1kb")) as server:
        with pytest.raises(ChannelError, match="1025 bytes exceeds max-size 1024"):
            server.post(10, 1, bytes(1025))
        assert server.last_seq == -1
        assert server.post(10, 1, bytes(1024)) == 1


@run
async def test_storage_failure_never_publishes(tmp_path):
    seed(tmp_path / "storage.dat", block=4096)
    async with StreamServer(server_url(tmp_path)) as server:
        got = Collector()
        client = StreamClient(client_url(tmp_path), on_event=got)
        await client.open("mode=online")
        await got.wait(lambda es: client.state == ev.ACTIVE)
        with pytest.raises(StorageError, match="storing seq 40 failed, message not published"):
            server.post(10, 40, bytes(5000))      # does not fit a 4 KiB block
        assert server.last_seq == 30
        server.post(10, 41, b"ok")
        await got.wait(lambda es: got.seqs() == [41])
        await client.close()


@pytest.mark.parametrize("reopen", ["initial", "seq-data"])
@run
async def test_initial_on_empty_server(tmp_path, reopen):
    async with StreamServer(server_url(tmp_path)) as server:
        got = Collector()
        client = StreamClient(client_url(tmp_path), on_event=got)
        await client.open("mode=initial")
        await got.wait(lambda es: client.state == ev.ACTIVE)
        await wait_for(lambda: not server.sessions)        # client closed the request itself
        assert got.seqs() == [] and not any(is_online(e) for e in got.events)
        server.post(10, 10, b"first")
        await got.wait(settled)
        assert got.seqs() == [10] and online_seq(got.events) == 10
        await client.close()
        params = "mode=initial" if reopen == "initial" else client.reopen_params()
        again = await history(tmp_path, params)
        assert again.seqs() == ([10] if reopen == "initial" else [])
        assert online_seq(again.events) == 10


@run
async def test_seq_beyond_2_32(tmp_path):
    big = 1 << 32
    seed(tmp_path / "storage.dat", [(10, big, b"a"), (10, big + 1, b"b")])
    async with StreamServer(server_url(tmp_path)) as server:
        got = await history(tmp_path, {"mode": "seq", "seq": big + 1})
        assert got.seqs() == [big + 1] and online_seq(got.events) == big + 1
        assert server.post(10, big + 2, b"c") == big + 2


@pytest.mark.parametrize("where", ["history", "online"])
@run
async def test_close_from_callback(tmp_path, where):
    seed(tmp_path / "storage.dat")
    async with StreamServer(server_url(tmp_path)) as server:
        client: StreamClient | None = None
        target = 30 if where == "history" else 40

        def hook(e):
            if isinstance(e, ev.Data) and e.seq == target:
                client.close_nowait()

        got = Collector(hook)
        client = StreamClient(client_url(tmp_path), on_event=got)
        await client.open("mode=seq;seq=20")
        if where == "online":
            await got.wait(settled)
            server.post(10, 40, b"x")
            server.post(10, 50, b"y")
        await got.wait(lambda es: client.state == ev.CLOSED)
        await asyncio.sleep(0.05)
        assert got.events[-2:] == [ev.State(ev.CLOSING), ev.State(ev.CLOSED)]
        assert got.seqs()[-1] == target
        await wait_for(lambda: not server.online.subscribers and not server.sessions)
        # and the client can be opened again
        await client.open(client.reopen_params())
        await got.wait(lambda es: client.state == ev.ACTIVE)
        await client.close()


@run
async def test_online_eof_and_request_eof_are_errors(tmp_path):
    seed(tmp_path / "storage.dat")
    server = StreamServer(server_url(tmp_path))
    await server.open()
    got = Collector()
    client = StreamClient(client_url(tmp_path), on_event=got)
    await client.open("mode=online")
    await got.wait(lambda es: client.state == ev.ACTIVE)
    await server.close()
    await got.wait(lambda es: client.state == ev.ERROR)
    assert "Online channel closed" in client.reason and "Server dropped connection" in client.reason
    await client.close()
    # request connection refused: the client reports it
    pub = PubServer(f"pub+tcp://{tmp_path}/online.sock")
    await pub.open()
    got2 = Collector()
    c2 = StreamClient(client_url(tmp_path), on_event=got2)
    await c2.open("mode=seq;seq=0")
    await got2.wait(lambda es: c2.state == ev.ERROR)
    assert "Request channel failed" in c2.reason and "cannot connect" in c2.reason
    await c2.close()
    await pub.close()


@run
async def test_online_server_absent(tmp_path):
    got = Collector()
    client = StreamClient(client_url(tmp_path), on_event=got)
    with pytest.raises(ChannelError, match="cannot connect"):
        await client.open("mode=seq;seq=0")
    assert client.state == ev.ERROR and got.states() == ["Opening", "Error"]


def test_config_forms_and_errors(tmp_path):
    base = f"stream+pub+tcp://{tmp_path}/o.sock;mode=server"
    for req in (f"request=tcp://{tmp_path}/r.sock", f"request.url=tcp://{tmp_path}/r.sock",
                f"request.tll.proto=tcp;request.tll.host={tmp_path}/r.sock"):
        s = create_channel(f"{base};{req};storage=file://{tmp_path}/s.dat")
        assert isinstance(s, StreamServer)
        assert (s.request_url.proto, s.request_url.host) == ("tcp", f"{tmp_path}/r.sock")
        assert s.request_url.params["mode"] == "server"
        assert "request" not in s.online_url.params and s.online_url.proto == "pub+tcp"
    yaml_cfg = {"tll.proto": "stream+pub+tcp", "tll.host": f"{tmp_path}/o.sock",
                "request": {"tll.proto": "tcp", "tll.host": f"{tmp_path}/r.sock"},
                "peer": "c0", "stream": {"protocol": "old"}}
    c = create_channel(yaml_cfg)
    assert isinstance(c, StreamClient) and c.core.protocol == "old" and c.core.peer == "c0"
    with pytest.raises(ConfigError, match="'request' is mandatory"):
        create_channel(f"stream+pub+tcp://{tmp_path}/o.sock")
    with pytest.raises(ConfigError, match="'storage' is mandatory"):
        create_channel(f"{base};request=tcp://{tmp_path}/r.sock")
    with pytest.raises(ConfigError, match="stream.protocol"):
        create_channel("stream+pub+tcp://x;request=tcp://y;stream.protocol=tcp")


@run
async def test_open_param_errors(tmp_path):
    c = StreamClient(client_url(tmp_path))
    with pytest.raises(ConfigError, match="'mode' is mandatory"):
        await c.open({})
    with pytest.raises(ConfigError, match="'seq' is mandatory"):
        await c.open("mode=seq")
    old = StreamClient(client_url(tmp_path, ";stream.protocol=old"))
    with pytest.raises(ConfigError, match="needs stream.protocol=new"):
        await old.open("mode=last")


@run
async def test_async_iteration(tmp_path):
    seed(tmp_path / "storage.dat")
    async with StreamServer(server_url(tmp_path)) as server:
        out = []
        async with StreamClient(client_url(tmp_path), params="mode=seq;seq=0") as client:
            async for e in client:
                out.append(e)
                if is_online(e):
                    break
        async for e in client:          # the rest: Closing, Closed, then the iteration ends
            out.append(e)
        assert [type(e).__name__ for e in out] == ["State", "State", "StreamData", "StreamData",
                                                   "StreamData", "Control", "State", "State"]
        assert server.state == ev.ACTIVE
        # online first, closed without reading its Closed, then reopened from seq 0 (the demo)
        await client.open({"mode": "online"})
        await client.wait_state(ev.ACTIVE, timeout=5)
        await client.close()
        await client.open({"mode": "seq", "seq": 0})
        again = []
        async for e in client:
            again.append(e)
            if is_online(e):
                server.post(10, 40, b"ddd")
            if isinstance(e, StreamData) and e.online:
                break
        await client.close()
        assert [(e.seq, e.online) for e in again if isinstance(e, StreamData)] == \
            [(10, False), (20, False), (30, False), (40, True)]
        assert again[0] == ev.State(ev.OPENING)
