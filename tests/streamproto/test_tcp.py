"""tcp:// over real sockets: connection ids, events, frames both directions, receive limit."""
from __future__ import annotations

import logging
import socket
import struct

import pytest

from streamproto.errors import ChannelError
from streamproto.events import ACTIVE, CLOSED, ERROR, Control, Data
from streamproto.frames import frame_format
from streamproto.tcp import TcpClient, TcpServer, connect_body

from .netutil import FAMILIES, family_host, run, until


class Collector(list):
    def __call__(self, ev):
        self.append(ev)

    def of(self, cls, name=None):
        return [e for e in self if isinstance(e, cls) and (name is None or e.name == name)]


async def pair(host, params=""):
    sev, cev = Collector(), Collector()
    srv = TcpServer(f"tcp://{host};mode=server{params}", on_event=sev)
    await srv.open()
    cli = TcpClient(f"tcp://{srv.addresses[0]}{params}", on_event=cev)
    await cli.open()
    await until(lambda: sev.of(Control, "Connect"), what="Connect")
    return srv, sev, cli, cev


@pytest.mark.parametrize("frame", ["std", "short", "tiny", "size32", "l4m4s8"])
@pytest.mark.parametrize("family", FAMILIES)
@run
async def test_frames_both_directions(frame, family, tmp_path):
    srv, sev, cli, cev = await pair(family_host(family, tmp_path), f";frame={frame}")
    cid = sev.of(Control, "Connect")[0].addr
    msgs = [(-2, 5, b"abc"), (7, 8, b""), (1, 2, bytes(range(256)) * 40)]
    for m in msgs:
        cli.post(*m)
        srv.post(*m, addr=cid)
    await until(lambda: len(sev.of(Data)) == 3 and len(cev.of(Data)) == 3, what="3+3 messages")
    full = frame_format(frame).fields == "sms"
    want = [(m, s, b) if full else (0, 0, b) for m, s, b in msgs]
    assert [(d.msgid, d.seq, d.body) for d in sev.of(Data)] == want
    assert all(d.addr == cid for d in sev.of(Data))
    assert [(d.msgid, d.seq, d.body) for d in cev.of(Data)] == want
    await cli.close()
    await srv.close()


@run
async def test_none_frame(tmp_path):
    srv, sev, cli, cev = await pair(f"{tmp_path}/n.sock", ";frame=none")
    cli.post(9, 9, b"raw bytes")
    await until(lambda: sev.of(Data))
    assert b"".join(d.body for d in sev.of(Data)) == b"raw bytes"
    assert {(d.msgid, d.seq) for d in sev.of(Data)} == {(0, 0)}
    await srv.close()


@run
async def test_connection_ids_disconnect_one_client(tmp_path):
    srv, sev, c1, e1 = await pair("127.0.0.1:0")
    host, port = srv.addresses[0].rsplit(":", 1)
    assert int(port) > 0                                     # port 0 -> bound port reported
    e2 = Collector()
    c2 = TcpClient(f"tcp://{srv.addresses[0]}", on_event=e2)
    await c2.open()
    await until(lambda: len(sev.of(Control, "Connect")) == 2)
    ids = [e.addr for e in sev.of(Control, "Connect")]
    assert ids == [1, 2]
    body = sev.of(Control, "Connect")[0].body
    assert len(body) == 19 and body[0] == 0 and body[1:5] == bytes([127, 0, 0, 1])
    assert struct.unpack_from("<H", body, 17)[0] == c1._conn.transport.get_extra_info("sockname")[1]
    srv.disconnect(1)
    await until(lambda: c1.state == CLOSED, what="client 1 closed")
    assert c1.reason == "connection closed by peer"
    await until(lambda: sev.of(Control, "Disconnect"))
    assert [e.addr for e in sev.of(Control, "Disconnect")] == [1]
    srv.post(3, 4, b"still here", addr=2)
    await until(lambda: e2.of(Data))
    assert e2.of(Data)[0] == Data(3, 4, b"still here")
    with pytest.raises(ChannelError, match="post to unknown connection 1"):
        srv.post(1, 1, b"", addr=1)
    with pytest.raises(ChannelError, match="unknown connection 7"):
        srv.disconnect(7)
    await c2.close()
    await until(lambda: len(sev.of(Control, "Disconnect")) == 2)
    await srv.close()


