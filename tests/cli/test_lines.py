"""LineFeed: lines of a descriptor read by a daemon thread, awaited on the loop."""
from __future__ import annotations

import asyncio
import os

from streamproto.cli.lines import TOO_LONG, LineFeed


def _lines(chunks: list[bytes], **kw: int) -> list[object]:
    async def main() -> list[object]:
        r, w = os.pipe()
        feed = LineFeed(r, asyncio.get_running_loop(), **kw)
        for c in chunks:
            os.write(w, c)
        os.close(w)
        out: list[object] = []
        while (line := await asyncio.wait_for(feed.readline(), 10)) is not None:
            out.append(line)
        os.close(r)
        return out
    return asyncio.run(main())


def test_lines_split_across_reads_and_a_last_line_without_newline() -> None:
    assert _lines([b"a\nb", b"c\n\n", b"\xff\xfe\nlast"], chunk=3) == \
        [b"a", b"bc", b"", b"\xff\xfe", b"last"]


def test_overlong_line_is_reported_once_and_skipped() -> None:
    got = _lines([b"ok\n", b"x" * 100 + b"\n", b"next\n", b"y" * 50], chunk=7, max_line=20)
    assert got == [b"ok", TOO_LONG, b"next", TOO_LONG]


def test_stdin_left_open_does_not_keep_the_loop() -> None:
    """readline() pending on an open pipe: the loop ends anyway (the thread is abandoned)."""
    r, w = os.pipe()

    async def main() -> None:
        feed = LineFeed(r, asyncio.get_running_loop())
        os.write(w, b"one\n")
        assert await asyncio.wait_for(feed.readline(), 10) == b"one"
        pending = asyncio.ensure_future(feed.readline())
        await asyncio.sleep(0)
        pending.cancel()
    asyncio.run(main())            # returns: no executor thread to join
    os.close(w)                    # the daemon thread sees EOF and ends
