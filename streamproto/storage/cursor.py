"""The record walker shared by the file reader, seek, bounds and writer recovery.

A :class:`Cursor` holds a position in a file (``pos``, start of its block ``bs``), a read
window (one ``pread`` of up to ``window`` bytes) and, for LZ4 files, the per-block history and
delta-seq base. :meth:`Cursor.read` appends ``Data`` messages to a list until a limit, the end
of the data (a zero or unmarked frame: ``EOF``) or a torn record (``INCOMPLETE``). Both stops
keep the position so a later call resumes there when the file has grown.

Deviation from the reference reader (storage spec §6.2): when fewer than 17 bytes remain in a
block, a complete LZ4 record there is still delivered; zeros, a skip frame or leftovers there
mean "continue in the next block", but only once the next block has a header, so a writer that
has not moved on yet is waited for.
"""
from __future__ import annotations

import os
import struct

import lz4.block

from streamproto.errors import StorageError
from streamproto.events import Data
from streamproto.storage.format import (
    MARKER, MIN_RECORD, StorageFormatError, UFRAME, frame_value,
)

OK, EOF, INCOMPLETE = 0, 1, 2
SEQ_MIN = -(1 << 63)
SEQ_MAX = (1 << 63) - 1
HIST_KEEP = 65536
_MSG = struct.Struct("<iq")
_REC0 = struct.Struct("<iiq")   # v0: frame, msgid, seq
_REC1 = struct.Struct("<Iiq")   # v1: frame (with marker), msgid, seq


class Cursor:
    """Walks the records of one open file descriptor (see module docstring)."""

    __slots__ = ("fd", "path", "B", "version", "lz4", "pos", "bs", "buf", "base", "window",
                 "hist", "delta", "status", "last_seq")

    def __init__(self, fd: int, path: str, block: int, version: int, lz4: bool,
                 pos: int, bs: int, window: int = 256 * 1024):
        self.fd, self.path, self.B, self.version, self.lz4 = fd, path, block, version, lz4
        self.pos, self.bs = pos, bs
        self.buf, self.base = b"", pos
        self.window = window
        self.hist = bytearray()
        self.delta = 0
        self.status = OK
        self.last_seq: int | None = None

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
        return -1

    # -- reading ---------------------------------------------------------------------------
    def read(self, out: list, limit: int, min_seq: int = SEQ_MIN) -> int:
        """Append up to ``limit`` messages with ``seq >= min_seq`` to ``out``; returns the count.

        Records below ``min_seq`` are walked over without building them (seek). ``status`` is
        EOF or INCOMPLETE after a stop, OK when the limit was reached.
        """
        k = limit
        self.status = OK
        run = self._lz4_run if self.lz4 else self._plain_run
        while k > 0:
            if self.pos != self.bs or not self.bs:  # inside a started block: the fast path
                k -= run(out, k, min_seq)
                if k <= 0:
                    break
            r = self._step(out, min_seq)  # block changes, window refills, anything unusual
            if r < 0:
                break
            k -= r
        return limit - k

    def _plain_run(self, out: list, k: int, min_seq: int) -> int:
        """Fast path over the uncompressed records of the current block held in the window."""
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
        """Fast path over the LZ4 records of the current block held in the window.

        Stops (leaving the record to the checked `_step`) at anything unusual: the block's last
        16 bytes, a torn or invalid frame, a record that does not decompress into 4 KiB.
        """
        buf, base, B = self.buf, self.base, self.B
        off = self.pos - base
        n = len(buf)
        bend = self.bs + B - base
        v1 = self.version >= 1
        uframe = UFRAME.unpack_from
        umsg = _MSG.unpack_from
        decompress = lz4.block.decompress
        size = min(B, 4096)
        h = self.hist
        delta, last = self.delta, self.last_seq
        ap, D = out.append, Data
        got = 0
        while got < k and 0 <= off and off + MIN_RECORD <= bend and off + 4 <= n:
            f = uframe(buf, off)[0]
            if v1:
                if f < MARKER:
                    break
                f -= MARKER
            e = off + f
            if f < 6 or e > n or e > bend or buf[e - 1] < 128:
                break
            try:  # LZ4 itself uses only the last 64 KiB of the dictionary
                u = decompress(buf[off + 4:e - 1], uncompressed_size=size, dict=h)
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
        self.pos = base + off
        self.delta, self.last_seq = delta, last
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
