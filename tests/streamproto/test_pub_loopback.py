"""pub+tcp over real sockets: ordering through ring wrap-around, eviction, restart, many subscribers."""
from __future__ import annotations

import asyncio
import socket

import pytest

from streamproto.errors import ChannelError
from streamproto.events import ACTIVE, ERROR, Control, Data, State
from streamproto.pub.channel import PubClient, PubServer
from streamproto.pub.protocol import encode_hello, encode_hello_reply
from streamproto.registry import open_channel

from .netutil import FAMILIES, family_host, run, until

HELLO_C0 = encode_hello("c0")


class Collector:
    """on_event sink."""

    def __init__(self):
        self.events = []

    def __call__(self, ev):
        self.events.append(ev)

    @property
    def data(self):
        return [e for e in self.events if isinstance(e, Data)]

    @property
    def states(self):
        return [e.state for e in self.events if isinstance(e, State)]


async def server(host, params="", open_params=None, **kw):
    ev = Collector()
    srv = PubServer(f"pub+tcp://{host};mode=server{params}", on_event=ev, **kw)
    await srv.open(open_params)
    srv.ev = ev
    return srv


async def client(host, params=""):
    ev = Collector()
    c = PubClient(f"pub+tcp://{host}{params}", on_event=ev)
    await c.open()
    c.ev = ev
    await until(lambda: c.state in (ACTIVE, ERROR), what="HelloReply")
    return c


def body_of(i):
    return bytes([i % 251]) * ((i * 37) % 1000)


@pytest.mark.parametrize("family", FAMILIES)
@run
async def test_1000_messages_of_varying_size_through_ring_wraparound(family, tmp_path):
    srv = await server(family_host(family, tmp_path), ";size=8kb")
    host = srv.addresses[0]
    c = await client(host)
    assert c.state == ACTIVE and c.server_seq == -1
    for i in range(1000):
        srv.post(i % 7, 100 + i, body_of(i))
        if i % 3 == 2:       # the ring holds only a few messages: let the subscriber keep up
            await until(lambda: len(c.ev.data) == i + 1, what=f"message {i}")
    await until(lambda: len(c.ev.data) == 1000, what="1000 messages")
    assert [(d.msgid, d.seq, d.body) for d in c.ev.data] == \
        [(i % 7, 100 + i, body_of(i)) for i in range(1000)]
    assert srv.core.ring.wrap > 0            # the ring did wrap around
    assert c.last_seq == 1099
    await c.close()
    await srv.close()


@run
async def test_slow_subscriber_is_evicted_fast_one_gets_everything(tmp_path):
    srv = await server(f"{tmp_path}/p.sock", ";size=16kb;sndbuf=1kb")
    fast = await client(srv.addresses[0])
    slow = socket.socket(socket.AF_UNIX)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    slow.connect(srv.addresses[0])
    slow.sendall(HELLO_C0)
    await until(lambda: len(srv.ev.events) >= 4, what="two Connect events")   # Opening, Active, 2x Connect
    assert slow.recv(26) == encode_hello_reply(-1)
    slow_id = [e.addr for e in srv.ev.events if isinstance(e, Control)][-1]
    n = 3000
    for i in range(n):
        srv.post(10, i, bytes([i % 256]) * 100)      # never blocks, never raises
        if i % 20 == 19:
            await until(lambda: len(fast.ev.data) == i + 1, what=f"fast subscriber at {i}")
    await until(lambda: len(fast.ev.data) == n, what="all messages at the fast subscriber")
    assert [d.seq for d in fast.ev.data] == list(range(n))
    assert Control("Disconnect", 20, 0, b"", addr=slow_id) in srv.ev.events
    assert fast.state == ACTIVE and len(srv.subscribers) == 1
    slow.setblocking(False)                          # what it got is a prefix, then EOF
    got = bytearray()
    while True:
        try:
            chunk = slow.recv(65536)
        except BlockingIOError:
            await asyncio.sleep(0.01)
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += chunk
    assert 0 < len(got) < n * 116
    slow.close()
    await fast.close()
    await srv.close()


@run
async def test_server_restart(tmp_path):
    path = f"{tmp_path}/r.sock"
    srv = await server(path)
    c = await client(path)
    srv.post(10, 1, b"a")
    await until(lambda: len(c.ev.data) == 1)
    await srv.close()
    await until(lambda: c.state == ERROR, what="client error on server EOF")
    assert c.reason == "Server dropped connection"
    await srv.open("last-seq=41")                    # same object, same path: reopen works
    c2 = await client(path)
    assert c2.server_seq == 41
    srv.post(10, 42, b"b")
    await until(lambda: len(c2.ev.data) == 1)
    assert c2.ev.data[0] == Data(10, 42, b"b")
    await c2.close()
    await srv.close()
    srv2 = await server(path)                        # a new server on the old path
    await srv2.close()


