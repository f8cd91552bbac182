"""pub+tcp benchmark over Unix sockets: one publisher, 1 and 10 subscribers, 26-byte messages.

Publisher in this process, subscribers in a child process (one event loop for all of them).
Prints throughput (messages/s seen by the slowest subscriber) and p50/p99 one-way latency at a
paced rate (body starts with ``time.perf_counter_ns()``, a system-wide monotonic clock).
Targets of the issue: >= 200k msgs/s to one subscriber; p99 < 1 ms at 10k msgs/s.

    python bench/pub.py [--count N] [--rate R] [--seconds S]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
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
assert BODY.size == 26


def _subscriber_main(url: str, nsubs: int, expect: int, conn) -> None:
    async def run() -> None:
        done = asyncio.get_running_loop().create_future()
        stats = []

        for _ in range(nsubs):
            st = {"n": 0, "first": 0, "last": 0, "lat": []}
            stats.append(st)

            def on_event(ev, st=st):
                if type(ev) is Data:
                    now = time.perf_counter_ns()
                    if st["n"] == 0:
                        st["first"] = now
                    st["n"] += 1
                    st["last"] = now
                    st["lat"].append(now - BODY.unpack_from(ev.body)[0])
                    if st["n"] == expect and all(s["n"] >= expect for s in stats) \
                            and not done.done():
                        done.set_result(None)
                elif type(ev) is State and ev.state == "Error" and not done.done():
                    done.set_exception(RuntimeError(ev.reason))

            c = PubClient(url, on_event=on_event)
            await c.open()
            await c.wait_state("Active", timeout=5)
        conn.send("ready")
        try:
            await asyncio.wait_for(done, 120)
        except Exception as e:   # report, do not hang the parent
            conn.send({"error": repr(e), "n": [s["n"] for s in stats]})
            return
        conn.send([{"n": s["n"], "first": s["first"], "last": s["last"], "lat": s["lat"]}
                   for s in stats])

    asyncio.run(run())


async def _publish(url: str, nsubs: int, count: int, rate: float | None) -> list[dict]:
    srv = PubServer(url + ";mode=server;size=64mb", on_event=lambda ev: None)
    await srv.open()
    parent, child = mp.Pipe()
    proc = mp.Process(target=_subscriber_main, args=(url, nsubs, count, child))
    proc.start()
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, parent.recv) == "ready"
    while len(srv.core.subscribers) < nsubs or not all(
            s.active for s in srv.core.subscribers.values()):
        await asyncio.sleep(0.01)
    pack = BODY.pack
    clock = time.perf_counter_ns
    post = srv.post
    if rate is None:
        batch = 256
        for i in range(0, count, batch):
            for seq in range(i, min(i + batch, count)):
                post(10, seq, pack(clock(), seq, 9721, 1))
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=300_000, help="messages in the throughput run")
    ap.add_argument("--rate", type=float, default=10_000, help="paced rate of the latency run")
    ap.add_argument("--seconds", type=float, default=2.0, help="length of the latency run")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="pubbench-")
    print(f"pub+tcp over Unix sockets, 26-byte messages, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f} (other work skews latency)")
    for nsubs in (1, 10):
        url = f"pub+tcp://{tmp}/t{nsubs}.sock"
        stats = asyncio.run(_publish(url, nsubs, args.count, None))
        rates = [s["n"] / ((s["last"] - s["first"]) / 1e9) for s in stats]
        print(f"throughput {nsubs:2d} subscriber(s): {min(rates):>10,.0f} msgs/s per subscriber "
              f"(slowest), {sum(rates):>10,.0f} msgs/s delivered in total")
        n = int(args.rate * args.seconds)
        url = f"pub+tcp://{tmp}/l{nsubs}.sock"
        stats = asyncio.run(_publish(url, nsubs, n, args.rate))
        lat = [x for s in stats for x in s["lat"]]
        print(f"latency    {nsubs:2d} subscriber(s) at {args.rate:,.0f} msgs/s: "
              f"p50 {percentile_us(lat, 0.5):7.1f} us, p99 {percentile_us(lat, 0.99):7.1f} us, "
              f"max {max(lat) / 1e3:8.1f} us")


if __name__ == "__main__":
    main()
