"""A stream server process killed with SIGKILL 20 times while a client resumes with seq-data.

Bounded by behaviour, not speed: however slowly the machine runs, the test ends once the client
holds a seq posted after the last kill, and checks that it got every seq exactly once, in order.
"""
from __future__ import annotations

import asyncio
import os
import random
import signal
import sys

from streamproto import events as ev
from streamproto.storage import FileReader
from streamproto.stream.channel import StreamClient, StreamData
from tests.conftest import REPO
from tests.streamproto.netutil import until
from tests.streamproto.stream.stream_net import client_url, server_url

# posts forever (autoseq), one message a millisecond, until it is killed
SERVER = """
import asyncio, sys
from streamproto.stream.channel import StreamServer

async def main(url):
    async with StreamServer(url) as server:
        print("ready", server.last_seq, flush=True)
        i = 0
        while True:
            server.post(10, 0, b"body %d" % i)
            i += 1
            await asyncio.sleep(0.001)

asyncio.run(main(sys.argv[1]))
"""


async def start_server(url: str) -> tuple[asyncio.subprocess.Process, int]:
    """The server process and the last seq its storage recovered (-1 when empty)."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", SERVER, url, env=env,
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    assert line.startswith(b"ready"), line
    return proc, int(line.split()[1])


def test_sigkill_20_times_every_seq_exactly_once(tmp_path):
    asyncio.run(asyncio.wait_for(_kill_loop(tmp_path), 150))


async def _kill_loop(tmp_path):
    rng = random.Random(5)
    url = server_url(tmp_path, extra=";autoseq=yes")
    got: list[int] = []

    def on_event(e):
        if isinstance(e, StreamData):
            got.append(e.seq)

    params: dict = {"mode": "seq", "seq": 0}
    for _ in range(20):
        proc, _last = await start_server(url)
        client = StreamClient(client_url(tmp_path), on_event=on_event)
        try:
            await client.open(params)
            await asyncio.sleep(rng.uniform(0.05, 0.3))  # history, Online, live data
        finally:
            proc.send_signal(signal.SIGKILL)             # no close, no flush: the process dies
            await proc.wait()
        await until(lambda: client.state == ev.ERROR, 10, "client sees the server gone")
        params = client.reopen_params() if got else {"mode": "seq", "seq": 0}
        await client.close()
    # once more, and resume until a seq posted after the last kill arrives: everything stored
    # before it (the whole history of the 20 lives) must have reached the client by then
    proc, recovered = await start_server(url)
    client = StreamClient(client_url(tmp_path), on_event=on_event)
    try:
        await client.open(params)
        await until(lambda: bool(got) and got[-1] > recovered, 30,
                    f"the client to receive a seq above {recovered}, posted after the last kill")
    finally:
        await client.close()
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    # every seq the client saw, exactly once and in order, with nothing skipped
    assert got == list(range(len(got))) and got[-1] > recovered
    # and the storage, recovered after each kill, holds each of them unchanged
    with FileReader(tmp_path / "storage.dat") as r:
        stored = [m.seq for m in r]
    assert stored[:len(got)] == got and stored == list(range(len(stored)))