@run
async def test_many_subscribers(tmp_path):
    srv = await server(f"{tmp_path}/m.sock", "", "last-seq=9")
    clients = [await client(srv.addresses[0], f";peer=c{i}") for i in range(25)]
    assert all(c.server_seq == 9 for c in clients)
    assert sorted(s.name for s in srv.core.subscribers.values()) == sorted(f"c{i}" for i in range(25))
    for i in range(200):
        srv.post(10, 10 + i, str(i).encode())
    await until(lambda: all(len(c.ev.data) == 200 for c in clients), what="200 messages x 25")
    for c in clients:
        assert [d.seq for d in c.ev.data] == list(range(10, 210))
    for c in clients[:5]:
        await c.close()
    await until(lambda: len(srv.subscribers) == 20, what="5 Disconnect")
    assert sum(isinstance(e, Control) and e.name == "Disconnect" for e in srv.ev.events) == 5
    await srv.close()
    await until(lambda: all(c.state == ERROR for c in clients[5:]))


@run
async def test_subscriber_sending_after_handshake_is_dropped(tmp_path):
    srv = await server(f"{tmp_path}/x.sock")
    r, w = await asyncio.open_unix_connection(srv.addresses[0])
    w.write(HELLO_C0[:20])
    await w.drain()
    await asyncio.sleep(0.02)
    w.write(HELLO_C0[20:])                            # the rest of the Hello and its tail
    await w.drain()
    assert await asyncio.wait_for(r.readexactly(26), 5) == encode_hello_reply(-1)
    assert len(srv.subscribers) == 1
    w.write(b"\x00")
    await w.drain()
    assert await asyncio.wait_for(r.read(), 5) == b""   # EOF
    assert not srv.subscribers
    w.close()
    await srv.close()


@run
async def test_connect_and_disconnect_events(tmp_path):
    srv = await server(f"{tmp_path}/e.sock")
    c = await client(srv.addresses[0])
    await until(lambda: any(isinstance(e, Control) for e in srv.ev.events))
    connect = [e for e in srv.ev.events if isinstance(e, Control)][0]
    assert connect.name == "Connect" and connect.body == b"\x02" + bytes(18)
    await c.close()
    await until(lambda: srv.ev.events[-1] == Control("Disconnect", 20, 0, b"", addr=connect.addr))
    assert c.ev.states == ["Opening", "Active", "Closing", "Closed"]
    await srv.close()


@run
async def test_frame_over_client_receive_limit_is_an_error(tmp_path):
    srv = await server(f"{tmp_path}/l.sock", ";size=1mb")
    c = await client(srv.addresses[0], ";recv-buffer-size=64kb")
    srv.post(10, 1, b"x" * (128 * 1024))
    await until(lambda: c.state == ERROR, what="client error")
    assert "exceeds the receive limit of 65536 bytes" in c.reason
    with pytest.raises(ChannelError, match="too large for a ring"):
        srv.post(10, 2, b"x" * (512 * 1024))
    await srv.close()


@run
async def test_open_channel_factory_and_queue_iteration(tmp_path):
    srv = await open_channel(f"pub+tcp://@{tmp_path}/abstract;mode=server")
    assert srv.addresses == [f"@{tmp_path}/abstract"]
    c = await open_channel(f"pub+tcp://@{tmp_path}/abstract;peer=q")
    assert await c.next_event(5) == State("Opening")
    assert await c.next_event(5) == State("Active")
    srv.post(1, 2, b"3")
    assert await c.next_event(5) == Data(1, 2, b"3")
    await srv.close()
    assert [e async for e in c] == [State(ERROR, "Server dropped connection")]
    await c.close()


@run
async def test_post_requires_open_server(tmp_path):
    srv = PubServer(f"pub+tcp://{tmp_path}/n.sock;mode=server")
    with pytest.raises(ChannelError, match="post in state Closed"):
        srv.post(1, 1, b"")
    c = PubClient(f"pub+tcp://{tmp_path}/nobody.sock")
    with pytest.raises(ChannelError, match="cannot connect"):
        await c.open()
    assert c.state == ERROR


@run
async def test_a_post_right_before_close_still_reaches_subscribers(tmp_path):
    """Regression: closing cancelled the pending flush, so the last posts were never sent."""
    srv = await server(f"{tmp_path}/s.sock")
    c = await client(f"{tmp_path}/s.sock")
    srv.post(10, 1, b"last")
    srv.post(10, 2, b"words")
    await srv.close()
    await until(lambda: len(c.ev.data) == 2 or c.state == ERROR, what="the last posts")
    assert [(d.seq, d.body) for d in c.ev.data] == [(1, b"last"), (2, b"words")]
    await c.close()
