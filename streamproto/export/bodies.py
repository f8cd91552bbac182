"""Record bodies of a storage file located in bulk: the input of the columnar export.

:func:`file_bodies` yields :class:`Bodies` chunks: one window of the file (block-aligned, about
16 MiB) and, for every record in it, the position and size of its body with its seq and msgid
as numpy arrays. Nothing is built per record.

Uncompressed files are walked by runs: from a record of frame size ``f``, the next records of
the block are guessed at ``p + k*f`` and the guess checked for all of them at once (frame words
and tail bytes); the walk resumes one record at a time only where the guess fails (another
message size, the block's end). Seqs must grow. Anything else the reader would handle in a
special way (a torn or invalid frame, an odd block header, seqs out of order) hands the rest of
the file, from the next seq on, to the public :class:`~streamproto.storage.FileReader`, which
reads it exactly or raises its error. LZ4 files always go through the reader; their bodies are
then joined into one buffer, so decoding stays columnar.
"""
from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from streamproto.errors import StorageError
from streamproto.storage import FileReader
from streamproto.storage.format import HDR, MIN_RECORD, frame_value
from streamproto.storage.reader import read_meta

WINDOW = 16 << 20          # bytes read and walked at once
READER_BATCH = 65536       # records gathered from the reader path per chunk
_U32 = struct.Struct("<I")
_HEAD = HDR + 4            # frame word + msgid + seq before a body


@dataclass
class Bodies:
    """Bodies located in ``buf``: body i is ``buf[pos[i]:pos[i] + size[i]]``.

    numpy arrays: ``buf`` uint8, ``pos``/``size``/``seq`` int64, ``msgid`` int32. ``done`` is
    how many bytes of the file are behind this chunk (for progress).
    """

    buf: Any
    pos: Any
    size: Any
    seq: Any
    msgid: Any
    done: int
    #: (first index, count, position of the first body, stride): bodies ``first..first+count-1``
    #: sit at a constant distance in ``buf``, so a strided view reaches all of them at once
    runs: list

    def __len__(self) -> int:
        return len(self.pos)

    def strided(self, run: tuple[int, int, int, int], width: int) -> Any:
        """A zero-copy view of a run's bodies: ``count`` items of ``V{width}`` (width <= their size)."""
        np = _np()
        _, count, pos, stride = run
        return np.ndarray((count,), dtype=f"V{width}", buffer=self.buf, offset=pos, strides=(stride,))


class _Irregular(Exception):
    """The fast walk stops here; the reader takes over."""


def _np() -> Any:
    import numpy
    return numpy


def _strided(buf: Any, start: int, count: int, stride: int, dtype: str) -> Any:
    """`count` values of `dtype` at `start`, `start + stride`, ... of `buf`, copied out."""
    np = _np()
    return np.ndarray((count,), dtype=dtype, buffer=buf, offset=start, strides=(stride,)).copy()


def _walk_window(data: bytes, buf: Any, base: int, B: int, first: int, version: int
                 ) -> tuple[list, bool]:
    """Frame positions of the records in one block-aligned window.

    `base`: file offset of `data`; `first`: file offset of the first record to consider (the
    metadata end in block 0). Returns ([(position, frame size, count) runs], at_end) where at_end
    means the end of the data was reached inside the window.
    """
    n = len(data)
    runs: list = []
    bs = base
    while bs - base < n:
        rel_bs = bs - base
        be = min(rel_bs + B, n)
        if bs == 0:
            p = first - base
        else:
            if rel_bs + 4 > n:
                return runs, True
            hf = frame_value(_U32.unpack_from(data, rel_bs)[0], version)
            if hf == 0:
                return runs, True
            if hf < 5 or hf > B:
                raise _Irregular(bs)
            p = rel_bs + hf
        while True:
            if rel_bs + B - p < MIN_RECORD:
                break                                     # block tail: the next block decides
            if p + 4 > n:
                return runs, True
            word = _U32.unpack_from(data, p)[0]
            f = frame_value(word, version)
            if f == 0:
                return runs, True
            if f == -1:
                break
            if f < MIN_RECORD or p + f > rel_bs + B:
                raise _Irregular(base + p)
            if p + f > n or data[p + f - 1] < 0x80:
                return runs, True                         # torn tail: the reader stops there too
            k = (be - p) // f
            words = _strided(buf, p, k, f, "<u4")
            ok = (words == word) & (buf[p + f - 1:p + k * f:f] >= 0x80)
            j = k if ok.all() else int(ok.argmin())
            runs.append((p, f, j))
            p += j * f
            if j < k:
                continue                                  # something else follows: look at it
            if p + 4 <= be and rel_bs + B - p >= MIN_RECORD:
                continue
            break
        bs += B
    return runs, False


def _block_first_seq(fd: int, meta: Any, block: int) -> int | None:
    """Seq of the first record of a block (None: none there, or not a plain record)."""
    B = meta.block
    bs = block * B
    head = os.pread(fd, 64, bs + (meta.size if block == 0 else 0))
    if block:
        if len(head) < 4:
            return None
        hf = frame_value(_U32.unpack_from(head)[0], meta.version)
        if hf < 5 or hf > B - MIN_RECORD:
            return None
        head = os.pread(fd, 64, bs + hf)
    if len(head) < _HEAD:
        return None
    f = frame_value(_U32.unpack_from(head)[0], meta.version)
    if f < MIN_RECORD:
        return None
    return struct.unpack_from("<q", head, 8)[0]


