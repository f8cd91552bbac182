"""stream+pub+tcp benchmark over Unix sockets: history catch-up, fan-out and online latency.

The server runs in a child process; the clients (and the floor loops) in this one.

* catch-up: ``--count`` (1 M) stored 26-byte Transactions; a client opens with ``mode=seq;seq=0``
  and counts messages until ``Online`` (callback API, ``async for``, and the ``on_batch`` API);
  floor: the same Request sent by a bare socket, reading the same bytes with ``recv_into``
  and nothing else.
* fan-out: ``--fan-count`` (200 k) stored messages replayed to 1, then 4 clients opening at
  once (``mode=seq;seq=0``, all in this process); the server child's CPU time (getrusage)
  per delivered message, and the ratio 4 clients / 1 client. Floor: a bare process that
  ``sendall``s the same framed bytes from memory to as many sockets (one thread each).
* online: the server posts ``--rate`` (10 k) msgs/s for ``--seconds``; one-way post-to-receive
  latency p50/p99 (the body starts with ``time.perf_counter_ns()``, a system-wide clock).

Targets: >= 300 k msgs/s catch-up, p99 < 1 ms online at 10 k msgs/s; fan-out (issue 11): with
four clients at most 0.5 us of server CPU per delivered message and at most half of one client's.

    python bench/stream.py [--count N] [--fan-count N] [--rate R] [--seconds S]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import socket
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchutil import percentile_us  # noqa: E402

from streamproto.events import Control, State  # noqa: E402
from streamproto.storage import FileWriter  # noqa: E402
from streamproto.stream import protocol as P  # noqa: E402
from streamproto.stream.channel import StreamClient, StreamServer  # noqa: E402
from streamproto.stream.client import StreamData  # noqa: E402

BODY = struct.Struct("<qqqH")   # Transaction: time, id, price, count = 26 bytes
FRAME = struct.Struct("<Iiq")
#: the batch delivery API (issue 11) when this checkout has it
_BATCH_API = "on_batch" in StreamClient.__init__.__code__.co_varnames


def _cpu() -> float:
    """CPU seconds (user + system) of this process so far, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _urls(d: str, storage: str = "s.dat") -> tuple[str, str]:
    server = (f"stream+pub+tcp://{d}/o.sock;mode=server;request=tcp://{d}/r.sock;"
              f"storage=file://{d}/{storage};pub.size=16mb")
    client = f"stream+pub+tcp://{d}/o.sock;request=tcp://{d}/r.sock;peer=bench"
    return server, client


def _server_main(d: str, conn, storage: str = "s.dat") -> None:
    async def run() -> None:
        srv = StreamServer(_urls(d, storage)[0], on_event=lambda ev: None)
        await srv.open()
        loop = asyncio.get_running_loop()
        conn.send("ready")
        while True:
            cmd = await loop.run_in_executor(None, conn.recv)
            if cmd[0] == "stop":
                break
            if cmd[0] == "cpu":
                conn.send(_cpu())
            if cmd[0] == "post":                        # paced online posts
                _, n, rate = cmd
                period, start, seq0 = 1.0 / rate, time.perf_counter(), srv.last_seq + 1
                pack, clock = BODY.pack, time.perf_counter_ns
                for i in range(n):
                    delay = start + i * period - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    srv.post(10, seq0 + i, pack(clock(), i, 9721, 1))
                    srv.online.flush()
                conn.send("posted")
        await srv.close()

    asyncio.run(run())


def _bodies() -> list[bytes]:
    pack = BODY.pack
    return [pack(1725290273492443617 + i, i, 97612 + i % 1000, i % 100) for i in range(4096)]


def _seed(d: str, n: int, name: str = "s.dat") -> int:
    bodies = _bodies()
    with FileWriter(f"{d}/{name}", io="posix", buffer=1 << 20) as w:
        post = w.post
        for i in range(n):
            post(10, i, bodies[i & 4095])
    return n * (FRAME.size + BODY.size)


