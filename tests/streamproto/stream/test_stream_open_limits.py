"""Open parameters the Request cannot carry fail at open; background-task errors are not lost."""
from __future__ import annotations

import asyncio

import pytest

from streamproto import events as ev
from streamproto.errors import ConfigError
from streamproto.stream.client import StreamClientCore
from tests.streamproto.netutil import run
from tests.streamproto.stream.stream_net import (Collector, StreamClient, StreamServer,
                                                 client_url, seed, server_url)

INT64_MAX = (1 << 63) - 1


@pytest.mark.parametrize("mode,seq,block", [
    ("seq", INT64_MAX + 1, None), ("seq", 10 ** 20, None), ("seq-data", INT64_MAX, None),
    ("block", None, INT64_MAX + 1), ("block", None, -1),
])
def test_core_refuses_what_the_request_cannot_carry(mode, seq, block):
    core = StreamClientCore()
    with pytest.raises(ConfigError, match="out of the int64 range"):
        core.open(mode, seq, block=block)
    assert core.state.value == "Closed"          # nothing happened


def test_core_accepts_the_int64_edges():
    assert StreamClientCore().open("seq", INT64_MAX)
    assert StreamClientCore().open("seq-data", INT64_MAX - 1)


@run
async def test_open_with_seq_beyond_int64_fails_before_connecting(tmp_path):
    seed(tmp_path / "storage.dat")
    async with StreamServer(server_url(tmp_path)):
        c = StreamClient(client_url(tmp_path))
        with pytest.raises(ConfigError, match="parameter 'seq': 99999999999999999999 is out "
                                              "of range"):
            await c.open("mode=seq;seq=99999999999999999999")
        assert c.state == ev.CLOSED
        await c.close()


@run
async def test_background_task_exception_fails_the_channel(tmp_path, monkeypatch):
    """An exception inside the request-connection task used to be lost ("Task exception was
    never retrieved") with the channel stuck in Opening."""
    seed(tmp_path / "storage.dat")
    lost: list = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, ctx: lost.append(ctx))
    async with StreamServer(server_url(tmp_path)):
        got = Collector()
        c = StreamClient(client_url(tmp_path), on_event=got)

        def broken() -> list:
            raise RuntimeError("boom")
        monkeypatch.setattr(c.core, "request_connected", broken)
        await c.open("mode=seq;seq=0")
        await got.wait(lambda es: any(isinstance(e, ev.State) and e.state == ev.ERROR
                                      for e in es), 5, "Error")
        assert "internal error: boom" in (c.reason or "")
        await c.close()
    assert lost == []
