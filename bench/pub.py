"""pub+tcp benchmark over Unix sockets: one publisher, 1 and 10 subscribers, 26-byte messages.

Publisher in this process, subscribers in a child process (one event loop for all of them).
Throughput is messages/s seen by the slowest subscriber (first to last message), printed as a
ratio to the floor measured in the same run: a bare socket pair moving the same framed bytes
(``sendall`` of the whole stream, ``recv_into`` on the other side, no parsing). Rows:

* per message: ``post()`` per message, ``on_event`` per Data (the API before batches);
* batch: ``post_many()`` of 256 messages, ``on_batch`` callback;
* batch, async for: ``post_many()``, ``async for item in client.batches()``.

Then p50/p99 one-way latency at a paced rate (body starts with ``time.perf_counter_ns()``, a
system-wide monotonic clock). Targets (issue 11): >= 1 M msgs/s Python to Python with the batch
APIs, per message no slower than before; p99 < 1 ms at 10 k msgs/s.

    python bench/pub.py [--count N] [--rate R] [--seconds S]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchutil import percentile_us  # noqa: E402

from streamproto.events import Data, State  # noqa: E402
from streamproto.pub.channel import PubClient, PubServer  # noqa: E402

BODY = struct.Struct("<qqqH")   # the 26-byte Transaction layout: time, id, price, count
FRAME = struct.Struct("<Iiq")
assert BODY.size == 26
BATCH = 256
#: the batch APIs (issue 11) when this checkout has them
HAS_BATCH = hasattr(PubServer, "post_many")


def _subscriber_main(url: str, nsubs: int, expect: int, api: str, conn) -> None:
    async def run() -> None:
        done = asyncio.get_running_loop().create_future()
        stats = []
        clients = []

        def finish(st: dict) -> None:
            if st["n"] >= expect and all(s["n"] >= expect for s in stats) and not done.done():
                done.set_result(None)

        def fail(ev: State) -> None:
            if ev.state == "Error" and not done.done():
                done.set_exception(RuntimeError(ev.reason))

        for _ in range(nsubs):
            st: dict = {"n": 0, "first": 0, "last": 0, "lat": []}
            stats.append(st)

            def on_event(ev, st=st):
                if type(ev) is Data:
                    now = time.perf_counter_ns()
                    if st["n"] == 0:
                        st["first"] = now
                    st["n"] += 1
                    st["last"] = now
                    st["lat"].append(now - BODY.unpack_from(ev.body)[0])
                    finish(st)
                elif type(ev) is State:
                    fail(ev)

            def on_batch(batch, st=st):
                now = time.perf_counter_ns()
                if st["n"] == 0:
                    st["first"] = now
                st["n"] += len(batch)
                st["last"] = now
                st["lat"].append(now - BODY.unpack_from(batch[-1][2])[0])
                finish(st)

            if api == "event":
                c = PubClient(url, on_event=on_event)
            elif api == "batch":
                c = PubClient(url, on_event=on_event, on_batch=on_batch)
            else:
                c = PubClient(url)
            await c.open()
            await c.wait_state("Active", timeout=5)
            if api == "iter":
                c.drain_events()
                asyncio.ensure_future(_iterate(c, on_batch, fail))
            clients.append(c)
        conn.send("ready")
        try:
            await asyncio.wait_for(done, 120)
        except Exception as e:   # report, do not hang the parent
            conn.send({"error": repr(e), "n": [s["n"] for s in stats]})
            return
        conn.send([{"n": s["n"], "first": s["first"], "last": s["last"], "lat": s["lat"]}
                   for s in stats])

    asyncio.run(run())


async def _iterate(c, on_batch, fail) -> None:
    async for item in c.batches():
        if type(item) is State:
            fail(item)
        elif type(item) is not Data:
            on_batch(item)


async def _publish(url: str, nsubs: int, count: int, rate: float | None,
                   api: str = "event") -> list[dict]:
    srv = PubServer(url + ";mode=server;size=64mb", on_event=lambda ev: None)
    await srv.open()
    parent, child = mp.Pipe()
    proc = mp.Process(target=_subscriber_main, args=(url, nsubs, count, api, child))
    proc.start()
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, parent.recv) == "ready"
    while len(srv.core.subscribers) < nsubs or not all(
            s.active for s in srv.core.subscribers.values()):
        await asyncio.sleep(0.01)
    pack = BODY.pack
    clock = time.perf_counter_ns
    post = srv.post
    if rate is None and api == "event":
        for i in range(0, count, BATCH):
            for seq in range(i, min(i + BATCH, count)):
                post(10, seq, pack(clock(), seq, 9721, 1))
            await asyncio.sleep(0)
    elif rate is None:
        post_many = srv.post_many
        for i in range(0, count, BATCH):
            t = clock()
            post_many([(10, seq, pack(t, seq, 9721, 1)) for seq in range(i, min(i + BATCH, count))])
            await asyncio.sleep(0)
    else:
        period = 1.0 / rate
        start = time.perf_counter()
        for seq in range(count):
            target = start + seq * period
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)   # no busy wait: leave the CPU to the subscribers
            post(10, seq, pack(clock(), seq, 9721, 1))
            srv.flush()
    result = await loop.run_in_executor(None, parent.recv)
    proc.join(10)
    await srv.close()
    if isinstance(result, dict):
        raise RuntimeError(f"subscriber failed: {result}")
    return result


def _floor_receiver(path: str, nbytes: int, conn) -> None:
    ls = socket.socket(socket.AF_UNIX)
    ls.bind(path)
    ls.listen(1)
    conn.send("ready")
    s, _ = ls.accept()
    buf = bytearray(1 << 20)
    got, first = 0, 0
    while got < nbytes:
        n = s.recv_into(buf)
        if not n:
            break
        if not got:
            first = time.perf_counter_ns()
        got += n
    conn.send((got, first, time.perf_counter_ns()))
    s.close()
    ls.close()


def _floor(tmp: str, count: int) -> float:
    """Bare socket pair: the same framed bytes, ``sendall`` -> ``recv_into``; msgs/s."""
    pack = BODY.pack
    blob = b"".join([FRAME.pack(26, 10, i) + pack(i, i, 9721, 1) for i in range(count)])
    path = f"{tmp}/floor.sock"
    if os.path.exists(path):
        os.unlink(path)
    parent, child = mp.Pipe()
    proc = mp.Process(target=_floor_receiver, args=(path, len(blob), child))
    proc.start()
    assert parent.recv() == "ready"
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    view = memoryview(blob)
    for i in range(0, len(view), 64 * 1024):     # a writer's chunks, not one giant syscall
        s.sendall(view[i:i + 64 * 1024])
    got, first, last = parent.recv()
    s.close()
    proc.join(10)
    assert got == len(blob), (got, len(blob))
    return count / ((last - first) / 1e9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=300_000, help="messages in the throughput run")
    ap.add_argument("--rate", type=float, default=10_000, help="paced rate of the latency run")
    ap.add_argument("--seconds", type=float, default=2.0, help="length of the latency run")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="pubbench-")
    print(f"pub+tcp over Unix sockets, 26-byte messages, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f} (other work skews latency)")
    floor = max(_floor(tmp, args.count) for _ in range(2))
    print(f"floor (bare socket pair, same framed bytes): {floor:>12,.0f} msgs/s")
    apis = [("per message (post, on_event)", "event")]
    if HAS_BATCH:
        apis += [("batch (post_many, on_batch)", "batch"),
                 ("batch (post_many, async for batches())", "iter")]
    for nsubs in (1, 10):
        for label, api in apis:
            url = f"pub+tcp://{tmp}/t{nsubs}{api}.sock"
            stats = asyncio.run(_publish(url, nsubs, args.count, None, api))
            rates = [s["n"] / ((s["last"] - s["first"]) / 1e9) for s in stats]
            print(f"throughput {nsubs:2d} sub(s), {label:40s} {min(rates):>10,.0f} msgs/s per "
                  f"subscriber (slowest), ratio to floor {min(rates) / floor:5.3f}; "
                  f"{sum(rates):>10,.0f} msgs/s in total")
        if not HAS_BATCH:
            print(f"throughput {nsubs:2d} sub(s), batch APIs: not in this checkout")
        n = int(args.rate * args.seconds)
        url = f"pub+tcp://{tmp}/l{nsubs}.sock"
        stats = asyncio.run(_publish(url, nsubs, n, args.rate))
        lat = [x for s in stats for x in s["lat"]]
        print(f"latency    {nsubs:2d} subscriber(s) at {args.rate:,.0f} msgs/s: "
              f"p50 {percentile_us(lat, 0.5):7.1f} us, p99 {percentile_us(lat, 0.99):7.1f} us, "
              f"max {max(lat) / 1e3:8.1f} us")


if __name__ == "__main__":
    main()
