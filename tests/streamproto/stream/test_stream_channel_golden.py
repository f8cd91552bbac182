"""Our asyncio client against our asyncio server, over real Unix sockets, for every golden wire
capture: same user events as the reference client, same bytes on both connections."""
from __future__ import annotations


import pytest

from streamproto import events as ev
from tests.streamproto.netutil import run
from tests.streamproto.stream.stream_net import (Collector, Proxy, StreamClient, StreamServer,
                                                 line, seed, server_url, wait_for)
from tests.streamproto.stream.stream_wirelog import WIRE_LOGS, parse


def _settled(events: list) -> bool:
    last = events[-1] if events else None
    if isinstance(last, ev.State) and last.state == ev.ERROR:
        return True
    return any(isinstance(e, ev.Control) and e.name == "Online" for e in events)


@pytest.mark.parametrize("path", WIRE_LOGS, ids=[p.stem for p in WIRE_LOGS])
@run
async def test_wire_log_mode(path, tmp_path):
    log = parse(path)
    seed(tmp_path / "storage.dat")
    server = StreamServer(server_url(tmp_path), on_event=lambda e: None)
    await server.open()
    pub = await Proxy(f"{tmp_path}/p.sock", f"{tmp_path}/online.sock").start()
    req = await Proxy(f"{tmp_path}/r.sock", f"{tmp_path}/request.sock").start()
    got = Collector()
    client = StreamClient(f"stream+pub+tcp://{tmp_path}/p.sock;request=tcp://{tmp_path}/r.sock;"
                          f"peer={log.peer};stream.protocol={log.protocol}", on_event=got)
    try:
        await client.open(log.open_params)
        mode = log.open_params["mode"]
        if mode == "online":
            await got.wait(lambda es: client.state == ev.ACTIVE, what="Active")
            await wait_for(lambda: server.online.subscribers, what="subscriber")
        else:
            await got.wait(_settled, what="Online or Error")
            await wait_for(lambda: not server.sessions, what="request session to end")
        server.post(10, 40, b"ddd")
        if client.state != ev.ERROR:
            await got.wait(lambda es: any(getattr(e, "seq", 0) == 40 for e in es), what="seq 40")
        else:
            await wait_for(lambda: any(d == "S>C" and b"ddd" in b for _, d, b in pub.chunks),
                           what="40 on the online connection")
        await client.close()
        await wait_for(lambda: not server.online.subscribers, what="pub disconnect")
    finally:
        await client.close()
        await server.close()
        await pub.close()
        await req.close()
    want = [e for e in log.events]
    assert [line(e) for e in got.events] == want
    # the same bytes both ways on both connections (history may be cut into other reads)
    assert pub.stream("C>S") == log.stream("PUB", "C>S")
    assert pub.stream("S>C") == log.stream("PUB", "S>C")
    assert req.stream("C>S") == log.stream("REQ", "C>S")
    assert req.stream("S>C") == log.stream("REQ", "S>C")
    assert req.conns == (1 if mode != "online" else 0)


@run
async def test_online_flags_and_reopen_params(tmp_path):
    seed(tmp_path / "storage.dat")
    async with StreamServer(server_url(tmp_path)) as server:
        got = Collector()
        client = StreamClient(f"stream+pub+tcp://{tmp_path}/online.sock;"
                              f"request=tcp://{tmp_path}/request.sock", on_event=got)
        assert client.reopen_params() == {}
        await client.open("mode=seq;seq=0")
        await got.wait(_settled)
        await wait_for(lambda: not server.sessions)
        server.post(10, 40, b"ddd")
        await got.wait(lambda es: es[-1].seq == 40 if isinstance(es[-1], ev.Data) else False)
        data = got.data()
        assert [(d.seq, d.online) for d in data] == [(10, False), (20, False), (30, False),
                                                     (40, True)]
        assert client.last_seq == 40
        assert client.reopen_params() == {"mode": "seq-data", "seq": 40}
        await client.close()
