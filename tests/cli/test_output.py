"""ThreadedWriter: the event loop's output never blocks on a slow reader (bounded) and
everything queued is written at close; a reader that goes away ends the output quietly."""
from __future__ import annotations

import os
import threading
import time

import pytest

from streamproto.cli.output import ThreadedWriter


class _Pipe:
    """A pipe whose write end is a text stream, as sys.stdout would be."""

    def __init__(self) -> None:
        r, w = os.pipe()
        self.r = r
        self.w = os.fdopen(w, "w", encoding="utf-8")

    def read_all(self) -> bytes:
        chunks = []
        while True:
            b = os.read(self.r, 1 << 16)
            if not b:
                return b"".join(chunks)
            chunks.append(b)


def _run_bounded(fn, timeout: float = 10.0) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    t.join(timeout)
    return t


def test_writes_do_not_wait_for_the_reader_and_close_writes_everything() -> None:
    p = _Pipe()
    w = ThreadedWriter(p.w)
    lines = [f"line {i} " + "x" * 100 + "\n" for i in range(20_000)]    # ~2.2 MB >> a pipe
    t = _run_bounded(lambda: [w.write(x) for x in lines])
    assert not t.is_alive(), "write() blocked although nothing reads the pipe"
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(p.read_all()))
    reader.start()
    assert w.close(timeout=30)
    p.w.close()
    reader.join(30)
    assert got[0].decode() == "".join(lines)
    assert not w.broken and w.error is None


def test_back_pressure_past_the_limit() -> None:
    p = _Pipe()
    w = ThreadedWriter(p.w, limit=256 * 1024)
    done = threading.Event()

    def produce() -> None:
        for _ in range(100):
            w.write("y" * 10_000 + "\n")            # 1 MB: pipe (64 KiB) + limit overflow
        done.set()
    t = threading.Thread(target=produce, daemon=True)
    t.start()
    end = time.monotonic() + 10
    while w.pending < 256 * 1024 and time.monotonic() < end:
        time.sleep(0.01)
    assert w.pending >= 256 * 1024 and not done.is_set()    # held back, memory bounded
    data = []
    reader = threading.Thread(target=lambda: data.append(p.read_all()))
    reader.start()
    assert done.wait(30)
    assert w.close(timeout=30)
    p.w.close()
    reader.join(30)
    assert len(data[0]) == 100 * 10_001


def test_reader_gone_sets_broken_and_calls_back() -> None:
    p = _Pipe()
    called = threading.Event()
    w = ThreadedWriter(p.w, on_broken=called.set)
    os.close(p.r)
    w.write("hello\n")
    assert called.wait(10)
    assert w.broken and w.error is None     # EPIPE is not an error to report
    w.write("more\n")                       # ignored, never raises
    assert w.close(timeout=10)


@pytest.mark.parametrize("text", ["plain\n", "unicode ✓ and \udcff surrogate\n"])
def test_stream_without_descriptor(text: str) -> None:
    import io
    buf = io.StringIO()
    w = ThreadedWriter(buf)
    w.write(text)
    assert w.close(timeout=10)
    assert buf.getvalue().startswith(text[:5])


def test_drop_overflow_never_waits_and_says_what_it_dropped() -> None:
    p = _Pipe()
    w = ThreadedWriter(p.w, limit=100_000, overflow="drop")
    t = _run_bounded(lambda: [w.write("z" * 999 + "\n") for _ in range(1000)])   # 1 MB
    assert not t.is_alive(), "a log writer must not wait for its reader"
    assert w.dropped > 0
    data = []
    reader = threading.Thread(target=lambda: data.append(p.read_all()))
    reader.start()
    end = time.monotonic() + 10
    while w.pending and time.monotonic() < end:      # drained by the reader
        time.sleep(0.01)
    w.write("after\n")
    assert w.close(timeout=10)
    p.w.close()
    reader.join(10)
    text = data[0].decode()
    assert "bytes of output dropped: the reader of this stream was too slow]\nafter\n" in text


def test_a_signal_releases_a_back_pressure_wait() -> None:
    """The loop held in write() by a stdout nobody reads still stops on SIGTERM."""
    import asyncio
    import signal

    from streamproto.cli.cmd_net import _stop_on_signals

    p = _Pipe()
    w = ThreadedWriter(p.w, limit=64 * 1024)
    failsafe = threading.Timer(20, p.read_all)       # unblocks a broken test instead of hanging
    failsafe.daemon = True
    failsafe.start()

    async def main() -> bool:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        restore = _stop_on_signals(loop, stop.set, w)
        try:
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
            for _ in range(100):                      # 1 MB: blocks until the signal
                w.write("x" * 10_000 + "\n")
            await asyncio.wait_for(stop.wait(), 10)
            return w.released
        finally:
            restore()
    assert asyncio.run(main())
    assert failsafe.is_alive(), "only the failsafe unblocked write()"
    failsafe.cancel()
    reader = threading.Thread(target=p.read_all, daemon=True)
    reader.start()
    assert w.close(timeout=30)
    p.w.close()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