async def _catch_up(client_url: str, n: int, mode: str) -> float:
    """One client from seq 0 to Online: ``event`` (on_event), ``iter`` (async for) or
    ``batch`` (on_batch)."""
    count = 0
    done = asyncio.get_running_loop().create_future()
    t0 = time.perf_counter()

    def on_event(ev):
        nonlocal count
        if type(ev) is StreamData:
            count += 1
        elif type(ev) is Control and ev.name == "Online":
            done.set_result(time.perf_counter())
        elif type(ev) is State and ev.state == "Error":
            done.set_exception(RuntimeError(ev.reason))

    def on_batch(batch):
        nonlocal count
        count += len(batch)

    if mode == "iter":
        c = StreamClient(client_url)
        await c.open("mode=seq;seq=0")
        async for ev in c:
            if type(ev) is StreamData:
                count += 1
            elif type(ev) is Control:
                t1 = time.perf_counter()
                break
            elif type(ev) is State and ev.state == "Error":
                raise RuntimeError(ev.reason)
    else:
        kw = {"on_batch": on_batch} if mode == "batch" else {}
        c = StreamClient(client_url, on_event=on_event, **kw)
        await c.open("mode=seq;seq=0")
        t1 = await asyncio.wait_for(done, 300)
    await c.close()
    assert count == n, (count, n)
    return t1 - t0


def _floor(d: str, nbytes: int) -> float:
    """Bare socket: send the Request, read Reply + history bytes, no parsing at all."""
    msgid, body = P.encode_request(P.Request(P.REQUEST_SEQ, 0))
    want = FRAME.size + 32 + nbytes
    buf = bytearray(1 << 20)
    t0 = time.perf_counter()
    s = socket.socket(socket.AF_UNIX)
    s.connect(f"{d}/r.sock")
    s.sendall(FRAME.pack(len(body), msgid, 0) + body)
    got = 0
    while got < want:
        n = s.recv_into(buf)
        if not n:
            raise RuntimeError(f"EOF after {got} of {want} bytes")
        got += n
    t1 = time.perf_counter()
    s.close()
    return t1 - t0


async def _fan_out(client_url: str, n: int, k: int) -> float:
    """``k`` clients open ``mode=seq;seq=0`` at once; wall time until every one is Online."""
    loop = asyncio.get_running_loop()
    counts = [0] * k
    done = [loop.create_future() for _ in range(k)]
    clients = []
    for i in range(k):
        def on_event(ev, i=i):
            if type(ev) is StreamData:
                counts[i] += 1
            elif type(ev) is Control and ev.name == "Online":
                done[i].set_result(None)
            elif type(ev) is State and ev.state == "Error" and not done[i].done():
                done[i].set_exception(RuntimeError(ev.reason))

        kw: dict = {"on_event": on_event}
        if _BATCH_API:
            def on_batch(batch, i=i):
                counts[i] += len(batch)
            kw["on_batch"] = on_batch
        clients.append(StreamClient(client_url.replace("peer=bench", f"peer=fan{i}"), **kw))
    t0 = time.perf_counter()
    await asyncio.gather(*(c.open("mode=seq;seq=0") for c in clients))
    await asyncio.wait_for(asyncio.gather(*done), 600)
    t1 = time.perf_counter()
    for c in clients:
        await c.close()
    assert counts == [n] * k, (counts, n)
    return t1 - t0


