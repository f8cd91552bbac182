"""The stream server's storage seen as a :class:`~streamproto.stream.server.HistorySource`.

:class:`StorageHistory` wraps the server's storage writer (``file://`` or ``rotate+file://``)
and opens one follow reader per request: :meth:`StorageHistory.open_reader` starts at the first
stored message with ``seq >=`` the requested one, and the reader's ``read(limit)`` returns what
is stored *now* as ``(msgid, seq, body)`` tuples, then keeps following the storage as the
writer (same process, write-through) appends to it. Storage controls (``Rotate`` between the
files of a rotate set) are not forwarded: history carries data messages only.

For a rotate set the reader rescans the directory only after :meth:`StorageHistory.rotated`
was called (the server calls it from ``rotate()``), not on every read at the end of the data.

Deviation (``docs/network-format.md#request-translation``): a request older than the first file of a
rotate set is served from the oldest stored message (as for ``file://``) instead of answering
``Failed to open storage from seq X`` after a server restart.
"""
from __future__ import annotations

from itertools import islice
from typing import Any

from streamproto.config import Url
from streamproto.errors import StorageError
from streamproto.storage.reader import FileReader
from streamproto.storage.rotate import RotateReader
from streamproto.storage.openers import open_reader

__all__ = ["StorageHistory"]

Message = tuple[int, int, bytes]

#: A read stops once this many body bytes were collected (bounds a request connection's
#: memory to its write-buffer high water plus about this, whatever the message size).
BATCH_BYTES = 256 * 1024
_FIRST = 1  # then sized by the average body: a batch never overshoots BATCH_BYTES by more than one message


class StorageHistory:
    """HistorySource over an open storage writer; ``url`` is the storage URL (read side)."""

    def __init__(self, url: Url, writer: Any) -> None:
        self.url = Url(url.proto, url.host, {k: v for k, v in url.params.items()
                                             if k in ("scheme", "file.scheme")})
        self.writer = writer
        self.generation = 0          # bumped on every rotation

    @property
    def first_seq(self) -> int:
        s = self.writer.first_seq
        return -1 if s is None else s

    @property
    def last_seq(self) -> int:
        s = self.writer.last_seq
        return -1 if s is None else s

    def rotated(self) -> None:
        """The writer started a new file: readers at the end of theirs must look again."""
        self.generation += 1

    def open_reader(self, seq: int) -> "_Reader":
        try:
            r = open_reader(self.url, seq=seq)
        except OSError as e:   # open_reader maps the usual ones to StorageError already
            raise StorageError(f"cannot open {self.url}: {e}") from None
        return _Reader(self, r)


class _Reader:
    """Follow reader of one request (``read(limit)`` -> list of (msgid, seq, body))."""

    __slots__ = ("src", "r", "gen")

    def __init__(self, src: StorageHistory, r: FileReader | RotateReader) -> None:
        self.src, self.r = src, r
        self.gen = src.generation
        if isinstance(r, RotateReader):
            r.rescan = False

    def read(self, limit: int) -> list[Message]:
        """Up to ``limit`` messages, and no more than about :data:`BATCH_BYTES` of bodies."""
        r = self.r
        if r is None:
            return []
        if type(r) is FileReader:
            out = [(d.msgid, d.seq, d.body) for d in r.read(min(limit, _FIRST))]
            size = sum(len(m[2]) for m in out)
            while len(out) < limit and size < BATCH_BYTES and out:
                # size the next read by the average message seen so far
                want = min(limit - len(out), (BATCH_BYTES - size) * len(out) // (size + 1) + 1)
                more = r.read(want)
                if not more:
                    break
                out += [(d.msgid, d.seq, d.body) for d in more]
                size += sum(len(d.body) for d in more)
            return out
        if self.gen != self.src.generation:     # rotate set moved on: rescan at the end
            self.gen = self.src.generation
            r.rescan = True
            try:
                return self._read_rotate(limit)
            finally:
                r.rescan = False
        return self._read_rotate(limit)

    def _read_rotate(self, limit: int) -> list[Message]:
        out = []
        size = 0
        for d in islice(iter(self.r), limit):
            if d.kind == 0:                      # data; Rotate controls stay local
                out.append((d.msgid, d.seq, d.body))
                size += len(d.body)
                if size >= BATCH_BYTES:
                    break
        return out

    def close(self) -> None:
        if self.r is not None:
            self.r.close()
            self.r = None
