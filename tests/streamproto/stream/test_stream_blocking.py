"""The blocking facade (a thread runs the asyncio loop) and the file:// channel."""
from __future__ import annotations

import asyncio
import threading

import pytest

from streamproto import events as ev
from streamproto.errors import ChannelError, ConfigError
from streamproto.registry import create_channel
from streamproto.storage.channel import FileChannel
from streamproto.stream.blocking import subscribe
from streamproto.stream.channel import StreamServer
from tests.streamproto.netutil import run
from tests.streamproto.stream.stream_net import client_url, is_online, seed, server_url


def _serve_in_thread(tmp_path, posts_after_online: list[bytes]):
    """A stream server on its own loop; returns (thread, stop, posted-event)."""
    ready, stop_flag = threading.Event(), {}

    async def main():
        server = StreamServer(server_url(tmp_path))
        await server.open()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        stop_flag["stop"] = lambda: loop.call_soon_threadsafe(stop.set)
        stop_flag["post"] = lambda seq, body: loop.call_soon_threadsafe(server.post, 10, seq, body)
        ready.set()
        await stop.wait()
        await server.close()

    t = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    t.start()
    assert ready.wait(5)
    return t, stop_flag


def test_blocking_subscribe_stream(tmp_path):
    seed(tmp_path / "storage.dat")
    thread, ctl = _serve_in_thread(tmp_path, [])
    try:
        out = []
        for e in subscribe(client_url(tmp_path), "mode=seq;seq=20", timeout=10, count=3):
            out.append(e)
            if is_online(e):
                ctl["post"](40, b"ddd")
        assert [getattr(e, "seq", None) for e in out if not isinstance(e, ev.State)] == \
            [20, 30, 30, 40]
        assert out[-1].online is True
        # a timeout ends the iteration without an error
        quiet = list(subscribe(client_url(tmp_path), "mode=online", timeout=0.5))
        assert [e.state for e in quiet] == ["Opening", "Active"]
    finally:
        ctl["stop"]()
        thread.join(5)


def test_blocking_subscribe_open_failure(tmp_path):
    seen = list(subscribe(client_url(tmp_path), "mode=seq;seq=0", timeout=5))
    assert [e.state for e in seen] == ["Opening", "Error"]
    assert "cannot connect" in seen[-1].reason
    with pytest.raises(ConfigError, match="'mode' is mandatory"):
        list(subscribe(client_url(tmp_path), "seq=0", timeout=5))


def test_blocking_subscribe_file_ends_with_closed(tmp_path):
    seed(tmp_path / "s.dat")
    out = list(subscribe(f"file://{tmp_path}/s.dat", {"seq": 15}, timeout=5))
    assert [getattr(e, "seq", None) for e in out if isinstance(e, ev.Data)] == [20, 30]
    assert out[-1] == ev.State(ev.CLOSED)


@run
async def test_file_channel_follow_and_write(tmp_path):
    w = create_channel(f"file://{tmp_path}/s.dat;dir=w;autoseq=yes")
    assert isinstance(w, FileChannel)
    await w.open()
    assert [w.post(10, 0, b"x") for _ in range(3)] == [0, 1, 2]
    r = create_channel(f"file://{tmp_path}/s.dat;autoclose=no;poll=5ms")
    await r.open({"mode": "last"})
    assert (await r.next_event(2)).state == ev.OPENING
    assert (await r.next_event(2)).state == ev.ACTIVE
    assert (await r.next_event(2)).seq == 2
    w.post(10, 0, b"y")
    e = await r.next_event(2)
    assert (e.seq, e.body) == (3, b"y")
    await r.close()
    await w.close()
    with pytest.raises(ChannelError, match="post needs an open dir=w"):
        r.post(10, 5, b"")
    bad = create_channel(f"file://{tmp_path}/nope.dat")
    with pytest.raises(Exception, match="nope.dat"):
        await bad.open()
    assert bad.state == ev.ERROR
