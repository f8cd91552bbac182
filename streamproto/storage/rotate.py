"""``rotate+file://DIR/PREFIX``: a set of ``file://`` files read and written as one stream.

``PREFIX.current.dat`` is being written; :meth:`RotateWriter.rotate` renames it to
``PREFIX.{KEY}.dat`` (KEY = first seq, or last with ``filename_key="last"``) and starts a new
empty current file. Readers order files by the seqs inside them (never by name)::

    with RotateWriter("dir/out", block=4096) as w:
        w.post(10, 0, body); w.rotate(); w.post(10, 1, body)
    with RotateReader("dir/out", seq=0) as r:
        for ev in r:        # Data ..., Control('Rotate', 150), Data ...
            ...

The reader emits ``Control("Rotate", 150, 0)`` between files, rescans the directory when it
reaches the end of the data (so a rotation by a writer in another process is followed), and
keeps reading a file it has open after it was renamed. Unlike the reference, files whose seq
ranges overlap are an error naming both files; zero-length, unreadable or foreign files in the
set (``PREFIX.x.dat`` with ``x`` neither a seq nor ``current``) are errors too.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Callable, Iterator

from streamproto.errors import StorageError
from streamproto.events import ROTATE, Control, Data
from streamproto.storage.base import Closeable, follow
from streamproto.storage.cursor import EOF, Lz4Run, RecordRun
from streamproto.storage.reader import FileReader, load_scheme
from streamproto.storage.writer import FileWriter, SeqError, scheme_string

CURRENT = "current"


def split_prefix(path: str | os.PathLike) -> tuple[str, str]:
    """``'dir/out'`` -> (``'dir'``, ``'out'``); the directory is ``.`` when none is given."""
    p = os.fspath(path)
    d, prefix = os.path.split(p)
    if not prefix or prefix.endswith("."):
        raise StorageError(f"invalid rotate prefix {p!r}: empty or ending with '.'")
    return d or ".", prefix


@dataclass
class RotateFile:
    """One file of a rotate set: seq range from its content (None, None when it has no data)."""

    path: str
    first: int | None
    last: int | None
    scheme: str
    ino: int
    current: bool


def _member(name: str, prefix: str) -> str | None:
    """Middle part of ``PREFIX.x.dat`` (the reference's match rule), or None if not in the set."""
    if not name.endswith(".dat"):
        return None
    stem = name[:-4]
    head, dot, mid = stem.rpartition(".")
    if dot and head == prefix:
        return mid
    return "" if stem == prefix else None


_cache: dict[tuple, tuple[int | None, int | None, str]] = {}


def _file_info(path: str, st: os.stat_result, current: bool) -> tuple[int | None, int | None, str]:
    """(first, last, scheme) of a member; closed files never change, so they are cached."""
    key = (st.st_dev, st.st_ino, path, st.st_size, st.st_mtime_ns)
    if not current and key in _cache:
        return _cache[key]
    with FileReader(path) as r:
        info = (*r.bounds(), r.scheme_url)
    if not current:
        if len(_cache) > 4096:
            _cache.clear()
        _cache[key] = info
    return info


def scan(directory: str, prefix: str) -> list[RotateFile]:
    """The files of the set ordered by seq; the current file (if any) last.

    Raises StorageError for unreadable or foreign members, empty closed files, duplicate first
    seqs and overlapping ranges.
    """
    try:
        names = sorted(os.listdir(directory))
    except OSError as e:
        raise StorageError(f"cannot list rotate directory {directory}: {e.strerror}") from None
    files: list[RotateFile] = []
    for name in names:
        mid = _member(name, prefix)
        if mid is None:
            continue
        path = os.path.join(directory, name)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue                                   # renamed while listing
        except OSError as e:
            raise StorageError(f"{path}: cannot read rotate set member: {e.strerror}") from None
        if not os.path.isfile(path):
            continue
        if mid != CURRENT and not mid.lstrip("-").isdigit():
            raise StorageError(f"{path}: foreign file in rotate set {prefix!r} "
                               f"(expected {prefix}.<seq>.dat or {prefix}.current.dat)")
        if st.st_size == 0:
            raise StorageError(f"{path}: zero-length file in rotate set {prefix!r}")
        try:
            first, last, sch = _file_info(path, st, mid == CURRENT)
        except StorageError:
            if not os.path.exists(path):
                continue                               # renamed while scanning
            raise
        if first is None and mid != CURRENT:
            raise StorageError(f"{path}: file in rotate set {prefix!r} holds no data")
        files.append(RotateFile(path, first, last, sch, st.st_ino, mid == CURRENT))
    data = sorted((f for f in files if f.first is not None), key=attrgetter("first"))
    for a, b in zip(data, data[1:]):
        assert b.first is not None and a.last is not None   # files with data have both bounds
        if b.first <= a.last:
            what = "same first seq" if a.first == b.first else "overlapping seq ranges"
            raise StorageError(f"rotate set {prefix!r}: {what}: {a.path} holds {a.first}..{a.last}, "
                               f"{b.path} holds {b.first}..{b.last}")
    cur = [f for f in files if f.current]
    if cur and cur[0].first is not None and data[-1] is not cur[0]:
        raise StorageError(f"rotate set {prefix!r}: {cur[0].path} holds {cur[0].first}..{cur[0].last}, "
                           f"older than {data[-1].path} ({data[-1].first}..{data[-1].last})")
    return data + [f for f in cur if f.first is None]


class RotateReader(Closeable):
    """Reads a rotate set as one stream (see module docstring).

    ``seq``: start at the first message with seq >= this (in the file with the largest first
    seq <= it; before the first file: from the start). ``scheme`` overrides the stored schemes;
    otherwise :meth:`decode` uses the scheme of the file being read.
    """

    def __init__(self, prefix: str | os.PathLike, *, scheme: Any = None, seq: int | None = None,
                 rescan: bool = True):
        self.directory, self.prefix = split_prefix(prefix)
        self.rescan = rescan
        self._stale = False             # rescan at the next end of a file even without rescan
        self._scheme_arg = scheme
        self._scheme = load_scheme(scheme) if scheme is not None else None
        self._child: FileReader | None = None
        self._ino = -1
        self._delivered = False
        self.files = scan(self.directory, self.prefix)
        if not self.files:
            raise StorageError(f"rotate set {os.path.join(self.directory, self.prefix)!r}: no files")
        self.seek(seq)

    # -- info ------------------------------------------------------------------------------
    @property
    def first_seq(self) -> int | None:
        return next((f.first for f in self.files if f.first is not None), None)

    @property
    def last_seq(self) -> int | None:
        self.files = scan(self.directory, self.prefix)
        return max((f.last for f in self.files if f.last is not None), default=None)

    @property
    def scheme(self) -> Any:
        """The given scheme, else the scheme of the file being read."""
        if self._scheme is not None:
            return self._scheme
        return self._child.scheme if self._child is not None else None

    @property
    def path(self) -> str | None:
        """Path of the file being read (its name at open time)."""
        return self._child.path if self._child is not None else None

    # -- positioning -----------------------------------------------------------------------
    def _open(self, f: RotateFile, seq: int | None) -> None:
        if self._child is not None:
            self._child.close()
        self._child = FileReader(f.path, scheme=self._scheme_arg)
        self._ino = os.fstat(self._child._fd).st_ino
        if seq is not None:
            self._child.seek(seq)

    def seek(self, seq: int | None) -> None:
        """Position at the first message with seq >= ``seq`` (None: the very first)."""
        files = self.files
        pick = files[0]
        if seq is not None:
            for f in files:
                if f.first is not None and f.first <= seq:
                    pick = f
        self._open(pick, seq)
        self._delivered = False
        self._last: int | None = None

    def rotated(self) -> None:
        """The set was rotated since the last scan: with ``rescan`` off, look at the directory
        again the next time the end of a file is reached (and only then)."""
        self._stale = True

    # -- reading ---------------------------------------------------------------------------
    def _reading(self) -> FileReader:
        """The file being read: there is one from ``__init__`` until :meth:`close`."""
        child = self._child
        assert child is not None, "RotateReader used after close()"
        return child

    def _find_next(self) -> RotateFile | None:
        """The file to read after the current child, if the set has moved on (rescans)."""
        if self.rescan or self._stale:
            self.files = scan(self.directory, self.prefix)
            self._stale = False
        files = self.files
        idx = next((i for i, f in enumerate(files) if f.ino == self._ino), None)
        if idx is not None:
            return files[idx + 1] if idx + 1 < len(files) else None
        last = self._last                        # our file vanished (replaced): follow by seq
        return next((f for f in files if f.ino != self._ino and
                     (f.first is None or last is None or f.first > last)), None)

    def _drain(self) -> Iterator[Data | Control]:
        for m in self._reading():
            self._delivered = True
            self._last = m.seq
            yield m

    def __iter__(self) -> Iterator[Data | Control]:
        """Data and Rotate events up to the current end of the set's data."""
        while True:
            yield from self._drain()
            nxt = self._find_next()
            if nxt is None:
                return
            # the writer renamed our file after its last write: read what came before that
            yield from self._drain()
            self._open(nxt, None)
            if self._delivered:                  # none before the first message of an open/seek
                yield Control("Rotate", ROTATE, 0)

    def read_runs(self, limit: int) -> list[Data | RecordRun | Lz4Run]:
        """Up to ``limit`` data messages as :meth:`FileReader.read_runs` gives them, from the
        file being read and then the next ones, exactly as iteration walks the set (no
        ``Rotate`` controls: one call returns the messages of one file)."""
        while True:
            child = self._reading()
            out = child.read_runs(limit)
            if not out:
                nxt = self._find_next()
                if nxt is None:
                    return out
                # the writer renamed our file after its last write: read what came before that
                out = child.read_runs(limit)
                if not out:
                    self._open(nxt, None)
                    continue
            self._delivered = True
            last = out[-1]
            self._last = last.last_seq if isinstance(last, (RecordRun, Lz4Run)) else last.seq
            return out

    def follow(self, poll: float = 0.05, timeout: float | None = None,
               stop: Callable[[], bool] | None = None,
               end_of_data: str | None = None) -> Iterator[Data | Control]:
        """Like FileReader.follow, across rotations (other processes included)."""
        return follow(lambda: self, lambda: self._reading()._cursor.status == EOF, poll, timeout,
                      stop, end_of_data)

    def decode(self, msg: Data) -> Any:
        """Decoded view of a message (through :attr:`scheme`)."""
        if self._scheme is not None:
            try:
                return self._scheme.message(msg.msgid).decode(msg.body)
            except Exception as e:
                raise StorageError(f"{self.path}: seq {msg.seq} msgid {msg.msgid}: {e}") from e
        return self._reading().decode(msg)

    def close(self) -> None:
        if self._child is not None:
            self._child.close()
            self._child = None



class RotateWriter(Closeable):
    """Writes a rotate set: posts go to ``PREFIX.current.dat``; :meth:`rotate` closes it.

    Keyword arguments other than ``filename_key``, ``autoseq`` and ``scheme`` go to
    :class:`FileWriter` for new current files. A failed post or rotate leaves the set as it
    was (see :meth:`rotate`); ``first_seq``/``last_seq`` always describe what is stored.
    """

    def __init__(self, prefix: str | os.PathLike, *, filename_key: str = "first",
                 autoseq: bool = False, scheme: Any = None, **file_kwargs: Any):
        self.directory, self.prefix = split_prefix(prefix)
        if filename_key not in ("first", "last"):
            raise StorageError(f"invalid filename-key {filename_key!r} (first or last)")
        if not os.path.isdir(self.directory):
            raise StorageError(f"rotate directory {self.directory} does not exist")
        self.filename_key = filename_key
        self.autoseq = autoseq
        self._kw = file_kwargs
        self._scheme_arg = scheme
        self.current_path = os.path.join(self.directory, f"{self.prefix}.{CURRENT}.dat")
        files = scan(self.directory, self.prefix)
        closed = [f for f in files if not f.current]
        # bounds of the closed files; the current file's writer adds its own
        self._closed_first = closed[0].first if closed else None
        self._closed_last = closed[-1].last if closed else None
        self._w: FileWriter | None = None
        self._closed = False
        cur = next((f for f in files if f.current), None)
        if scheme is not None:
            newest = cur.scheme if cur is not None else (closed[-1].scheme if closed else None)
            if newest is not None and not _same_scheme(newest, scheme):
                if cur is not None and cur.first is not None:
                    self._open_current()
                    self.rotate()
                else:
                    self._open_current(overwrite=True)
        if self._w is None:
            self._open_current()

    def _open_current(self, overwrite: bool = False) -> FileWriter:
        kw = dict(self._kw)
        self._w = FileWriter(self.current_path, scheme=self._scheme_arg, overwrite=overwrite, **kw)
        return self._w

    def _reopen_current(self) -> FileWriter:
        """A current file after a rotate that could not create one (or StorageError)."""
        if self._closed:
            raise StorageError(f"{self.current_path}: writer is closed")
        return self._open_current()

    @property
    def writer(self) -> FileWriter | None:
        """The FileWriter of the current file (None after a failed rotate could not open one)."""
        return self._w

    @property
    def first_seq(self) -> int | None:
        """First seq of the set (None when nothing was stored)."""
        if self._closed_first is not None:
            return self._closed_first
        return self._w.first_seq if self._w is not None else None

    @property
    def last_seq(self) -> int | None:
        """Last seq posted to the set (with a ``buffer``: accepted, see FileWriter)."""
        s = self._w.last_seq if self._w is not None else None
        return s if s is not None else self._closed_last

    def post(self, msgid: int, seq: int, body: bytes | bytearray | memoryview = b"") -> int:
        """Store one message in the current file; returns its seq. Seqs increase across files."""
        last = self.last_seq
        if self.autoseq:
            seq = 0 if last is None else last + 1
        elif last is not None and seq <= last:
            raise SeqError(f"{self.current_path}: seq {seq} is not greater than the last stored "
                           f"seq {last} of the rotate set")
        w = self._w if self._w is not None else self._reopen_current()
        return w.post(msgid, seq, body)

    def flush(self) -> None:
        if self._w is not None:
            self._w.flush()

    def rotate(self) -> str | None:
        """Close the current file as ``PREFIX.{KEY}.dat`` and start a new one; returns its path.

        No-op (returns None) when the current file holds no data. On failure (StorageError) the
        set is as before: buffered records are flushed first (a failed flush drops them, as
        FileWriter does), the rename is undone when the new current file cannot be created, and
        the current file stays open for posting.
        """
        w = self._w if self._w is not None else self._reopen_current()
        if w.first_seq is None:
            return None
        w.flush()
        key = w.first_seq if self.filename_key == "first" else w.last_seq
        dest = os.path.join(self.directory, f"{self.prefix}.{key}.dat")
        if os.path.exists(dest):
            raise StorageError(f"cannot rotate {self.current_path}: {dest} already exists")
        try:
            os.rename(self.current_path, dest)
        except OSError as e:
            raise StorageError(f"cannot rotate {self.current_path} to {dest}: {e.strerror}") from None
        try:
            self._open_current()
        except StorageError as e:
            try:
                os.rename(dest, self.current_path)      # undo: the open file is current again
            except OSError as e2:
                self._w = None                      # the next post creates a current file
                self._retire(w)
                raise StorageError(f"rotated {self.current_path} to {dest} but cannot create a new "
                                   f"current file ({e}) nor undo the rename ({e2.strerror})") from None
            raise StorageError(f"cannot rotate {self.current_path}: {e}") from None
        self._retire(w)
        return dest

    def _retire(self, w: FileWriter) -> None:
        """Close a file of the set and count its seqs as closed ones."""
        try:
            w.close()
        finally:
            if self._closed_first is None:
                self._closed_first = w.first_seq
            if w.last_seq is not None:
                self._closed_last = w.last_seq

    def close(self) -> None:
        self._closed = True
        if self._w is not None:
            w, self._w = self._w, None
            self._retire(w)



def _same_scheme(stored: str, given: Any) -> bool:
    """Whether a stored scheme string and a scheme argument describe the same scheme."""
    if not stored:
        return False
    try:
        a = load_scheme(stored)
        b = load_scheme(given)
        return a.dump("yamls") == b.dump("yamls")
    except Exception:
        return stored == scheme_string(given)
