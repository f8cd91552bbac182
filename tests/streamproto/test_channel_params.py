"""Every init parameter a channel reads is checked when the channel is created (PARAMS)."""
from __future__ import annotations

import pytest

from streamproto.errors import ConfigError
from streamproto.registry import create_channel

TCP = "tcp://./x.sock"
PUB = "pub+tcp://./x.sock"
STREAM = "stream+pub+tcp://./o.sock;request=tcp://./r.sock"
STREAM_SERVER = STREAM + ";mode=server;storage=file://./s.dat"

BAD = [
    # sizes, booleans, ints, durations, enums of the shared socket parameters
    *[(base, f"{key}={value}", key) for base in (TCP, TCP + ";mode=server", PUB,
                                                 PUB + ";mode=server")
      for key, value in [("max-size", "abc"), ("buffer-size", "0"), ("recv-buffer-size", "-1"),
                         ("send-buffer-size", "1x"), ("send-buffer-hwm", "lots"),
                         ("sndbuf", "3gb"), ("rcvbuf", "x"), ("nodelay", "maybe"),
                         ("keepalive", "2"), ("timestamping", "on-ish"),
                         ("listen-backlog", "-1"), ("listen-backlog", "ten"),
                         ("bind", "nohostport"), ("timeout", "soon"), ("timeout", "-1s"),
                         ("af", "ipx")]],
    (TCP, "frame=jumbo", "frame"),
    (TCP, "tcp.nodelay=maybe", "tcp.nodelay"),
    (PUB + ";mode=server", "size=abc", "size"),
    (PUB + ";mode=server", "pub.size=2tb", "pub.size"),
    (PUB, "hello=perhaps", "hello"),
    (STREAM_SERVER, "autoseq=maybe", "autoseq"),
    (STREAM_SERVER, "max-size=big", "max-size"),
    (STREAM_SERVER, "pub.sndbuf=x", "pub.sndbuf"),            # the online child
    (STREAM_SERVER, "request.listen-backlog=x", "listen-backlog"),   # the request child
    (STREAM, "protocol=v3", "protocol"),
    (STREAM, "size=small", "size"),
    (STREAM, "request.timeout=x", "timeout"),
    (STREAM, "nodelay=x", "nodelay"),
]


@pytest.mark.parametrize("base,param,key", BAD, ids=[f"{b.split(':')[0]}-{p}" for b, p, _ in BAD])
def test_bad_parameter_is_refused_at_creation(base: str, param: str, key: str) -> None:
    with pytest.raises(ConfigError) as e:
        create_channel(f"{base};{param}")
    assert f"'{key}'" in str(e.value)
    assert repr(param.split("=", 1)[1])[1:-1] in str(e.value)   # the bad value is shown


@pytest.mark.parametrize("url", [
    TCP + ";max-size=1kb;sndbuf=64kb;nodelay=no;listen-backlog=100;timeout=1.5s;af=unix;frame=short",
    PUB + ";mode=server;size=4mb;hello=no;keepalive=yes;bind=127.0.0.1:0",
    STREAM_SERVER + ";autoseq=yes;max-size=1kb;pub.size=2mb;request.send-buffer-hwm=1mb",
    STREAM + ";protocol=old;size=256kb;request.timeout=2",
])
def test_good_parameters_pass(url: str) -> None:
    create_channel(url)


def test_storage_channel_parameters(tmp_path) -> None:
    with pytest.raises(ConfigError, match="parameter 'poll': invalid duration 'often'"):
        create_channel(f"file://{tmp_path}/x.dat;poll=often")
    with pytest.raises(ConfigError, match="parameter 'autoclose'"):
        create_channel(f"file://{tmp_path}/x.dat;autoclose=sometimes")


def test_storage_channel_task_error_is_not_lost(golden, monkeypatch) -> None:
    """An unexpected exception of the reading task turns the channel to Error."""
    import asyncio

    from streamproto import events as ev

    async def main() -> list:
        ch = create_channel(f"file://{golden}/storage/file/transaction.dat")

        def broken(*a, **k):
            raise RuntimeError("boom")
        await ch.open()
        monkeypatch.setattr(ch.storage, "read", broken)
        got = []
        async for e in ch:
            got.append(e)
        return got
    got = asyncio.run(asyncio.wait_for(main(), 10))
    assert isinstance(got[-1], ev.State) and got[-1].state == ev.ERROR
    assert "internal error: RuntimeError: boom" in got[-1].reason
