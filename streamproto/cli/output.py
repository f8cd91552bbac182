"""Output of the long-running commands (`serve`, `subscribe`) that never blocks the event loop.

Why this exists (issue 8, "concurrent history clients stall"): ``subscribe`` used to write each
event to ``sys.stdout`` synchronously from inside the event loop. When the consumer of its
stdout is slower than the network (a pipe holds 64 KiB: ~529 jsonl lines of a Transaction), the
``write()`` blocks the whole loop: the sockets are no longer read, the server's send buffers
fill, and the ``--timeout`` deadline passes while the process is stuck in ``write()``. When the
reader finally drained the pipe the client found its deadline expired and exited with a prefix
of the stream (the ``concurrent_history.py`` repro reads its clients one after another, so every
client but the first stopped at 529 messages). The server was not at fault.

:class:`ThreadedWriter` moves the blocking ``write()`` to a daemon thread fed by a queue. The
loop only appends bytes to that queue, so network reading goes on while the consumer is slow.
Memory stays bounded: past ``limit`` queued bytes (64 MiB) :meth:`ThreadedWriter.write` either
waits until the thread drained half of it (``overflow="wait"``: back-pressure, for output that is
the data, as ``subscribe``'s) or drops the text and later writes one line saying how much was
dropped (``overflow="drop"``: for a log, as ``serve``'s, so a server never stalls on its log).
:meth:`ThreadedWriter.release` (from a signal handler) ends a back-pressure wait at once.
:meth:`ThreadedWriter.close` writes everything already queued before returning. A reader that
went away (``| head``) ends the output quietly: the rest is discarded, ``broken`` is set and the
``on_broken`` callback runs so the command can stop.

The thread writes with ``os.write`` on the file descriptor, so it holds no Python-level lock while
blocked and the interpreter can exit around it.
"""
from __future__ import annotations

import errno
import os
import threading
from collections import deque
from typing import Callable, TextIO

__all__ = ["ThreadedWriter", "DEFAULT_LIMIT"]

#: Queued bytes past which ``write`` applies back-pressure.
DEFAULT_LIMIT = 64 << 20


class ThreadedWriter:
    """Text written to ``stream`` by a daemon thread (see the module docstring)."""

    def __init__(self, stream: TextIO, limit: int = DEFAULT_LIMIT,
                 on_broken: Callable[[], None] | None = None, overflow: str = "wait") -> None:
        if overflow not in ("wait", "drop"):
            raise ValueError(f"overflow must be 'wait' or 'drop', not {overflow!r}")
        self.stream = stream
        self.limit = limit
        self.on_broken = on_broken
        self.overflow = overflow
        self.dropped = 0                        # bytes dropped (overflow="drop") not yet told
        self.released = False                   # set by release(): no more waiting
        self.encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            stream.flush()                      # what was printed before goes out first
        except (OSError, ValueError):
            pass
        try:
            self.fd: int | None = stream.fileno()
        except (OSError, ValueError, AttributeError):
            self.fd = None                      # e.g. a test's in-memory stream
        self.broken = False
        self.error: OSError | None = None
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._closing = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="streamproto-output",
                                        daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- producer side (the loop)
    def write(self, text: str) -> None:
        """Queue ``text``; returns at once unless more than ``limit`` bytes are waiting."""
        if self.broken or not text:
            return
        data = text.encode(self.encoding, "backslashreplace")
        with self._cond:
            if self.overflow == "drop":
                if self._size + len(data) > self.limit:
                    self.dropped += len(data)
                    return
                if self.dropped:
                    note = (f"[{self.dropped} bytes of output dropped: the reader of this "
                            "stream was too slow]\n").encode()
                    self._chunks.append(note)
                    self._size += len(note)
                    self.dropped = 0
            self._chunks.append(data)
            self._size += len(data)
            self._cond.notify()
            if self._size > self.limit:
                while (self._size > self.limit // 2 and not self.broken and not self.released
                       and self._thread.is_alive()):
                    self._cond.wait(0.1)        # short: release() sets a flag, takes no lock

    def release(self) -> None:
        """Stop applying back-pressure (safe in a signal handler: only sets a flag)."""
        self.released = True

    @property
    def pending(self) -> int:
        """Bytes queued and not yet written."""
        return self._size

    def close(self, timeout: float | None = None) -> bool:
        """Write everything queued, stop the thread; False if ``timeout`` passed first."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ---------------------------------------------------------------- the thread
    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._chunks and not self._closing:
                    cond.wait()
                if not self._chunks:
                    return                      # closing and drained
                data = b"".join(self._chunks)
                self._chunks.clear()
            try:
                self._write_all(data)
            except OSError as e:
                self._fail(e)
                return
            with cond:
                self._size -= len(data)
                cond.notify_all()

    def _write_all(self, data: bytes) -> None:
        if self.fd is None:
            self.stream.write(data.decode(self.encoding, "replace"))
            self.stream.flush()
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:             # someone made the descriptor non-blocking
                import select
                select.select([], [self.fd], [])
                continue
            view = view[n:]

    def _fail(self, e: OSError) -> None:
        with self._cond:
            self.broken = True
            if e.errno not in (errno.EPIPE, errno.ECONNRESET):
                self.error = e
            self._chunks.clear()
            self._size = 0
            self._cond.notify_all()
        if self.fd is not None:                 # later writes (interpreter exit) go nowhere
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.fd)
                os.close(devnull)
            except OSError:
                pass
        if self.on_broken is not None:
            try:
                self.on_broken()
            except Exception:                   # the loop may be gone already
                pass
