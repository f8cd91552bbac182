"""The record walker shared by the file reader, seek, bounds and writer recovery.

A :class:`Cursor` holds a position in a file (``pos``, start of its block ``bs``), a read
window (one ``pread`` of up to ``window`` bytes) and, for LZ4 files, the per-block history and
delta-seq base. :meth:`Cursor.read` appends ``Data`` messages to a list until a limit, the end
of the data (a zero or unmarked frame: ``EOF``) or a torn record (``INCOMPLETE``). Both stops
keep the position so a later call resumes there when the file has grown.

Speed: a fast path per compression runs over the window while records are ordinary (one
``unpack_from`` per frame); anything else (block changes, window ends, errors) goes one record
at a time through the checked ``_step``, which reports it. LZ4 records are decoded a window
at a time (:meth:`Cursor._lz4_decode`): a walk over the frame words (a table lookup per
record, nothing allocated), one ``struct`` call cutting out every compressed record, a bare
``lz4.block.decompress`` loop (positional arguments, each record's dictionary the previous
payload, or the block history for files that refer further back, with an output bound that
grows with the largest payload seen), then payload sizes and seqs checked in bulk; ``read``
builds its ``Data`` from that, short reads go record by record.

Shared history (``read_runs``): the same walks, but a stretch of back-to-back uncompressed
records of one size is handed out as a :class:`RecordRun` (where it lies in the window, how
many, first and last seq) and a stretch of LZ4 records as an :class:`Lz4Run` (the
decompressed payloads in one bytes object, their offsets, first and last seq) instead of a
``Data`` per record. A RecordRun is validated with a fixed number of C-level operations per
column of bytes whatever its length: strided slices of the frame-word bytes and tail bytes,
the seqs gathered by strided copies and checked increasing (one big-integer comparison when
they are consecutive). Records of other sizes and everything unusual go through the same
per-record paths as :meth:`Cursor.read`, so errors are reported the same way at the same
record.

Deviation from the reference reader (``docs/storage-format.md#the-17-byte-rule``): when fewer
than 17 bytes remain in a block, a complete LZ4 record there is still delivered; zeros, a skip
frame or leftovers there mean "continue in the next block", but only once the next block has a
header, so a writer that has not moved on yet is waited for.
"""
from __future__ import annotations

import os
import struct
import sys
from array import array
from dataclasses import fields
from itertools import accumulate, chain, islice, repeat
from operator import lt
from typing import Callable, Iterator, Sequence

import lz4.block

from streamproto.errors import StorageError
from streamproto.events import Data
from streamproto.storage.format import (
    MARKER, MIN_RECORD, StorageFormatError, UFRAME, frame_value,
)

OK, EOF, INCOMPLETE = 0, 1, 2
#: The fast paths build their Data with ``object.__new__`` and the four slot stores: about half
#: the time of calling the dataclass (whose ``__init__`` is a Python call per record).
_new = object.__new__
if [f.name for f in fields(Data)] != ["msgid", "seq", "body", "addr"] or not hasattr(Data, "__slots__"):
    raise ImportError("streamproto.storage.cursor builds events.Data from its slots "
                      "(msgid, seq, body, addr): update _plain_run/_lz4_run to its new fields")
SEQ_MIN = -(1 << 63)
SEQ_MAX = (1 << 63) - 1
HIST_KEEP = 65536
_MSG = struct.Struct("<iq")
_REC0 = struct.Struct("<iiq")   # v0: frame, msgid, seq
_REC1 = struct.Struct("<Iiq")   # v1: frame (with marker), msgid, seq
_SEQ = struct.Struct("<q")


class RecordRun:
    """``count`` stored records of ``size`` bytes each, back to back at ``buf[start:end]`` in
    one block, already validated (frame words, tail bytes, seqs increasing from ``first_seq``
    to ``last_seq``). Record ``i`` is ``[frame u32][msgid i32][seq i64][body][tail]`` at
    ``start + i * size``; its payload (msgid, seq, body) is bytes ``4 .. size - 1`` of it."""

    __slots__ = ("buf", "start", "size", "count", "first_seq", "last_seq")

    def __init__(self, buf: bytes, start: int, size: int, count: int, first_seq: int,
                 last_seq: int) -> None:
        self.buf, self.start, self.size, self.count = buf, start, size, count
        self.first_seq, self.last_seq = first_seq, last_seq

    def __repr__(self) -> str:
        return (f"RecordRun(count={self.count}, size={self.size}, seqs {self.first_seq}.."
                f"{self.last_seq})")

    @property
    def body_size(self) -> int:
        """Body bytes of each record."""
        return self.size - MIN_RECORD

    def seq(self, i: int) -> int:
        """Seq of record ``i``."""
        return _SEQ.unpack_from(self.buf, self.start + i * self.size + 8)[0]

    def part(self, i: int, j: int) -> RecordRun:
        """Records ``i .. j-1`` (0 <= i < j <= count) as a run."""
        return RecordRun(self.buf, self.start + i * self.size, self.size, j - i,
                         self.seq(i) if i else self.first_seq,
                         self.seq(j - 1) if j < self.count else self.last_seq)

    def payloads(self) -> list[bytes]:
        """The ``count`` payloads (msgid i32, seq i64, body) as bytes, cut by C loops."""
        return _payloads(self.buf, self.start, self.size, self.count)

    @property
    def body_bytes(self) -> int:
        """Body bytes of all the records."""
        return self.count * (self.size - MIN_RECORD)

    def messages(self) -> list[Data]:
        """The records as ``Data`` events (what :meth:`Cursor.read` returns for them)."""
        unpack = _MSG.unpack_from
        out = []
        for p in self.payloads():
            msgid, seq = unpack(p)
            out.append(Data(msgid, seq, p[12:]))
        return out

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> Data:
        """Record ``i`` as ``Data`` (negative counts from the end)."""
        i = _index(i, self.count)
        p = self.start + i * self.size
        msgid, seq = _MSG.unpack_from(self.buf, p + 4)
        return Data(msgid, seq, self.buf[p + 16:p + self.size - 1])

    def __iter__(self) -> Iterator[Data]:
        return iter(self.messages())


