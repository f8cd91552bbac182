"""Input lines (``serve --post-jsonl FILE|-``) read without tying the process to the reader.

The bytes are read by a daemon thread with ``os.read`` on the file descriptor and handed to the
event loop in chunks; :meth:`LineFeed.readline` splits them into lines. Unlike
``loop.run_in_executor(None, f.readline)`` (which ``asyncio.run`` joins at exit, so a server
whose stdin stays open could not stop on SIGTERM), the thread is simply abandoned when the
command ends; ``os.read`` holds no Python lock, so the interpreter exits around it. Unlike a
non-blocking pipe transport it also works for regular files and terminals, and it does not set
``O_NONBLOCK`` on a descriptor shared with the parent shell.

Lines are bytes: the caller decodes each one and reports a bad one by its number. A line longer
than ``max_line`` is returned as :data:`TOO_LONG` (the rest of it is skipped).
"""
from __future__ import annotations

import asyncio
import os
import queue
import threading

__all__ = ["LineFeed", "TOO_LONG"]

#: Returned by :meth:`LineFeed.readline` in place of a line longer than ``max_line``.
TOO_LONG = object()
_EOF = b""


class LineFeed:
    """Lines of the open file descriptor ``fd`` (see the module docstring)."""

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop, *, chunk: int = 1 << 16,
                 max_line: int = 16 << 20, read_ahead: int = 64) -> None:
        self.fd = fd
        self.max_line = max_line
        self._loop = loop
        self._chunk = chunk
        self._q: queue.Queue[bytes | OSError] = queue.Queue(read_ahead)   # bounded read-ahead
        self._ready = asyncio.Event()
        self._buf = bytearray()
        self._eof = False
        self._skipping = False                  # inside an overlong line
        self._thread = threading.Thread(target=self._run, name="streamproto-input", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                data: bytes | OSError = os.read(self.fd, self._chunk)
            except OSError as e:
                data = e
            self._q.put(data)                   # blocks while the loop is behind (bounded)
            try:
                self._loop.call_soon_threadsafe(self._ready.set)
            except RuntimeError:                # the loop is closed: nobody reads any more
                return
            if not isinstance(data, bytes) or not data:
                return

    async def _more(self) -> bool:
        """Append the next chunk to the buffer; False at the end of the input."""
        while True:
            self._ready.clear()
            try:
                data = self._q.get_nowait()
            except queue.Empty:
                await self._ready.wait()
                continue
            if isinstance(data, OSError):
                raise data
            if data == _EOF:
                self._eof = True
                return False
            self._buf += data
            return True

    async def readline(self) -> bytes | object | None:
        """The next line without its newline, :data:`TOO_LONG`, or None at the end."""
        buf = self._buf
        start = 0
        while True:
            i = buf.find(b"\n", start)
            if i >= 0:
                line = bytes(buf[:i])
                del buf[:i + 1]
                if self._skipping:
                    self._skipping = False
                    return TOO_LONG
                return line
            if len(buf) > self.max_line or (self._skipping and buf):
                self._skipping = True
                buf.clear()
            start = len(buf)
            if self._eof or not await self._more():
                if self._skipping:
                    self._skipping = False
                    return TOO_LONG
                if buf:
                    line = bytes(buf)
                    buf.clear()
                    return line
                return None
