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