def _index(i: int, n: int) -> int:
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise IndexError("run index out of range")
    return i


#: struct.Struct unpacking pieces of ``k`` records of one size, by (size, k, head, tail)
_PAYLOAD_STRUCTS: dict[tuple[int, int, int, int], struct.Struct] = {}
_CHUNKS = (256, 32, 4, 1)


def _payloads(buf: bytes | bytearray, start: int, size: int, n: int, head: int = 4,
              tail: int = 1) -> list[bytes]:
    """Bytes ``head .. size - tail - 1`` of each of ``n`` records of ``size`` bytes from
    ``start`` (by default a stored record's payload: after its frame word, before its tail)."""
    out: list[bytes] = []
    ext = out.extend
    pos = start
    for k in _CHUNKS:
        if n < k:
            continue
        st = _PAYLOAD_STRUCTS.get((size, k, head, tail))
        if st is None:
            if len(_PAYLOAD_STRUCTS) >= 256:
                _PAYLOAD_STRUCTS.clear()
            st = _PAYLOAD_STRUCTS[size, k, head, tail] = struct.Struct(
                "<" + f"{head}x{size - head - tail}s{tail}x" * k)
        up = st.unpack_from
        step = k * size
        stop = pos + (n // k) * step
        for p in range(pos, stop, step):
            ext(up(buf, p))
        n -= (stop - pos) // size
        pos = stop
    return out


#: Below this many records of one size the per-record fast path is cheaper than a run.
MIN_RUN = 8
_PROBE = 64         # records validated before the rest of a candidate run is looked at
_ODD = 16           # records taken one by one after a stretch that is not a run, doubling
_ODD_MAX = 1024     # up to this while sizes keep varying
_U64 = 1 << 64
_LANES: dict[int, tuple[int, int]] = {}     # n -> _lanes(n), a few recent ones
_LANES_BASE: list[int] = [0, 0, 0]          # [N, ones, ramp] for the longest n computed


def _lanes(n: int) -> tuple[int, int]:
    """(sum x**i, sum i * x**i) for i < n, x = 2**64: the little-endian int64 lanes 1, 1, ...
    and 0, 1, 2, ... as big integers (the low lanes of the longest ones computed so far)."""
    c = _LANES.get(n)
    if c is None:
        big, ones, ramp = _LANES_BASE
        if big < n:
            big = max(n, 4096)
            xn = 1 << (64 * big)
            ones = (xn - 1) // (_U64 - 1)
            ramp = (_U64 - big * xn + (big - 1) * xn * _U64) // ((_U64 - 1) ** 2)
            _LANES_BASE[:] = big, ones, ramp
        mask = (1 << (64 * n)) - 1
        c = ones & mask, ramp & mask
        if len(_LANES) >= 16:
            _LANES.clear()
        _LANES[n] = c
    return c


def _increasing(seqs: bytearray, n: int) -> int:
    """How many of the ``n`` little-endian int64 seqs in ``seqs`` increase strictly from the
    first (the length of the increasing prefix)."""
    first = int.from_bytes(seqs[:8], "little", signed=True)
    u0 = first % _U64
    if u0 + n <= _U64:                      # consecutive seqs: one comparison of big integers
        ones, ramp = _lanes(n)
        if (u0 * ones + ramp).to_bytes(8 * n, "little") == seqs:
            return n
    a = array("q")
    a.frombytes(seqs)
    if sys.byteorder != "little":
        a.byteswap()
    s = a.tolist()
    if all(map(lt, s, islice(s, 1, None))):
        return n
    return next(i for i in range(1, n) if s[i] <= s[i - 1])


def _same_records(buf: bytes, off: int, size: int, n: int, word: bytes) -> int:
    """How many of the ``n`` records of ``size`` bytes from ``off`` in ``buf``, counted from the
    first, have frame word ``word`` and tail byte 0x80 (strided slices, one per byte column)."""
    good = n - len(buf[off + size - 1:off + n * size:size].lstrip(b"\x80"))
    for t in range(4):
        if not good:
            break
        good -= len(buf[off + t:off + good * size:size].lstrip(word[t:t + 1]))
    return good



# --- LZ4 runs -------------------------------------------------------------------------------

class FormatPieces(dict):
    """struct format pieces by size (``pieces[size]``), made by ``make(size)`` on first use
    (a few thousand kept); see :func:`pieces_struct`."""

    def __init__(self, make: Callable[[int], str]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, size: int) -> str:
        if len(self) >= 4096:
            self.clear()
        piece = self[size] = self.make(size)
        return piece


#: an LZ4 record of ``f`` bytes (its frame word): the compressed bytes and the tail byte
_LZ4_RECORD = FormatPieces(lambda f: f"4x{f - 5}sB")
#: an LZ4 payload of ``size`` bytes from its seq field on, and the next one's msgid: the seq
#: field (a struct over payloads back to back starts with "4x": the first msgid)
_SEQ_FIELD = FormatPieces(lambda size: f"q{size - 8}x")
#: an LZ4 payload of ``size`` bytes: msgid and body
_MSGID_BODY = FormatPieces(lambda size: f"i8x{size - 12}s")
_ONE = (1).to_bytes(8, "little")        # a seq field (delta) of 1


def pieces_struct(pieces: Callable[[int], str], sizes: Sequence[int]) -> struct.Struct:
    """One little-endian struct.Struct of the format pieces of all ``sizes``, in order (the
    pieces come from a dict indexed by size: one C-level pass, no Python code per size)."""
    return struct.Struct("<" + "".join(map(pieces, sizes)))


def seq_bytes(first: int, n: int, seqs: Sequence[int] | None) -> bytes:
    """``n`` little-endian int64 seqs as bytes: ``first, first + 1, ...`` (``seqs`` None) or
    ``seqs``; all must fit in int64."""
    if seqs is None:
        u0 = first % _U64
        if u0 + n <= _U64:                  # no carry between lanes: one big-integer product
            ones, ramp = _lanes(n)
            return (u0 * ones + ramp).to_bytes(8 * n, "little")
        seqs = range(first, first + n)
    a = array("q", seqs)
    if sys.byteorder != "little":
        a.byteswap()
    return a.tobytes()


class Lz4Run:
    """``count`` LZ4 records of one block, decompressed and validated (frame words, tail
    bytes, payload sizes, seqs increasing from ``first_seq`` to ``last_seq``, all in int64).

    ``buf[start:]`` holds the records' payloads back to back (the block's decompressed stream
    over them), ``[msgid i32][seq field i64][body]`` each: ``size`` bytes each, or (``size``
    0) ``sizes[i]`` bytes for record ``i``; :attr:`offs` says where each one starts. The
    stored seq field is a delta from the previous record (absolute at a block start) and is
    not read from here: the seq of record ``i`` is :meth:`seq` ``(i)``, ``first_seq + i`` when
    ``seqs`` is None (consecutive), else ``seqs[i]``. Messages are built only on access
    (indexing, iteration, :meth:`messages`)."""

    __slots__ = ("buf", "start", "size", "sizes", "count", "first_seq", "last_seq", "seqs",
                 "_offs")

    def __init__(self, buf: bytes, start: int, size: int, sizes: list[int] | None, count: int,
                 first_seq: int, last_seq: int, seqs: Sequence[int] | None) -> None:
        self.buf, self.start, self.size, self.sizes = buf, start, size, sizes
        self.count, self.first_seq, self.last_seq, self.seqs = count, first_seq, last_seq, seqs
        self._offs: Sequence[int] | None = None

    def __repr__(self) -> str:
        return (f"Lz4Run(count={self.count}, size={self.size or 'varying'}, seqs "
                f"{self.first_seq}..{self.last_seq})")

    @property
    def offs(self) -> Sequence[int]:
        """Where each payload starts in ``buf`` (``count + 1`` items: the last is the end)."""
        o = self._offs
        if o is None:
            size, n = self.size, self.count
            if size:
                o = range(self.start, self.start + (n + 1) * size, size)
            else:
                o = list(accumulate(self.sizes or (), initial=self.start))
            self._offs = o
        return o

    @property
    def body_bytes(self) -> int:
        """Body bytes of all the records."""
        n = self.count
        return (self.size * n if self.size else sum(self.sizes or ())) - 12 * n

    def body_sizes(self) -> list[int]:
        """Body size of each record."""
        if self.size:
            return [self.size - 12] * self.count
        return list(map((-12).__add__, self.sizes or ()))

    def seq(self, i: int) -> int:
        """Seq of record ``i``."""
        return self.first_seq + i if self.seqs is None else self.seqs[i]

    def seq_list(self) -> Sequence[int]:
        """The seqs of the records, in order."""
        if self.seqs is None:
            return range(self.first_seq, self.first_seq + self.count)
        return self.seqs

    def part(self, i: int, j: int) -> Lz4Run:
        """Records ``i .. j-1`` (0 <= i < j <= count) as a run."""
        seqs, sizes = self.seqs, self.sizes
        return Lz4Run(self.buf, self.offs[i], self.size, None if sizes is None else sizes[i:j],
                      j - i, self.seq(i), self.seq(j - 1), None if seqs is None else seqs[i:j])

    def msgid_body_pairs(self) -> tuple[int | bytes, ...]:
        """``(msgid, body, msgid, body, ...)`` of the records (varying sizes: one ``struct``
        unpack)."""
        if self.size:
            ids, bodies = self.msgids_bodies()
            pairs: list[int | bytes] = [0] * (2 * self.count)
            pairs[0::2] = ids
            pairs[1::2] = bodies
            return tuple(pairs)
        return pieces_struct(_MSGID_BODY.__getitem__, self.sizes or ()).unpack_from(self.buf,
                                                                                 self.start)

    def msgids_bodies(self) -> tuple[list[int], list[bytes]]:
        """(msgids, bodies) of the records, cut out by a few C-level calls."""
        buf, n, o0, size = self.buf, self.count, self.start, self.size
        if size:
            ids = bytearray(4 * n)
            for t in range(4):
                ids[t::4] = buf[o0 + t:o0 + n * size:size]
            a = array("i")
            a.frombytes(ids)
            if sys.byteorder != "little":
                a.byteswap()
            return a.tolist(), _payloads(buf, o0, size, n, 12, 0)
        pairs = self.msgid_body_pairs()
        return list(pairs[0::2]), list(pairs[1::2])  # type: ignore[arg-type]  # by position

    def payloads(self) -> list[bytes]:
        """The payloads with absolute seqs, ``[msgid i32][seq i64][body]`` (what an
        uncompressed record holds between its frame word and its tail)."""
        buf, n, o0, size = self.buf, self.count, self.start, self.size
        if size:
            region = bytearray(buf[o0:o0 + n * size])
            sb = seq_bytes(self.first_seq, n, self.seqs)
            for t in range(8):
                region[4 + t::size] = sb[t::8]
            return _payloads(region, 0, size, n, 0, 0)
        ids, bodies = self.msgids_bodies()
        pack = _MSG.pack
        return [pack(m, s) + b for m, s, b in zip(ids, self.seq_list(), bodies)]

    def messages(self) -> list[Data]:
        """The records as ``Data`` events (what :meth:`Cursor.read` returns for them)."""
        ids, bodies = self.msgids_bodies()
        out: list[Data] = []
        ap, new, D = out.append, _new, Data
        for m, s, b in zip(ids, self.seq_list(), bodies):
            o = new(D)                              # Data(m, s, b), see _new
            o.msgid = m
            o.seq = s
            o.body = b
            o.addr = None
            ap(o)
        return out

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> Data:
        """Record ``i`` as ``Data`` (negative counts from the end)."""
        i = _index(i, self.count)
        o = self.offs
        p = o[i]
        return Data(_MSG.unpack_from(self.buf, p)[0], self.seq(i), self.buf[p + 12:o[i + 1]])

    def __iter__(self) -> Iterator[Data]:
        return iter(self.messages())


class Cursor:
    """Walks the records of one open file descriptor (see module docstring)."""

    __slots__ = ("fd", "path", "B", "version", "lz4", "pos", "bs", "buf", "base", "window",
                 "hist", "delta", "status", "last_seq", "ulen", "usize", "fresh", "words",
                 "wbuf", "deep")

    def __init__(self, fd: int, path: str, block: int, version: int, lz4: bool,
                 pos: int, bs: int, window: int = 256 * 1024):
        self.fd, self.path, self.B, self.version, self.lz4 = fd, path, block, version, lz4
        self.pos, self.bs = pos, bs
        self.buf, self.base = b"", pos
        self.fresh = False              # buf was read from the file during this read call
        self.window = window
        self.hist = bytearray()
        self.delta = 0
        self.status = OK
        self.last_seq: int | None = None
        self.ulen = 0                   # LZ4: payload size of the last record read
        self.usize = min(block, 512)    # LZ4: output bound of the fast path (grows)
        self.words: tuple[memoryview, ...] = ()     # LZ4 runs: u32 views of wbuf (see _words)
        self.wbuf = b""
        self.deep = False               # LZ4: records refer back past the previous payload

    # -- byte access -----------------------------------------------------------------------
    def _get(self, pos: int, n: int) -> bytes:
        """Bytes [pos, pos+n) from the window, re-reading the file if needed (short at EOF)."""
        off = pos - self.base
        if off < 0 or off + n > len(self.buf):
            try:
                self.buf = os.pread(self.fd, max(self.window, n), pos)
            except OSError as e:
                raise StorageError(f"{self.path}: read at offset {pos} failed: {e.strerror}") from None
            self.base, off = pos, 0
            self.fresh = True
        return self.buf[off:off + n]

    def _frame(self, pos: int) -> int | None:
        """Frame value at pos (see format.frame_value); None when fewer than 4 bytes exist."""
        w = self._get(pos, 4)
        if len(w) < 4:
            return None
        return frame_value(UFRAME.unpack(w)[0], self.version)

    def _stop(self, status: int) -> int:
        self.status = status
        self.buf = b""          # stale after EOF: re-read on the next attempt
        self.words, self.wbuf = (), b""
        return -1

    def _span(self, head: int) -> tuple[int, int, int]:
        """Where a fast path stands in the window: the position's offset in it, the last
        offset a record may start at (its first ``head`` bytes in the window, a whole minimal
        record in the block) and where records must end (the block's or the window's end)."""
        base, n = self.base, len(self.buf)
        bend = self.bs + self.B - base
        return self.pos - base, min(bend - MIN_RECORD, n - head), min(bend, n)

    # -- reading ---------------------------------------------------------------------------
    def read(self, out: list, limit: int, min_seq: int = SEQ_MIN) -> int:
        """Append up to ``limit`` messages with ``seq >= min_seq`` to ``out``; returns the count.

        Records below ``min_seq`` are walked over without building them (seek). ``status`` is
        EOF or INCOMPLETE after a stop, OK when the limit was reached. A stop is decided on
        bytes read from the file during the call: what was written before the call is read.
        """
        k = limit
        self.status = OK
        self.fresh = False
        run = self._lz4_run if self.lz4 else self._plain_run
        while k > 0:
            if self.pos != self.bs or not self.bs:  # inside a started block: the fast path
                k -= run(out, k, min_seq)
                if k <= 0:
                    break
            r = self._step(out, min_seq)  # block changes, window refills, anything unusual
            if r < 0 and not self.fresh:
                # the end (or a torn record) was seen in a window read by an earlier call:
                # the writer may have written there since (io=mmap files are longer than
                # their data, so the window holds zeros past it); look at the file again
                r = self._step(out, min_seq)
            if r < 0:
                break
            k -= r
        return limit - k

    def read_runs(self, out: list, limit: int) -> int:
        """:meth:`read` for the shared history: appends up to ``limit`` messages to ``out``,
        runs of equal-size records of an uncompressed file as :class:`RecordRun` items, runs
        of LZ4 records as :class:`Lz4Run` items, and the others as ``Data``; returns the count
        of messages. Stops, errors and the position reached are those of :meth:`read`."""
        k = limit
        self.status = OK
        self.fresh = False
        odd = _ODD
        runs, single = ((self._lz4_runs, self._lz4_run) if self.lz4
                        else (self._plain_runs, self._plain_run))
        while k > 0:
            if self.pos != self.bs or not self.bs:  # inside a started block: the fast paths
                got = runs(out, k)
                if got:
                    odd = _ODD
                else:                               # unusual records: one by one for a while
                    got = single(out, min(k, odd), SEQ_MIN)
                    odd = min(2 * odd, _ODD_MAX)
                if got:
                    k -= got
                    continue
            r = self._step(out, SEQ_MIN)  # block changes, window refills, anything unusual
            if r < 0 and not self.fresh:
                r = self._step(out, SEQ_MIN)    # see the note in read
            if r < 0:
                break
            k -= r
        return limit - k

    def _plain_runs(self, out: list, k: int) -> int:
        """Up to ``k`` records of the size of the next one, as one :class:`RecordRun`, while
        they are ordinary (as `_plain_run` sees it) and in the window; 0 when fewer than
        :data:`MIN_RUN` are."""
        buf, base = self.buf, self.base
        off = self.pos - base
        lim = min(self.bs + self.B - base, len(buf))   # records must end by here
        if off < 0 or off + 4 > lim:
            return 0
        word = buf[off:off + 4]
        size = int.from_bytes(word, "little") ^ (MARKER if self.version >= 1 else 0)
        if size < MIN_RECORD:
            return 0
        n = min(k, (lim - off) // size)
        if n < MIN_RUN or buf[off + size:off + size + 4] != word:
            return 0
        m = min(n, _PROBE)
        good = _same_records(buf, off, size, m, word)
        if good == m and n > m:
            good += _same_records(buf, off + m * size, size, n - m, word)
        if good < MIN_RUN:
            return 0
        end = off + good * size
        seqs = bytearray(8 * good)
        for t in range(8):
            seqs[t::8] = buf[off + 8 + t:end:size]
        first = int.from_bytes(seqs[:8], "little", signed=True)
        if self.last_seq is not None and first <= self.last_seq:
            return 0                                   # the checked path reports it
        good = _increasing(seqs, good)
        if good < MIN_RUN:
            return 0
        last = int.from_bytes(seqs[8 * good - 8:8 * good], "little", signed=True)
        out.append(RecordRun(buf, off, size, good, first, last))
        self.pos = base + off + good * size
        self.last_seq = last
        return good

    def _plain_run(self, out: list, k: int, min_seq: int) -> int:
        """Fast path over the uncompressed records of the current block held in the window.

        Stops (leaving the record to the checked `_step`) at anything unusual: the block's last
        16 bytes, the window's end, a torn or invalid frame, a seq out of order.
        """
        if min_seq > SEQ_MIN:
            return self._plain_seek_run(out, k, min_seq)
        buf, base = self.buf, self.base
        off, top, lim = self._span(16)
        if off < 0 or off > top:
            return 0
        mask = MARKER if self.version >= 1 else 0      # v1: unmarked frames become huge
        uf, ap, new, D = _REC1.unpack_from, out.append, _new, Data
        last = self.last_seq if self.last_seq is not None else SEQ_MIN - 1
        n0 = len(out)
        for _ in repeat(None, k):
            f, m, seq = uf(buf, off)
            f ^= mask
            e = off + f
            if f < 17 or e > lim or buf[e - 1] < 128 or seq <= last:
                break                                  # the checked path reports it
            o = new(D)                                 # Data(m, seq, body), see _new
            o.msgid = m
            o.seq = seq
            o.body = buf[off + 16:e - 1]
            o.addr = None
            ap(o)
            last = seq
            off = e
            if off > top:
                break
        got = len(out) - n0
        if got:
            self.pos = base + off
            self.last_seq = last
        return got

    def _plain_seek_run(self, out: list, k: int, min_seq: int) -> int:
        """`_plain_run` for a seek: records below ``min_seq`` are walked over, not built."""
        ap, D = out.append, Data
        v1 = self.version >= 1
        uf = (_REC1 if v1 else _REC0).unpack_from
        buf, base = self.buf, self.base
        off = self.pos - base
        n = len(buf)
        bend = self.bs + self.B - base
        last = self.last_seq
        got = 0
        while got < k and off + 17 <= bend and 0 <= off and off + 16 <= n:
            f, m, s = uf(buf, off)
            if v1:
                if f < MARKER:
                    break
                f -= MARKER
            if f < 17:
                break
            e = off + f
            if e > n or e > bend or buf[e - 1] < 128 or (last is not None and s <= last):
                break  # the checked path reports what is wrong
            if s >= min_seq:
                ap(D(m, s, buf[off + 16:e - 1]))
                got += 1
            off = e
            last = s
        self.pos = base + off
        self.last_seq = last
        return got

    def _lz4_run(self, out: list, k: int, min_seq: int) -> int:
        """Fast path over the LZ4 records of the current block held in the window: ``Data``
        built from a :meth:`_lz4_decode` of the window (``k >= MIN_RUN``), else (and when
        that finds nothing) :meth:`_lz4_records`."""
        if min_seq > SEQ_MIN:
            return self._lz4_seek_run(out, k, min_seq)
        if k >= MIN_RUN:
            run = self._lz4_decode(k)
            if run is not None:
                out += run.messages()
                return run.count
        return self._lz4_records(out, k)

    def _lz4_runs(self, out: list, k: int) -> int:
        """:meth:`_lz4_decode` for :meth:`read_runs`: the run goes to ``out`` as it is."""
        run = self._lz4_decode(k) if k >= MIN_RUN else None
        if run is None:
            return 0
        out.append(run)
        return run.count

    def _words(self) -> tuple[memoryview, ...]:
        """The window's u32 words at every byte offset, as four zero-copy views of it, one
        per alignment: the word at offset ``o`` is ``words[o & 3][o >> 2]`` (small values
        come from the small-int cache, no allocation). Empty on big-endian machines."""
        buf = self.buf
        if self.wbuf is not buf:
            if sys.byteorder != "little":
                return ()
            mv = memoryview(buf)
            n = len(buf)
            self.words = tuple(mv[a:a + max(0, n - a) // 4 * 4].cast("I") for a in range(4))
            self.wbuf = buf
        return self.words

    def _lz4_decode(self, k: int) -> Lz4Run | None:
        """Up to ``k`` LZ4 records of the current block held in the window, decoded as one
        :class:`Lz4Run`; None when the next record is not an ordinary one (left to the
        per-record paths, which report it exactly as :meth:`read` always has).

        The loop per record is a frame-word walk (one table lookup, no allocation); then, in
        bulk, one ``struct`` call cuts every compressed record and tail byte out of the window,
        and a bare loop decompresses them, each with the previous payload as its dictionary
        (our writer's, and the common case: an LZ4 safe decoder rejects any reference reaching
        before the dictionary it is given, so a record that needs more fails instead of
        decoding wrongly, and is tried again with the block's whole history; the cursor then
        keeps doing so). Payload sizes and seq fields are checked afterwards with a fixed
        number of C-level calls (strided slices when the sizes are equal, one ``struct``
        otherwise); the run ends before the first record that fails any check, as the
        per-record path would, and the history and position move past the records in it.
        """
        words = self._words()
        buf, base = self.buf, self.base
        # records start and end by ``top`` (the last one of a block or window is left to the
        # per-record path): the frame word after each one is in the window
        start, top, _ = self._span(4)
        off = start
        if not words or off < 0 or off > top:
            return None
        fs: list[int] = []
        ap = fs.append
        if self.version >= 1:
            for _ in repeat(None, k):
                f = words[off & 3][off >> 2] ^ MARKER  # unmarked frames become huge
                e = off + f
                if f < 6 or e > top:
                    break
                ap(f)
                off = e
        else:
            for _ in repeat(None, k):
                f = words[off & 3][off >> 2]
                e = off + f
                if f < 6 or e > top:
                    break
                ap(f)
                off = e
        if not fs:
            return None
        vals = pieces_struct(_LZ4_RECORD.__getitem__, fs).unpack_from(buf, start)
        comp = vals[0::2]
        tails = vals[1::2]
        if min(tails) < 0x80:                          # a torn or corrupt record: stop there
            comp = comp[:next(i for i, t in enumerate(tails) if t < 0x80)]
        us = self._lz4_payloads(comp)
        n = len(us)
        if not n:
            return None
        data = b"".join(us)
        lens = list(map(len, us))
        size = lens[0]
        sizes: list[int] | None = None                 # payload sizes, when they vary
        ds: list[int] | tuple[int, ...] | None = None  # seq fields, when not consecutive
        if lens.count(size) == n:                      # one payload size: strided slices
            if size < 12:
                return None
            fields = bytearray(8 * n)
            for t in range(8):
                fields[t::8] = data[4 + t::size]
            if fields[8:] != _ONE * (n - 1):           # not consecutive seqs (one memcmp)
                a = array("q")
                a.frombytes(fields)
                if sys.byteorder != "little":
                    a.byteswap()
                ds = a.tolist()
            d0 = int.from_bytes(fields[:8], "little", signed=True)
        else:
            sizes = lens
            if min(sizes) < 12:                        # too short for a header: stop there
                n = next(i for i, x in enumerate(sizes) if x < 12)
                if not n:
                    return None
                del sizes[n:]
            size = 0
            ds = struct.Struct("<4x" + "".join(map(_SEQ_FIELD.__getitem__, sizes))).unpack_from(
                data + b"\0\0\0\0")
            d0 = ds[0]
            if ds.count(1) - (d0 == 1) == n - 1:       # consecutive seqs
                ds = None
        first = d0 + self.delta
        if (self.last_seq is not None and first <= self.last_seq) or first < SEQ_MIN:
            return None
        seqs: list[int] | None = None
        if ds is None:
            last = first + n - 1
        else:
            if min(ds[1:n]) < 1:                       # a seq that does not increase: stop there
                n = next(i for i in range(1, n) if ds[i] < 1)
            seqs = list(accumulate(islice(ds, 1, n), initial=first))
            last = seqs[-1]
        if last > SEQ_MAX:                             # seqs past int64: the per-record path
            return None
        h = self.hist
        if sizes is None:
            end = n * size
            self.ulen = size
        else:
            if n < len(sizes):
                del sizes[n:]
            end = sum(sizes)
            self.ulen = sizes[-1]
        h += data if end == len(data) else memoryview(data)[:end]
        if len(h) > 4 * HIST_KEEP:
            del h[:-HIST_KEEP]
        self.pos = base + (off if n == len(fs) else start + sum(fs[:n]))
        self.delta = self.last_seq = last
        return Lz4Run(data, 0, size, sizes, n, first, last, seqs)

    def _lz4_payloads(self, comp: Sequence[bytes]) -> list[bytes]:
        """Decompress the compressed records ``comp`` (in order, from the current position)
        until the first that fails; the history is left as it was (see :meth:`_lz4_decode`)."""
        h = self.hist
        h0 = len(h)
        size = self.usize
        dec, bad = lz4.block.decompress, lz4.block.LZ4BlockError
        us: list[bytes] = []
        ap = us.append
        n = len(comp)
        i = 0
        if not self.deep:
            # u = dec(c, size, False, u); us.append(u) for each c, the loop run by C: each
            # call's dictionary is the payload appended to us by the call before (the first
            # one's is the whole history); extend keeps what was appended before an error
            try:
                us.extend(map(dec, comp, repeat(size), repeat(False), chain((h,), us)))
            except bad:
                pass
            i = len(us)
            if i < n:                                  # does it refer further back?
                h += b"".join(us)
                try:
                    u = dec(comp[i], size, False, h)
                except bad:
                    del h[h0:]
                    return us                          # no: the checked path reports it
                self.deep = True                       # yes (TLL's writer does): from now on
                h += u
                ap(u)
                i += 1
        if i < n:
            try:
                for c in islice(comp, i, None):
                    u = dec(c, size, False, h)
                    h += u
                    ap(u)
            except bad:
                pass
        del h[h0:]
        return us

    def _lz4_records(self, out: list, k: int) -> int:
        """Fast path over the LZ4 records of the current block held in the window, one by one.

        One ``lz4.block.decompress`` per record straight from the window into the block's
        history, which is the dictionary of the next one (trimmed once per call, not per
        record). The output bound is the largest payload seen so far (at least 512 bytes,
        small buffers are cheap); a bigger record, and anything unusual (the block's last
        16 bytes, a torn or invalid frame, a seq out of order) stops the run and is left to
        the checked `_step`.
        """
        buf, base = self.buf, self.base
        off, top, lim = self._span(4)
        if off < 0 or off > top:
            return 0
        mask = MARKER if self.version >= 1 else 0      # v1: unmarked frames become huge
        uframe, umsg, dec, new, D = (UFRAME.unpack_from, _MSG.unpack_from, lz4.block.decompress,
                                     _new, Data)
        bad = (lz4.block.LZ4BlockError, struct.error)
        size = self.usize
        h = self.hist
        delta = self.delta
        last = self.last_seq if self.last_seq is not None else SEQ_MIN - 1
        ap = out.append
        n0 = len(out)
        for _ in repeat(None, k):
            f = uframe(buf, off)[0] ^ mask
            e = off + f
            if f < 6 or e > lim or buf[e - 1] < 128:
                break
            try:
                u = dec(buf[off + 4:e - 1], size, False, h)
                msgid, field = umsg(u)
            except bad:
                break
            seq = field + delta
            if seq <= last:
                break                                  # the checked path reports it
            delta = last = seq
            h += u
            o = new(D)                                 # Data(msgid, seq, body), see _new
            o.msgid = msgid
            o.seq = seq
            o.body = u[12:]
            o.addr = None
            ap(o)
            off = e
            if off > top:
                break
        got = len(out) - n0
        if got:
            self.pos = base + off
            self.delta = self.last_seq = last
            self.ulen = len(u)
            if len(h) > 4 * HIST_KEEP:
                del h[:-HIST_KEEP]
        return got

    def _lz4_seek_run(self, out: list, k: int, min_seq: int) -> int:
        """`_lz4_run` for a seek: records below ``min_seq`` are decoded (history) but not built."""
        buf, base, B = self.buf, self.base, self.B
        off = self.pos - base
        n = len(buf)
        bend = self.bs + B - base
        v1 = self.version >= 1
        uframe = UFRAME.unpack_from
        umsg = _MSG.unpack_from
        decompress = lz4.block.decompress
        size = self.usize
        h = self.hist
        delta, last = self.delta, self.last_seq
        ap, D = out.append, Data
        got = 0
        ulen = self.ulen
        while got < k and 0 <= off and off + MIN_RECORD <= bend and off + 4 <= n:
            f = uframe(buf, off)[0]
            if v1:
                if f < MARKER:
                    break
                f -= MARKER
            e = off + f
            if f < 6 or e > n or e > bend or buf[e - 1] < 128:
                break
            try:
                u = decompress(buf[off + 4:e - 1], size, False, h)
            except lz4.block.LZ4BlockError:
                break
            if len(u) < 12:
                break
            msgid, field = umsg(u)
            seq = field + delta
            if last is not None and seq <= last:
                break  # the checked path reports what is wrong
            delta = seq
            h += u
            if len(h) > 4 * HIST_KEEP:
                del h[:-HIST_KEEP]
            if seq >= min_seq:
                ap(D(msgid, seq, u[12:]))
                got += 1
            off = e
            last = seq
            ulen = len(u)
        self.pos = base + off
        self.delta, self.last_seq, self.ulen = delta, last, ulen
        return got

    def _step(self, out: list, min_seq: int) -> int:
        """Handle one record or block transition the slow, fully checked way.

        Returns the number of messages appended (0 or 1), or -1 on a stop (EOF / INCOMPLETE).
        """
        pos, bs, B = self.pos, self.bs, self.B
        be = bs + B
        if pos == bs and bs:
            return self._enter_block()
        room = be - pos
        if room < MIN_RECORD:
            if room >= 5 and self.lz4:
                f = self._frame(pos)
                if f is not None and 5 <= f <= room:
                    data = self._get(pos, f)
                    if len(data) == f and data[f - 1] & 0x80:
                        return self._deliver(out, data, pos, f, min_seq)
            nxt = self._frame(be)
            if not nxt:                      # next block not started (None or 0): wait here
                return self._stop(EOF)
            self.pos = self.bs = be
            return 0
        f = self._frame(pos)
        if f is None or f == 0:
            return self._stop(EOF)
        if f == -1:
            self.pos = self.bs = be
            return 0
        if f < 5 or pos + f > be:
            if self._torn_frame(pos, be):
                return self._stop(INCOMPLETE)
            if f < 5:
                raise StorageFormatError(self.path, pos, f"invalid frame size {f} (minimum 5)")
            raise StorageFormatError(self.path, pos, f"frame size {f} exceeds block boundary "
                                                     f"(block {bs // B} ends at {be})")
        data = self._get(pos, f)
        if len(data) < f or not data[f - 1] & 0x80:
            return self._stop(INCOMPLETE)
        return self._deliver(out, data, pos, f, min_seq)

    def _torn_frame(self, pos: int, be: int) -> bool:
        """An invalid frame word followed only by zeros (or EOF): a write torn inside the word."""
        rest = self._get(pos + 4, be - pos - 4)
        return not rest.strip(b"\0")

    def _enter_block(self) -> int:
        bs = self.bs
        f = self._frame(bs)
        if not f:
            return self._stop(EOF)
        if f == -1:
            raise StorageFormatError(self.path, bs, f"skip frame at the start of block {bs // self.B}")
        if f < 5 or f > self.B:
            raise StorageFormatError(self.path, bs, f"invalid block header frame size {f}")
        self.pos = bs + f
        self.hist = bytearray()
        self.delta = 0
        return 0

    def _deliver(self, out: list, data: bytes, pos: int, f: int, min_seq: int) -> int:
        if self.lz4:
            u = self._decompress(data[4:f - 1], pos)
            if len(u) < 12:
                raise StorageFormatError(self.path, pos, f"lz4 record decompresses to {len(u)} "
                                                         f"bytes, shorter than a 12-byte header")
            msgid, field = _MSG.unpack_from(u)
            seq = field + self.delta
            self._check_order(seq, pos)
            self.delta = seq
            body = u[12:]
            h = self.hist
            h += u
            if len(h) > 4 * HIST_KEEP:
                del h[:-HIST_KEEP]
            self.ulen = len(u)
            if len(u) > self.usize:
                self.usize = min(len(u), self.B)     # the fast path's output bound grows
        else:
            if f < MIN_RECORD:
                raise StorageFormatError(self.path, pos, f"record of {f} bytes is too short for "
                                                         f"a message header (minimum 17)")
            msgid, seq = _MSG.unpack_from(data, 4)
            self._check_order(seq, pos)
            body = data[16:f - 1]
        self.pos = pos + f
        self.last_seq = seq
        if seq >= min_seq:
            out.append(Data(msgid, seq, bytes(body)))
            return 1
        return 0

    def _check_order(self, seq: int, pos: int) -> None:
        """Seqs only grow within a file; anything else is a corrupt record."""
        if self.last_seq is not None and seq <= self.last_seq:
            raise StorageFormatError(self.path, pos, f"seq {seq} does not follow the previous seq "
                                                     f"{self.last_seq}: the record is corrupt")

    def _decompress(self, c: bytes, pos: int) -> bytes:
        d = memoryview(self.hist)[-HIST_KEEP:]
        try:
            for size in (min(self.B, 4096), self.B):
                try:
                    return lz4.block.decompress(c, uncompressed_size=size, dict=d)
                except lz4.block.LZ4BlockError:
                    if size == self.B:
                        raise
        except lz4.block.LZ4BlockError as e:
            raise StorageFormatError(self.path, pos, f"corrupt lz4 record of {len(c) + 5} bytes: {e}") from None
        finally:
            d.release()
        raise AssertionError("unreachable")

    # -- probes ----------------------------------------------------------------------------
    def first_seq(self) -> int | None:
        """Seq of the next record without consuming it from the caller's view (probe cursors)."""
        out: list = []
        self.read(out, 1)
        return out[0].seq if out else None
