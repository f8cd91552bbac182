"""Reader of TLL ``file://`` storage files.

Usage::

    with FileReader("data.dat") as r:           # or open_reader("file://data.dat;...")
        r.first_seq, r.last_seq                  # bounds without reading the whole file
        r.seek(1000)                             # block bisection: next message has seq >= 1000
        for msg in r:                            # Data(msgid, seq, body) up to the end of data
            rec = r.decode(msg)                  # tllschema Record via stored or given scheme
        r.read(100)                              # list of what is available now (may be [])
        r.read_runs(100)                         # the same, runs as RecordRun / Lz4Run
        for ev in r.follow(timeout=5):           # keep reading what another process appends
            ...

Iteration stops at the end of the data written so far (a zero or unmarked frame, or a torn
record at the tail: ``r.incomplete`` tells which); iterating again later picks up new records
from the same spot. The reader keeps its file descriptor, so a file renamed while open (rotation)
is still read to its end.

Before picking up again after such a stop, the reader checks that what it already read is still
there: a file cut back below that point, or whose last bytes read were overwritten (truncated and
written again), raises :class:`StorageError` instead of silently going on with whatever now sits
at the old offset (seqs reused, records skipped). One ``fstat`` and one small ``pread`` per resume.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterator

from streamproto.errors import StorageError
from streamproto.events import Control, Data
from streamproto.storage.base import Closeable, MetaView, follow
from streamproto.storage.cursor import EOF, INCOMPLETE, OK, SEQ_MAX, Cursor, Lz4Run, RecordRun
from streamproto.storage.format import META_MAX, FileMeta, StorageFormatError, decode_meta

BATCH = 4096
_TAIL = 256         # bytes before the stop position compared on resume (the last record or so)


def load_scheme(url: Any, path: str | None = None) -> Any:
    """tllschema.Scheme from a URL string or an already loaded Scheme (None stays None)."""
    if url is None or url == "":
        return None
    if not isinstance(url, str):
        return url
    import tllschema
    try:
        return tllschema.load(url)
    except Exception as e:   # tllschema errors, and OS errors for yaml://PATH
        if path is not None:
            raise StorageFormatError(path, 48, f"unreadable embedded scheme: {e}") from e
        raise StorageError(f"cannot load scheme {url[:80]!r}: {e}") from e


def read_meta(fd: int, path: str) -> FileMeta:
    """Read and parse the metadata record of an open file."""
    try:
        head = os.pread(fd, 16, 0)
        if len(head) < 16:
            raise StorageFormatError(path, 0, f"truncated file: {len(head)} bytes, not a TLL data "
                                     f"file" if head else "empty file (0 bytes), not a TLL data file")
        frame = int.from_bytes(head[:4], "little", signed=True)
        data = head + (os.pread(fd, min(max(frame, 16), META_MAX) - 16, 16) if frame > 16 else b"")
    except OSError as e:
        raise StorageError(f"cannot read {path}: {e.strerror}") from None
    return decode_meta(data, path)


class FileReader(MetaView, Closeable):
    """Reads a ``file://`` storage file (see module docstring).

    ``scheme``: URL string or tllschema Scheme overriding the stored one. ``seq``: start at the
    first message with seq >= this. ``mode``: ``seq`` (default), ``last`` (only the last record
    and what follows) or ``end`` (only new data).
    """

    def __init__(self, path: str | os.PathLike, *, scheme: Any = None, seq: int | None = None,
                 mode: str = "seq", window: int = 256 * 1024):
        self.path = os.fspath(path)
        self._fd = -1                   # a reader that failed to open has nothing to close
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except OSError as e:
            raise StorageError(f"cannot open {self.path}: {e.strerror}") from None
        try:
            if os.path.isdir(self.path):
                raise StorageError(f"cannot open {self.path}: is a directory")
            self.meta = read_meta(self._fd, self.path)
            self._window = window
            self._cursor = self._new_cursor(0)
            self._pending: Iterator[Data] = iter(())
            self._scheme_arg = scheme
            self._scheme: Any = None
            self._scheme_loaded = False
            self._end: tuple[Cursor, int, bytes] | None = None   # where the last read stopped
            if mode not in ("seq", "last", "end"):
                raise StorageError(f"invalid open mode {mode!r} (expected seq, last or end)")
            if seq is not None:
                self.seek(seq)
            elif mode == "last":
                last = self.bounds()[1]
                if last is not None:
                    self.seek(last)
            elif mode == "end":
                self.seek_end()
        except BaseException:
            os.close(self._fd)
            self._fd = -1  # or __del__ would close the number again, by then maybe another file's
            raise

    # -- properties ------------------------------------------------------------------------
    @property
    def scheme(self) -> Any:
        """Data scheme (tllschema.Scheme): the given one, else the stored one, else None."""
        if not self._scheme_loaded:
            if self._scheme_arg is not None:
                self._scheme = load_scheme(self._scheme_arg)
            else:
                self._scheme = load_scheme(self.meta.scheme, self.path)
            self._scheme_loaded = True
        return self._scheme

    @property
    def incomplete(self) -> bool:
        """True when the last read stopped at a torn record (frame without its tail)."""
        return self._cursor.status == INCOMPLETE

    @property
    def first_seq(self) -> int | None:
        return self.bounds()[0]

    @property
    def last_seq(self) -> int | None:
        return self.bounds()[1]

    # -- positioning -----------------------------------------------------------------------
    def _new_cursor(self, block: int, window: int | None = None) -> Cursor:
        B = self.meta.block
        pos = block * B if block else self.meta.size
        return Cursor(self._fd, self.path, B, self.meta.version, self.meta.compression == 1,
                      pos, block * B, window or self._window)

    def _nblocks(self) -> int:
        size = os.fstat(self._fd).st_size
        return -(-size // self.meta.block)

    def _block_seq(self, n: int) -> int | None:
        """First seq found from the start of block n (None: nothing there yet)."""
        return self._new_cursor(n, 4096).first_seq()

    def _last_block(self) -> int | None:
        """Index of the last block holding data (bisection; blocks with data form a prefix)."""
        if self._block_seq(0) is None:
            return None
        lo, hi = 0, self._nblocks()
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._block_seq(mid) is None:
                hi = mid
            else:
                lo = mid
        return lo

    def scan_end(self) -> Cursor:
        """A cursor walked from the last non-empty block to the end of the complete records."""
        lb = self._last_block()
        c = self._new_cursor(lb or 0)
        c.read([], 1, SEQ_MAX)
        return c

    def bounds(self) -> tuple[int | None, int | None]:
        """(first seq, last seq) of the complete records now in the file; (None, None) if none."""
        first = self._block_seq(0)
        if first is None:
            return None, None
        c = self.scan_end()
        return first, c.last_seq

    def seek(self, seq: int) -> bool:
        """Position so the next message is the first with ``seq >=`` the given one.

        O(log blocks) block probes plus a scan of one block. Returns False (positioned at the
        end of the data, waiting for more) when no such record exists yet.
        """
        lo, hi = 0, self._nblocks()
        if self._block_seq(0) is not None:
            while hi - lo > 1:
                mid = (lo + hi) // 2
                s = self._block_seq(mid)
                if s is None or s > seq:
                    hi = mid
                elif s == seq:
                    lo = mid
                    break
                else:
                    lo = mid
        c = self._new_cursor(lo)
        out: list = []
        c.read(out, 1, seq)
        self._cursor = c
        self._pending = iter(out)
        return bool(out)

    def seek_end(self) -> None:
        """Position after the last complete record: only new data will be read."""
        self._cursor = self.scan_end()
        self._pending = iter(())

    def rewind(self) -> None:
        """Back to the first record."""
        self._cursor = self._new_cursor(0)
        self._pending = iter(())

    # -- reading ---------------------------------------------------------------------------
    def _stopped(self) -> None:
        """The cursor stopped at the end of the data: remember the bytes just before it."""
        c = self._cursor
        if c.status == OK:
            return
        try:                        # a cursor waiting at a block not written yet is past EOF
            end = min(c.pos, os.fstat(self._fd).st_size)
            n = min(_TAIL, end - self.meta.size)
            tail = os.pread(self._fd, n, end - n) if n > 0 else b""
        except OSError as e:
            raise StorageError(f"{self.path}: read failed: {e.strerror}") from None
        self._end = (c, end, tail)

    def _check_resume(self) -> None:
        """Reading on after a stop: the data already read must still be there (module doc)."""
        end = self._end
        if end is None or end[0] is not self._cursor:
            return
        self._end = None
        c, pos, tail = end
        try:
            size = os.fstat(self._fd).st_size
            same = size >= pos and os.pread(self._fd, len(tail), pos - len(tail)) == tail
        except OSError as e:
            raise StorageError(f"{self.path}: read failed: {e.strerror}") from None
        if same:
            return
        last = "" if c.last_seq is None else f" (up to seq {c.last_seq})"
        if size < pos:
            what = (f"the file was cut back to {size} bytes, below the {pos} bytes already "
                    f"read{last}")
        else:
            what = f"the data already read{last} was overwritten before offset {pos}"
        raise StorageError(f"{self.path}: {what}: the file was truncated or rewritten while "
                           "being read; reopen it to read it again")

    def read(self, limit: int | None = None) -> list[Data]:
        """Messages available now (at most ``limit``), possibly none."""
        out = list(self._pending) if limit is None else []
        if limit is not None:
            for m in self._pending:
                out.append(m)
                if len(out) >= limit:
                    return out
        n = (limit - len(out)) if limit is not None else SEQ_MAX
        if n > 0:
            self._check_resume()
            self._cursor.read(out, n)
            self._stopped()
        return out

    def read_runs(self, limit: int) -> list[Data | RecordRun | Lz4Run]:
        """:meth:`read` of up to ``limit`` messages without building a ``Data`` per record:
        stretches of equal-size records of an uncompressed file come as validated
        :class:`~streamproto.storage.cursor.RecordRun` items (positions in the read window,
        count, first and last seq), stretches of LZ4 records as
        :class:`~streamproto.storage.cursor.Lz4Run` items (their decompressed payloads, any
        sizes), other records as ``Data``. Same messages, order, stops and errors as
        :meth:`read`; the position is shared with it."""
        out: list[Data | RecordRun | Lz4Run] = []
        for m in self._pending:
            out.append(m)
            if len(out) >= limit:
                return out
        n = limit - len(out)
        if n > 0:
            self._check_resume()
            self._cursor.read_runs(out, n)
            self._stopped()
        return out

    def __iter__(self) -> Iterator[Data]:
        """Messages up to the current end of the data."""
        yield from self._pending
        c = self._cursor
        while True:
            self._check_resume()
            batch: list = []
            c.read(batch, BATCH)
            self._stopped()
            if not batch:
                return
            self._pending = it = iter(batch)
            yield from it

    def follow(self, poll: float = 0.05, timeout: float | None = None,
               stop: Callable[[], bool] | None = None,
               end_of_data: str | None = None) -> Iterator[Data | Control]:
        """Messages as they are appended, polling every ``poll`` seconds.

        Ends after ``timeout`` seconds without new data, or when ``stop()`` returns true.
        ``end_of_data``: ``once`` yields ``Control('EndOfData', 20)`` the first time the end
        is reached, ``many`` after every batch; torn tails do not count as an end.
        """
        return follow(lambda: self, lambda: self._cursor.status == EOF, poll, timeout, stop, end_of_data)

    def decode(self, msg: Data) -> Any:
        """Decoded view of a message through the data scheme (tllschema Record)."""
        s = self.scheme
        if s is None:
            raise StorageError(f"{self.path}: no scheme to decode seq {msg.seq} (msgid {msg.msgid})")
        try:
            return s.message(msg.msgid).decode(msg.body)
        except Exception as e:
            raise StorageError(f"{self.path}: seq {msg.seq} msgid {msg.msgid}: {e}") from e

    # -- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