@run
async def test_server_receive_limit_drops_only_that_connection(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="streamproto.tcp")
    srv, sev, c1, e1 = await pair(f"{tmp_path}/lim.sock", ";recv-buffer-size=1kb")
    e2 = Collector()
    c2 = TcpClient(f"tcp://{srv.addresses[0]}", on_event=e2)
    await c2.open()
    await until(lambda: len(sev.of(Control, "Connect")) == 2)
    c1.post(1, 1, b"x" * 2000)                               # over the server's limit
    await until(lambda: sev.of(Control, "Disconnect"), what="Disconnect of the offender")
    assert [e.addr for e in sev.of(Control, "Disconnect")] == [1]
    [line] = [r.getMessage() for r in caplog.records if r.name == "streamproto.tcp"]
    assert line.startswith("tcp: tcp connection 1: frame of 2016 bytes") and "limit" in line
    await until(lambda: c1.state != ACTIVE)
    c2.post(2, 2, b"fine")
    await until(lambda: sev.of(Data))
    assert sev.of(Data) == [Data(2, 2, b"fine", 2)]
    await srv.close()


@run
async def test_client_receive_limit_is_an_error(tmp_path):
    srv, sev, cli, cev = await pair(f"{tmp_path}/cl.sock", ";max-size=1kb")   # client: 4 x 1kb
    srv.post(1, 1, b"x" * 5000, addr=1)
    await until(lambda: cli.state == ERROR)
    assert "exceeds the receive limit of 4096 bytes" in cli.reason
    await srv.close()


@run
async def test_stale_unix_socket_is_replaced_and_close_unlinks(tmp_path):
    path = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()  # a killed server leaves its socket file: nothing listens on it
    srv = TcpServer(f"tcp://{path};mode=server", on_event=lambda e: None)
    await srv.open()
    assert srv.state == ACTIVE and path.exists()
    await srv.close()
    assert not path.exists()


@run
async def test_live_unix_socket_or_other_file_is_a_bind_error(tmp_path):
    live = TcpServer(f"tcp://{tmp_path}/live.sock;mode=server", on_event=lambda e: None)
    await live.open()
    second = TcpServer(f"tcp://{tmp_path}/live.sock;mode=server", on_event=lambda e: None)
    with pytest.raises(ChannelError, match="cannot bind .*Address already in use"):
        await second.open()
    assert second.state == ERROR
    await live.close()
    (tmp_path / "plain").write_text("not a socket")
    other = TcpServer(f"tcp://{tmp_path}/plain;mode=server", on_event=lambda e: None)
    with pytest.raises(ChannelError, match="cannot bind"):
        await other.open()
    assert (tmp_path / "plain").read_text() == "not a socket"


@run
async def test_client_connect_failure(tmp_path):
    c = TcpClient(f"tcp://{tmp_path}/none.sock", on_event=lambda e: None)
    with pytest.raises(ChannelError, match="cannot connect"):
        await c.open()
    assert c.state == ERROR
    with pytest.raises(ChannelError, match="post in state Error"):
        c.post(1, 1, b"")


def test_connect_body_layouts():
    assert connect_body(socket.AF_UNIX, "") == b"\x02" + bytes(18)
    v6 = connect_body(socket.AF_INET6, ("::1", 5555, 0, 0))
    assert v6[0] == 1 and v6[1:17] == bytes(15) + b"\x01" and v6[17:] == (5555).to_bytes(2, "little")


def test_control_scheme_matches_ids():
    tllschema = pytest.importorskip("tllschema")
    from streamproto import schemas
    from streamproto.tcp import CONTROL_IDS
    s = tllschema.load(schemas.url("tcp-control.yaml"))
    assert {m.name: m.msgid for m in s.messages} == CONTROL_IDS
    assert s.message("Connect").size == 19
    assert s.message("Connect").encode({"host": {"unix": 0}}) == connect_body(socket.AF_UNIX, "")