def _start_block(fd: int, meta: Any, seq: int | None) -> int:
    """Block to start from so that no record with seq >= `seq` is missed (bisection)."""
    if seq is None:
        return 0
    size = os.fstat(fd).st_size
    lo, hi = 0, -(-size // meta.block)
    if _block_first_seq(fd, meta, 0) is None:
        return 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        s = _block_first_seq(fd, meta, mid)
        if s is None or s > seq:
            hi = mid
        else:
            lo = mid
    return lo


def _chunk(buf: Any, runs: list, done: int) -> Bodies:
    """Bodies of the frame runs found in a window: headers read through strided views."""
    np = _np()
    n = sum(j for _, _, j in runs)
    pos = np.empty(n, dtype=np.int64)
    size = np.empty(n, dtype=np.int64)
    msgid = np.empty(n, dtype=np.int32)
    seq = np.empty(n, dtype=np.int64)
    out_runs = []
    i = 0
    for p, f, j in runs:
        msgid[i:i + j] = _strided(buf, p + 4, j, f, "<i4")
        seq[i:i + j] = _strided(buf, p + 8, j, f, "<i8")
        pos[i:i + j] = np.arange(p + _HEAD, p + _HEAD + j * f, f, dtype=np.int64)
        size[i:i + j] = f - _HEAD - 1
        out_runs.append((i, j, p + _HEAD, f))
        i += j
    return Bodies(buf, pos, size, seq, msgid, done, out_runs)


def file_bodies(path: str, *, scheme: Any = None, seq: int | None = None, last: int | None = None,
                window: int | None = None) -> Iterator[Bodies]:
    """Bodies of one storage file in order (see module docstring).

    ``seq``: a lower bound used to skip blocks (records below it may still be yielded);
    ``last``: stop after the first chunk reaching beyond this seq. ``scheme`` only matters to
    the reader path (it is not used to decode).
    """
    np = _np()
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        raise StorageError(f"cannot open {path}: {e.strerror}") from None
    try:
        meta = read_meta(fd, path)
        if meta.compression:
            yield from reader_bodies(path, seq, last, scheme=scheme)
            return
        B = meta.block
        per = max(1, (window or WINDOW) // B)
        block = _start_block(fd, meta, seq)
        prev: int | None = None
        while True:
            base = block * B
            try:
                data = os.pread(fd, per * B, base)
            except OSError as e:
                raise StorageError(f"{path}: read failed at offset {base}: {e.strerror}") from None
            if not data:
                return
            buf = np.frombuffer(data, dtype=np.uint8)
            try:
                runs, at_end = _walk_window(data, buf, base, B, meta.size, meta.version)
                ch = _chunk(buf, runs, base + len(data))
                s = ch.seq
                if len(s) and ((prev is not None and s[0] <= prev) or (np.diff(s) <= 0).any()):
                    raise _Irregular(base)
            except _Irregular:
                # the reader re-reads from the first seq not yielded yet (or reports the error)
                yield from reader_bodies(path, None if prev is None else prev + 1, last,
                                         scheme=scheme, after=prev)
                return
            if len(ch):
                yield ch
                prev = int(s[-1])
            if at_end or len(data) < per * B or (last is not None and prev is not None and prev > last):
                return
            block += per
    finally:
        os.close(fd)


def reader_bodies(path: str, seq: int | None, last: int | None, *, scheme: Any = None,
                  after: int | None = None) -> Iterator[Bodies]:
    """Bodies read through :class:`FileReader` (LZ4 files, irregular files), joined per chunk.

    ``after``: drop records with seq <= this (already delivered by the fast walk).
    """
    np = _np()
    total = os.path.getsize(path)
    with FileReader(path, scheme=scheme, seq=seq) as r:
        while True:
            batch = r.read(READER_BATCH)
            if after is not None:
                batch = [m for m in batch if m.seq > after]
            if not batch:
                return
            bodies = [m.body for m in batch]
            sizes = np.fromiter((len(b) for b in bodies), dtype=np.int64, count=len(bodies))
            pos = np.zeros(len(bodies), dtype=np.int64)
            if len(bodies) > 1:
                np.cumsum(sizes[:-1], out=pos[1:])
            buf = np.frombuffer(b"".join(bodies) or b"\0", dtype=np.uint8)
            # runs of equal sizes: those bodies follow each other at a distance of their size
            cut = np.flatnonzero(np.diff(sizes)) + 1
            starts = np.concatenate(([0], cut)).tolist()
            ends = np.concatenate((cut, [len(sizes)])).tolist()
            runs = [(a, b - a, int(pos[a]), max(1, int(sizes[a]))) for a, b in zip(starts, ends)]
            yield Bodies(buf, pos, sizes,
                         np.fromiter((m.seq for m in batch), dtype=np.int64, count=len(batch)),
                         np.fromiter((m.msgid for m in batch), dtype=np.int32, count=len(batch)),
                         total if len(batch) < READER_BATCH else 0, runs)
            if last is not None and batch[-1].seq > last:
                return
