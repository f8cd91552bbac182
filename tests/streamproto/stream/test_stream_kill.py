"""A stream server process killed with SIGKILL 20 times while a client resumes with seq-data."""
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


async def start_server(url: str) -> asyncio.subprocess.Process:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", SERVER, url, env=env,
                                                stdout=asyncio.subprocess.PIPE)
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    assert line.startswith(b"ready"), line
    return proc


def test_sigkill_20_times_every_seq_exactly_once(tmp_path):
    asyncio.run(asyncio.wait_for(_kill_loop(tmp_path), 150))


async def _kill_loop(tmp_path):
    rng = random.Random(5)
    url = server_url(tmp_path, extra=";autoseq=yes")
    got: list[int] = []
    params: dict = {"mode": "seq", "seq": 0}
    for _ in range(20):
        proc = await start_server(url)
        client = StreamClient(client_url(tmp_path), on_event=lambda e: got.append(e.seq) if isinstance(e, StreamData) else None)
        try:
            await client.open(params)
            await asyncio.sleep(rng.uniform(0.05, 0.3))  # history, Online, live data
        finally:
            proc.send_signal(signal.SIGKILL)             # no close, no flush: the process dies
            await proc.wait()
        await until(lambda: client.state == ev.ERROR, 10, "client sees the server gone")
        params = client.reopen_params() if got else {"mode": "seq", "seq": 0}
        await client.close()
    # every seq the client saw, exactly once and in order, with nothing skipped
    assert got == list(range(len(got))) and len(got) > 200
    # and the storage, recovered after each kill, holds each of them unchanged
    with FileReader(tmp_path / "storage.dat") as r:
        stored = [m.seq for m in r]
    assert stored[:len(got)] == got and stored == list(range(len(stored)))
