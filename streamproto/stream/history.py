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

:class:`SharedHistory` is what the server hands its request sessions: on top of
:class:`StorageHistory` it reads each window of storage once, frames it once in the request
channel's frame format, and gives every request positioned in it :class:`FramedRun` slices
of the same bytes (a Sequence of messages that also exposes the framed bytes). With ``std``
frames (the default) a window is built from the storage reader's runs, not from a ``Data``
per message. Uncompressed storage gives
:class:`~streamproto.storage.cursor.RecordRun` items: a stored record
``[frame u32][msgid i32][seq i64][body][tail]`` becomes the std frame
``[len u32][msgid i32][seq i64][body]`` by cutting the payloads out of the read window with
C loops (``struct`` unpacks of many records at once) and joining them with the length word.
LZ4 storage gives :class:`~streamproto.storage.cursor.Lz4Run` items (decompressed payloads
``[msgid i32][seq delta i64][body]`` back to back): for equal sizes the absolute seqs are
written into a copy of the payloads by strided slices and the copy is cut and joined the
same way; for varying sizes one ``struct`` call unpacks every msgid and body, a ``map`` packs
the headers in their place and one join makes the frames.
"""
from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from collections.abc import Sequence as SequenceABC
from itertools import accumulate, islice
from typing import Any, Callable, Sequence, cast, overload

from streamproto.config import Url
from streamproto.errors import ProtocolError, StorageError
from streamproto.events import Data
from streamproto.frames import FrameFormat
from streamproto.storage.cursor import Lz4Run, RecordRun
from streamproto.storage.reader import FileReader
from streamproto.storage.rotate import RotateReader
from streamproto.storage.openers import open_reader

__all__ = ["StorageHistory", "SharedHistory", "WindowReader", "FramedRun", "WINDOW_MESSAGES",
           "MAX_WINDOWS", "MAX_READERS"]

Message = tuple[int, int, bytes]
#: what the storage reader's read_runs hands out: runs and single records
Item = Data | RecordRun | Lz4Run
_RUNS = (RecordRun, Lz4Run)

_STD_HEADER = struct.Struct("<Iiq")     # std frame: size, msgid, seq (a stored payload behind a size)
_U32 = struct.Struct("<I")

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
        self.src = src
        self.r: FileReader | RotateReader | None = r      # None once closed
        self.gen = src.generation
        if isinstance(r, RotateReader):
            r.rescan = False

    def read(self, limit: int) -> list[Message]:
        """Up to ``limit`` messages, and no more than about :data:`BATCH_BYTES` of bodies."""
        return [(d.msgid, d.seq, d.body) for d in self.read_data(limit)]

    def read_data(self, limit: int) -> list[Data]:
        """:meth:`read` as the storage's Data events (no tuple per message)."""
        r = self.r
        if r is None:
            return []
        if isinstance(r, FileReader):
            out = r.read(min(limit, _FIRST))
            size = sum([len(d.body) for d in out])
            while len(out) < limit and size < BATCH_BYTES and out:
                # size the next read by the average message seen so far
                want = min(limit - len(out), (BATCH_BYTES - size) * len(out) // (size + 1) + 1)
                more = r.read(want)
                if not more:
                    break
                out += more
                if len(out) >= limit:
                    break
                size += sum([len(d.body) for d in more])
            return out
        self._seen_rotations(r)
        return self._read_rotate(r, limit)

    def read_runs(self, limit: int) -> list[Item]:
        """:meth:`read_data` with runs of records as :class:`RecordRun` (uncompressed
        storage) and :class:`Lz4Run` items (see :meth:`FileReader.read_runs`)."""
        r = self.r
        if r is None:
            return []
        if isinstance(r, RotateReader):
            self._seen_rotations(r)
        return self._sized_runs(r.read_runs, limit)

    def _seen_rotations(self, r: RotateReader) -> None:
        """The set moved on since the last read: the reader rescans at the end of its file
        (whenever that comes: a read that stops before it must not use the news up)."""
        if self.gen != self.src.generation:
            self.gen = self.src.generation
            r.rotated()

    @staticmethod
    def _sized_runs(read: Callable[[int], list[Item]], limit: int
                    ) -> list[Item]:
        """Reads of up to ``limit`` messages in all, stopping at about :data:`BATCH_BYTES` of
        bodies (sized as :meth:`read_data` does)."""
        out = read(min(limit, _FIRST))
        got, size = _measure(out)
        while got < limit and size < BATCH_BYTES and out:
            want = min(limit - got, (BATCH_BYTES - size) * got // (size + 1) + 1)
            more = read(want)
            if not more:
                break
            out += more
            n, b = _measure(more)
            got += n
            size += b
        return out

    @staticmethod
    def _read_rotate(r: RotateReader, limit: int) -> list[Data]:
        out: list[Data] = []
        size = 0
        for d in islice(iter(r), limit):
            if isinstance(d, Data):              # data; Rotate controls stay local
                out.append(d)
                size += len(d.body)
                if size >= BATCH_BYTES:
                    break
        return out

    def close(self) -> None:
        if self.r is not None:
            self.r.close()
            self.r = None


def _measure(items: list[Item]) -> tuple[int, int]:
    """(messages, body bytes) of what :meth:`_Reader.read_runs` returned."""
    singles = [x for x in items if isinstance(x, Data)]
    if len(singles) == len(items):
        return len(items), sum([len(x.body) for x in singles])
    runs = [x for x in items if isinstance(x, (RecordRun, Lz4Run))]
    return (len(singles) + sum([x.count for x in runs]),
            sum([len(x.body) for x in singles]) + sum([x.body_bytes for x in runs]))


def _frame_lz4(x: Lz4Run, parts: list[bytes], lens: list[int]) -> None:
    """Append the std frames of an LZ4 run to ``parts`` and their sizes to ``lens`` (no
    Python code per message; seqs always fit: the run checked them)."""
    size = x.size
    if size:                                    # one size: the payloads behind one length word
        hdr = _U32.pack(size - 12)
        parts.append(hdr)
        parts.append(hdr.join(x.payloads()))
        lens += [size + 4] * x.count
        return
    frames = list(x.msgid_body_pairs())         # msgid, body, msgid, body, ...
    sizes = x.body_sizes()
    frames[0::2] = map(_STD_HEADER.pack, sizes, frames[0::2], x.seq_list())   # the headers
    parts.append(b"".join(frames))              # type: ignore[arg-type]  # all bytes now
    lens += map(_STD_HEADER.size.__add__, sizes)


def _frame_std(msgs: list[Data], parts: list[bytes], lens: list[int]) -> None:
    """Append the std frames of ``msgs`` to ``parts`` (one item) and their sizes to ``lens``."""
    pack = _STD_HEADER.pack
    parts.append(b"".join([pack(len(d.body), d.msgid, d.seq) + d.body for d in msgs]))
    h = _STD_HEADER.size
    lens += [h + len(d.body) for d in msgs]


def _first_seq(x: Item) -> int:
    return x.first_seq if isinstance(x, _RUNS) else x.seq


def _last_seq(x: Item) -> int:
    return x.last_seq if isinstance(x, _RUNS) else x.seq


def _before(items: Sequence[Item], seq: int) -> list[Item]:
    """The messages of ``items`` with seqs below ``seq`` (items are in seq order)."""
    out: list[Item] = []
    for x in items:
        if isinstance(x, _RUNS):
            if x.last_seq < seq:
                out.append(x)
                continue
            i = bisect_left(range(x.count), seq, key=x.seq)
            if i:
                out.append(x.part(0, i))
        elif x.seq < seq:
            out.append(x)
            continue
        break
    return out


def _from(items: Sequence[Item], seq: int) -> list[Item]:
    """The messages of ``items`` with seqs ``>= seq`` (items are in seq order)."""
    for k, x in enumerate(items):
        if isinstance(x, _RUNS):
            if x.last_seq < seq:
                continue
            i = bisect_left(range(x.count), seq, key=x.seq)
            return [x.part(i, x.count) if i else x, *items[k + 1:]]
        if x.seq >= seq:
            return list(items[k:])
    return []


# --- shared windows: read and frame each stretch of storage once for every request ----------

#: Messages per shared window (a window also stops at about :data:`BATCH_BYTES` of bodies).
WINDOW_MESSAGES = 4096
#: Windows kept for readers that come later.
MAX_WINDOWS = 32
#: Storage readers kept positioned after the windows they read (least recently kept closed).
MAX_READERS = 32


class _Window:
    """Consecutive stored messages framed back to back: every stored message with
    ``lo <= seq <= hi`` is in it. ``offs[i]`` is where frame ``i`` starts (``offs[n]``: the
    end). Frames that carry msgid and seq (std, short, tiny) are decoded from the bytes when
    needed; for the other frames both are kept in lists."""

    __slots__ = ("lo", "hi", "n", "offs", "data", "view", "seqs", "msgids", "hdr", "hbody",
                 "error")

    def __init__(self, lo: int, n: int, offs: Sequence[int], data: bytes, fmt: FrameFormat,
                 seqs: list[int] | None, msgids: list[int] | None, error: str | None) -> None:
        self.lo, self.n, self.offs = lo, n, offs
        self.data, self.view = data, memoryview(data)
        self.seqs, self.msgids = seqs, msgids
        h = fmt.header          # sms frames (seqs None) have one
        self.hdr = h.unpack_from if seqs is None and h is not None else None
        self.hbody = (fmt.header_size if fmt.header is not None
                      and not fmt.size_includes_header else 0)
        self.error = error      # why the stored message after hi cannot be framed, if so
        self.hi = self.seq(n - 1)

    def seq(self, i: int) -> int:
        if self.seqs is not None:
            return self.seqs[i]
        return self.hdr(self.data, self.offs[i])[2]  # type: ignore[misc]  # hdr is set when seqs is None

    def message(self, i: int) -> Message:
        offs = self.offs
        body = bytes(self.view[offs[i] + self.hbody:offs[i + 1]])
        if self.seqs is not None:
            return self.msgids[i], self.seqs[i], body  # type: ignore[index]  # msgids is set with seqs
        _, msgid, seq = self.hdr(self.data, offs[i])  # type: ignore[misc]  # hdr is set when seqs is None
        return msgid, seq, body

    def index(self, seq: int) -> int:
        """Index of the first message with seq >= ``seq``."""
        if self.seqs is not None:
            return bisect_left(self.seqs, seq)
        return bisect_left(range(self.n), seq, key=self.seq)


class FramedRun(SequenceABC):
    """Messages ``i..j-1`` of a shared window, as a Sequence of ``(msgid, seq, body)`` (decoded
    on access) and as framed bytes: :meth:`frames` is a memoryview slice of the window."""

    __slots__ = ("w", "i", "j")

    def __init__(self, w: _Window, i: int, j: int) -> None:
        self.w, self.i, self.j = w, i, j

    def __len__(self) -> int:
        return self.j - self.i

    @overload
    def __getitem__(self, k: int) -> Message: ...
    @overload
    def __getitem__(self, k: slice) -> Sequence[Message]: ...

    def __getitem__(self, k: int | slice) -> Message | Sequence[Message]:
        if isinstance(k, slice):
            return [self[x] for x in range(*k.indices(len(self)))]
        n = self.j - self.i
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError("FramedRun index out of range")
        return self.w.message(self.i + k)

    def frames(self) -> memoryview:
        """The framed bytes of these messages (a view into the shared window: no copy)."""
        w = self.w
        return w.view[w.offs[self.i]:w.offs[self.j]]


class SharedHistory:
    """A :class:`~streamproto.stream.server.HistorySource` whose readers share storage reads.

    Storage is read and framed (in the request channel's ``frame`` format) once per window of
    up to :data:`WINDOW_MESSAGES` messages; every request reader positioned in a window gets
    :class:`FramedRun` slices of the same bytes, so the server's work per delivered message
    falls with the number of clients replaying the same history (after a restart, say).

    Nobody waits for anybody: a reader that needs a window nobody has (it is ahead, behind
    past the cache, or at the live end of storage) reads it from storage itself, through a
    pooled storage reader left at that seq by an earlier window when there is one, and the
    window is shared from then on. At most :data:`MAX_WINDOWS` windows are kept: when one
    must go, it is one no reader will need (all readers are past it), else the one the
    readers behind it will need last (the farthest ahead of them), so readers that follow a
    faster one keep finding the windows right in front of them. A reader still sending from
    an evicted window keeps only that one alive. At most :data:`MAX_READERS` pooled storage
    readers stay open.
    """

    def __init__(self, history: StorageHistory, frame: FrameFormat, *,
                 window: int = WINDOW_MESSAGES, max_windows: int = MAX_WINDOWS,
                 max_readers: int = MAX_READERS) -> None:
        self.history = history
        self.frame = frame
        self.window = window
        self.max_windows = max(1, max_windows)
        self.max_readers = max(1, max_readers)
        self._windows: list[_Window] = []       # disjoint, sorted by lo
        self._los: list[int] = []
        self._readers: dict[int, _Reader] = {}  # next seq -> storage reader positioned there
        self._positions: set[WindowReader] = set()   # live request readers
        self._packs: dict[int, Any] = {}        # body size -> pack of header + body
        #: std frames are stored payloads behind a length word: windows built from runs
        h = frame.header
        self._runs = h is not None and frame.fields == "sms" and h.format == _STD_HEADER.format
        #: counters: windows built from storage (and the messages framed in them), windows
        #: served from the cache, storage readers opened
        self.stats = {"built": 0, "framed": 0, "hits": 0, "opened": 0}

    @property
    def first_seq(self) -> int:
        return self.history.first_seq

    @property
    def last_seq(self) -> int:
        return self.history.last_seq

    def open_reader(self, seq: int) -> "WindowReader":
        """Reader from the first stored message with seq >= ``seq``; StorageError if the storage
        cannot be opened there (checked now, so the request is answered with Error)."""
        if self._find(seq) is None and seq not in self._readers:
            self._keep_reader(seq, self._open(seq))
        r = WindowReader(self, seq)
        self._positions.add(r)
        return r

    def close(self) -> None:
        """Close the pooled storage readers and forget the windows."""
        for r in self._readers.values():
            r.close()
        self._readers.clear()
        self._windows, self._los = [], []

    @property
    def windows(self) -> list[tuple[int, int]]:
        """``(lo, hi)`` of the cached windows, in seq order."""
        return [(w.lo, w.hi) for w in self._windows]

    @property
    def positions(self) -> list[int]:
        """Next seq of every open request reader, in order."""
        return sorted(r.next_seq for r in self._positions)

    # ------------------------------------------------------------------ windows
    def _find(self, seq: int) -> _Window | None:
        k = bisect_right(self._los, seq) - 1
        if k >= 0:
            w = self._windows[k]
            if seq <= w.hi:
                return w
        return None

    def window_at(self, seq: int) -> _Window | None:
        """The window holding the first stored message with seq >= ``seq`` (read from storage
        when no cached window has it); None when storage has nothing there yet."""
        w = self._find(seq)
        if w is not None:
            self.stats["hits"] += 1
            return w
        r = self._readers.pop(seq, None)
        if r is None:
            r = self._open(seq)
        msgs: Sequence[Item]
        try:
            while True:
                msgs = r.read_runs(self.window) if self._runs else r.read_data(self.window)
                if not msgs or _first_seq(msgs[0]) >= seq:
                    break
                # a reader opened past the end of storage (seek leaves it there) reads what
                # was stored since from the old end: nothing below seq belongs to the window
                msgs = _from(msgs, seq)
                if msgs:
                    break
        except StorageError:
            r.close()
            raise
        if not msgs:
            self._keep_reader(seq, r)
            return None
        k = bisect_right(self._los, seq)
        nxt = self._windows[k] if k < len(self._windows) else None
        if nxt is not None and _last_seq(msgs[-1]) >= nxt.lo:
            # reached a window somebody else read: stop there (windows stay disjoint)
            r.close()
            msgs = _before(msgs, nxt.lo)
            if not msgs:                        # nothing stored in [seq, nxt.lo): same window
                nxt.lo = seq
                self._los[k] = seq
                return nxt
            keep = None
        else:
            keep = r
        try:
            # read_data returns Data only, and _before keeps what it is given
            w = (self._build_runs(seq, msgs) if self._runs
                 else self._build(seq, cast(Sequence[Data], msgs)))
        except StorageError:
            if keep is not None:
                keep.close()
            raise
        if keep is not None:
            if w.error is None:
                self._keep_reader(w.hi + 1, keep)
            else:
                keep.close()
        self._windows.insert(k, w)
        self._los.insert(k, w.lo)
        self.stats["built"] += 1
        self.stats["framed"] += w.n
        if len(self._windows) > self.max_windows:
            self._evict()
        return w

    def _evict(self) -> None:
        """Drop the window the live readers will need last (see the class docstring)."""
        pos = sorted(r.next_seq for r in self._positions)
        best, worst = 0, -1
        for x, w in enumerate(self._windows):
            p = bisect_right(pos, w.hi)         # readers at or behind the end of w
            if not p:
                best = x                        # nobody will read it again
                break
            behind = pos[p - 1]
            dist = w.lo - behind                # <= 0: somebody is reading it now
            if dist > worst:
                best, worst = x, dist
        del self._windows[best], self._los[best]

    def _build(self, lo: int, msgs: Sequence[Data]) -> _Window:
        """Frame ``msgs`` back to back; stop before a message the frame cannot carry."""
        fmt = self.frame
        n = len(msgs)
        h = fmt.header
        if h is not None and fmt.fields == "sms":
            lens = [len(d.body) for d in msgs]
            size = lens[0]
            try:
                if lens.count(size) == n:       # fixed-size messages: one struct call each
                    pack = self._packs.get(size)
                    if pack is None:
                        if len(self._packs) > 64:
                            self._packs.clear()
                        pack = self._packs[size] = struct.Struct(
                            f"{h.format}{size}s").pack
                    data = b"".join([pack(size, d.msgid, d.seq, d.body) for d in msgs])
                    full = fmt.header_size + size
                    offs: Sequence[int] = range(0, (n + 1) * full, full)
                else:
                    pack = h.pack
                    data = b"".join([pack(len(d.body), d.msgid, d.seq) + d.body for d in msgs])
                    offs = list(accumulate([fmt.header_size + x for x in lens], initial=0))
                return _Window(lo, n, offs, data, fmt, None, None, None)
            except struct.error:
                pass                            # some value does not fit: the checked path
        enc = fmt.encode_header
        parts: list[bytes] = []
        error = None
        for d in msgs:
            try:
                parts.append(enc(len(d.body), d.msgid, d.seq) + d.body)
            except ProtocolError as e:
                error = f"seq {d.seq} cannot be sent: {e}"
                break
        if not parts:
            raise StorageError(error or "no message to frame")
        n = len(parts)
        return _Window(lo, n, list(accumulate(map(len, parts), initial=0)), b"".join(parts),
                       fmt, [d.seq for d in msgs[:n]], [d.msgid for d in msgs[:n]], error)

    def _build_runs(self, lo: int, items: Sequence[Item]) -> _Window:
        """A window of std frames from what :meth:`_Reader.read_runs` returned: each run's
        payloads are cut from the read window (or the LZ4 run's decompressed payloads) by C
        loops and joined behind their length word. Every value of a run fits a std header;
        a single LZ4 record whose seq does not (a corrupt delta) is left to :meth:`_build`,
        which reports it."""
        parts: list[bytes] = []
        lens: list[int] = []                    # frame sizes
        single: list[Data] = []                 # records read one by one, not framed yet
        try:
            for x in items:
                if type(x) is Data:
                    single.append(x)
                    continue
                if single:
                    _frame_std(single, parts, lens)
                    single = []
                if isinstance(x, RecordRun):
                    hdr = _U32.pack(x.body_size)
                    parts.append(hdr)
                    parts.append(hdr.join(x.payloads()))
                    lens += [x.size - 1] * x.count
                else:
                    _frame_lz4(cast(Lz4Run, x), parts, lens)
            if single:
                _frame_std(single, parts, lens)
        except struct.error:
            return self._build(lo, [m for x in items
                                    for m in (x.messages() if isinstance(x, _RUNS) else [x])])
        n = len(lens)
        size = lens[0]
        offs: Sequence[int] = (range(0, (n + 1) * size, size) if lens.count(size) == n
                               else list(accumulate(lens, initial=0)))
        return _Window(lo, n, offs, b"".join(parts), self.frame, None, None, None)

    # ------------------------------------------------------------------ storage readers
    def _open(self, seq: int) -> _Reader:
        self.stats["opened"] += 1
        return self.history.open_reader(seq)

    def _keep_reader(self, seq: int, r: _Reader) -> None:
        old = self._readers.pop(seq, None)
        if old is not None and old is not r:
            old.close()
        if self._find(seq) is not None:         # a window already holds what it would read
            r.close()
            return
        self._readers[seq] = r                  # dict order = least recently kept first
        while len(self._readers) > self.max_readers:
            first = next(iter(self._readers))
            self._readers.pop(first).close()


class WindowReader:
    """One request's position in a :class:`SharedHistory` (a HistoryReader): ``read(limit)``
    returns a :class:`FramedRun` of the window holding the next message, or () at the end."""

    __slots__ = ("shared", "next_seq", "w", "i")

    def __init__(self, shared: SharedHistory, seq: int) -> None:
        self.shared = shared
        self.next_seq = seq         # first seq not handed out yet
        self.w: _Window | None = None
        self.i = 0

    def read(self, limit: int) -> Sequence[Message]:
        w = self.w
        if w is None or self.i >= w.n:
            if w is not None and w.error is not None:
                raise StorageError(w.error)
            w = self.w = self.shared.window_at(self.next_seq)
            if w is None:
                return ()
            self.i = w.index(self.next_seq)
        i = self.i
        j = min(i + limit, w.n)
        self.i = j
        self.next_seq = (w.hi if j == w.n else w.seq(j - 1)) + 1
        return FramedRun(w, i, j)

    def close(self) -> None:
        self.w = None
        self.shared._positions.discard(self)