def _bare_sender(path: str, blob: bytes, k: int, conn) -> None:
    """Floor of the fan-out: accept ``k`` connections, read each request, ``sendall`` ``blob``."""
    ls = socket.socket(socket.AF_UNIX)
    ls.bind(path)
    ls.listen(k)
    conn.send("ready")
    socks = [ls.accept()[0] for _ in range(k)]
    cpu0 = _cpu()
    view = memoryview(blob)

    def serve(s: socket.socket) -> None:
        s.recv(4096)
        s.sendall(view)

    threads = [threading.Thread(target=serve, args=(s,)) for s in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conn.send(_cpu() - cpu0)
    for s in socks:
        s.close()
    ls.close()
    os.unlink(path)


def _fan_out_floor(d: str, blob: bytes, k: int) -> float:
    """Server CPU seconds of the bare sender serving ``blob`` to ``k`` sockets at once."""
    path = f"{d}/floor{k}.sock"
    parent, child = mp.Pipe()
    proc = mp.Process(target=_bare_sender, args=(path, blob, k, child))
    proc.start()
    try:
        assert parent.recv() == "ready"
        socks = []
        for _ in range(k):
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            socks.append(s)

        def read(s: socket.socket) -> None:
            buf = bytearray(1 << 20)
            s.sendall(b"request")
            got = 0
            while got < len(blob):
                n = s.recv_into(buf)
                if not n:
                    raise RuntimeError(f"EOF after {got} of {len(blob)} bytes")
                got += n

        threads = [threading.Thread(target=read, args=(s,)) for s in socks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        cpu = parent.recv()
        for s in socks:
            s.close()
        return cpu
    finally:
        proc.join(10)


def _framed(n: int) -> bytes:
    """The std frames of the history the server sends for ``n`` seeded messages."""
    bodies = _bodies()
    pack = FRAME.pack
    return b"".join([pack(len(bodies[i & 4095]), 10, i) + bodies[i & 4095] for i in range(n)])


def _fan_out_report(d: str, n: int) -> None:
    """Each fan-out run gets a freshly started server (empty caches: the restart case)."""
    _seed(d, n, "fan.dat")
    os.makedirs(d + "/fan", exist_ok=True)
    blob = _framed(n)
    api = "on_batch" if _BATCH_API else "on_event"
    _, client_url = _urls(d + "/fan")
    per: dict[int, float] = {}
    for k in (1, 4):
        floor = min(_fan_out_floor(d, blob, k) for _ in range(2)) / (k * n)
        parent, child = mp.Pipe()
        proc = mp.Process(target=_server_main, args=(d + "/fan", child, "../fan.dat"))
        proc.start()
        try:
            assert parent.recv() == "ready"
            parent.send(("cpu",))
            cpu0 = parent.recv()
            wall = asyncio.run(_fan_out(client_url, n, k))
            parent.send(("cpu",))
            cpu = (parent.recv() - cpu0) / (k * n)
        finally:
            parent.send(("stop",))
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        per[k] = cpu
        print(f"fan-out {k} client(s) x {n:,} ({api}): server CPU {cpu * 1e6:6.3f} us per "
              f"delivered message, ratio to floor {cpu / floor:6.1f} (bare sendall "
              f"{floor * 1e6:6.3f} us); {k * n / wall:>10,.0f} msgs/s delivered")
    print(f"fan-out server CPU per delivered message, 4 clients / 1 client: "
          f"{per[4] / per[1]:5.2f} (target <= 0.50, and <= 0.5 us)")


async def _latency(client_url: str, conn, n: int, rate: float) -> list[int]:
    lat: list[int] = []
    clock = time.perf_counter_ns
    unpack = BODY.unpack_from

    def on_event(ev):
        if type(ev) is StreamData and ev.online:
            lat.append(clock() - unpack(ev.body)[0])

    c = StreamClient(client_url, on_event=on_event)
    await c.open("mode=online")
    await c.wait_state("Active", timeout=5)
    loop = asyncio.get_running_loop()
    conn.send(("post", n, rate))
    assert await loop.run_in_executor(None, conn.recv) == "posted"
    end = loop.time() + 5
    while len(lat) < n and loop.time() < end:
        await asyncio.sleep(0.01)
    await c.close()
    return lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000, help="stored messages to catch up")
    ap.add_argument("--fan-count", type=int, default=200_000,
                    help="stored messages replayed by the fan-out run (0: skip it)")
    ap.add_argument("--rate", type=float, default=10_000, help="online post rate")
    ap.add_argument("--seconds", type=float, default=2.0, help="length of the latency run")
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="streambench-")
    print(f"stream+pub+tcp over Unix sockets, 26-byte Transactions, python "
          f"{sys.version.split()[0]}, {os.cpu_count()} cpus, load average "
          f"{os.getloadavg()[0]:.2f}")
    nbytes = _seed(d, args.count)
    parent, child = mp.Pipe()
    proc = mp.Process(target=_server_main, args=(d, child))
    proc.start()
    try:
        assert parent.recv() == "ready"
        _, client_url = _urls(d)
        floor = min(_floor(d, nbytes) for _ in range(2))
        fr = args.count / floor
        print(f"floor (bare socket, no parsing): {fr:>12,.0f} msgs/s  "
              f"({nbytes / floor / 1e6:,.0f} MB/s of frames)")
        modes = [("catch-up, on_event callback", "event"), ("catch-up, async for", "iter")]
        if _BATCH_API:
            modes.append(("catch-up, on_batch callback", "batch"))
        for label, mode in modes:
            t = asyncio.run(_catch_up(client_url, args.count, mode))
            r = args.count / t
            print(f"{label:32s} {r:>12,.0f} msgs/s  ratio to floor {r / fr:5.2f}  "
                  f"({args.count:,} messages in {t:.2f} s)")
        n = int(args.rate * args.seconds)
        lat = asyncio.run(_latency(client_url, parent, n, args.rate))
        print(f"online at {args.rate:,.0f} msgs/s: {len(lat):,} of {n:,} received, "
              f"p50 {percentile_us(lat, 0.5):7.1f} us, p99 {percentile_us(lat, 0.99):7.1f} us, "
              f"max {max(lat) / 1e3:8.1f} us")
    finally:
        parent.send(("stop",))
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    if args.fan_count:
        _fan_out_report(d, args.fan_count)


if __name__ == "__main__":
    main()
