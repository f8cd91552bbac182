"""Writer of TLL ``file://`` storage files, byte-identical to the reference writer.

Usage::

    with FileWriter("data.dat", block=4096, scheme=scheme_url) as w:   # or open_writer(url)
        w.post(10, 0, body)              # msgid, seq, body -> stored seq
        w.last_seq, w.first_seq

New files are created as ``NAME.XXXXXX`` and renamed into place; an existing file is locked
(``flock``; a second writer fails), its metadata wins (block, version, compression), a torn
record at its tail is cut off and writing continues after the last complete record.

``io="mmap"`` (default) writes through a shared memory map, as the reference does: no system
call per record, and other processes' readers see a record as soon as ``post`` returns (the
frame word is stored last, so a reader never sees half a record). It keeps one zero block after
the current block (``extra_space``), so the reference's mmap readers never fault.
``io="posix"`` writes with ``pwrite`` and no padding. ``stored_scheme`` is put into a new file's
metadata verbatim (convert); else ``scheme`` is stored as the reference does (``yamls+gz``).

Failures. ``post`` returns only once the record is stored: written with ``pwrite`` (short writes
are continued), or copied into the map over file space reserved beforehand. ``io=mmap`` reserves
space with ``posix_fallocate`` in chunks of :data:`RESERVE` bytes inside the file's size (the
size stays the reference's), so a full disk is a :class:`StorageWriteError` at ``post``, never a
SIGBUS; a file keeps at most one chunk of allocated zeros after its data. When a write fails the
writer goes back to what is stored: bytes of the failed write are removed from the file, and
``last_seq``, ``first_seq``, the block position and the LZ4 state are those of the last stored
record. Nothing reported as failed is written later; the next ``post`` tries again (after space
was freed, it succeeds).

``buffer=N`` batches records in memory and writes them when more than N bytes are waiting, on
``flush()`` and on ``close()``; the default ``0`` writes every record as it is posted (other
readers see it at once). With a buffer, ``post`` returning means *accepted*: the records are
stored when the write that carries them succeeds (``stored_seq`` is the last stored seq). When
that write fails, every record of the batch is dropped and the error counts them
(:attr:`StorageWriteError.lost`); ``last_seq`` goes back to ``stored_seq``.

Unlike the reference: a record is never written across a block boundary (bodies over
``block - 22`` bytes, or LZ4 records over ``block - 5``, are refused); nothing is placed in the
last 16 bytes of a block; an LZ4 block always starts with an absolute seq.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import mmap
import os
import struct
import tempfile
from typing import Any

import lz4.block

from streamproto.errors import ChannelError, StorageError
from streamproto.storage.base import Closeable, MetaView
from streamproto.storage.cursor import HIST_KEEP, Cursor
from streamproto.storage.format import (
    COMPRESSION, DEFAULT_BLOCK, MARKER, MIN_RECORD, FileMeta, block_header, encode_meta,
)
from streamproto.storage.reader import FileReader, load_scheme

log = logging.getLogger("streamproto.storage")
_REC0 = struct.Struct("<iiq")
_REC1 = struct.Struct("<Iiq")
_MSG = struct.Struct("<iq")
_WORD = struct.Struct("<I")
_LZ4_FRAME = struct.Struct("<I")
LZ4_WINDOW = 4096
#: Bytes of file space reserved (``posix_fallocate``) at a time before ``io=mmap`` writes there.
RESERVE = 256 * 1024
_NO_FALLOCATE = {errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.ENODEV}


class SeqError(StorageError, ChannelError):
    """A post with a seq that is not greater than the last stored one."""


class StorageWriteError(StorageError):
    """A write failed (full disk, quota, I/O error); what it reports is not stored, now or later.

    ``path``: the file; ``lost``: how many posted records were dropped (the failing one, and with
    ``buffer`` the earlier ones still waiting); ``stored_seq``: the last seq in the file (None:
    no record). The writer is usable again: its state is what the file holds.
    """

    def __init__(self, message: str, path: str, lost: int, stored_seq: int | None):
        super().__init__(message)
        self.path, self.lost, self.stored_seq = path, lost, stored_seq


def scheme_string(scheme: Any) -> str:
    """The text stored in the metadata for a scheme argument ("" for None).

    A ``yamls+gz://`` string is stored verbatim; other URLs and Scheme objects are loaded and
    dumped as ``yamls+gz`` like the reference does.
    """
    if scheme is None or scheme == "":
        return ""
    if isinstance(scheme, str) and scheme.startswith("yamls+gz://"):
        return scheme
    return load_scheme(scheme).dump("yamls+gz")


def _pwrite_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """Write all of ``data`` at ``offset``, continuing short writes (OSError on failure)."""
    n = len(data)
    done = os.pwrite(fd, data, offset)
    if done != n:
        with memoryview(data) as v:
            while done < n:
                k = os.pwrite(fd, v[done:], offset + done)
                if k <= 0:
                    raise OSError(errno.EIO, "write stored no bytes")
                done += k


class FileWriter(MetaView, Closeable):
    """Appends messages to a ``file://`` storage file (see module docstring)."""

    def __init__(self, path: str | os.PathLike, *, block: int = DEFAULT_BLOCK,
                 compression: str | int = "none", version: int = 0, scheme: Any = None,
                 io: str = "mmap", extra_space: int | None = None, autoseq: bool = False,
                 overwrite: bool = False, access_mode: int = 0o644, buffer: int = 0,
                 stored_scheme: str | None = None):
        self.path = os.fspath(path)
        self._fd = -1
        self._mm: mmap.mmap | None = None
        if isinstance(compression, str):
            if compression not in COMPRESSION:
                raise StorageError(f"{self.path}: unknown compression {compression!r} (none, lz4)")
            compression = COMPRESSION[compression]
        if version not in (0, 1):
            raise StorageError(f"{self.path}: unsupported version {version} (0 or 1)")
        if io not in ("mmap", "posix"):
            raise StorageError(f"{self.path}: unknown io {io!r} (mmap, posix)")
        if block < 1024 or block >= 1 << 31:
            raise StorageError(f"{self.path}: block size {block} out of range (1kb..2gb)")
        self.autoseq = autoseq
        self._io = io
        self._buffer = buffer
        self._extra_bytes = extra_space if extra_space is not None else (1 if io == "mmap" else 0)
        if os.path.isdir(self.path):
            raise StorageError(f"cannot open {self.path} for writing: is a directory")
        try:
            exists = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        except OSError as e:
            raise StorageError(f"cannot open {self.path} for writing: {e.strerror}") from None
        try:
            if exists and not overwrite:
                self._reopen()
            else:
                meta = FileMeta(block=block, version=version, compression=compression,
                                scheme=stored_scheme if stored_scheme is not None
                                else scheme_string(scheme))
                self._create(meta, access_mode)
        except BaseException:
            self._release()
            raise
        self._scheme_arg = scheme

    # -- open ------------------------------------------------------------------------------
    def _lock(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            self._fd = -1
            raise StorageError(f"{self.path}: locked by another writer") from None

    def _create(self, meta: FileMeta, access_mode: int) -> None:
        raw = encode_meta(meta.block, meta.version, meta.compression, meta.scheme)
        if len(raw) > meta.block:
            raise StorageError(f"{self.path}: metadata of {len(raw)} bytes (scheme included) does "
                               f"not fit a block of {meta.block} bytes")
        d, base = os.path.split(os.path.abspath(self.path))
        if not os.path.isdir(d):
            raise StorageError(f"cannot create {self.path}: directory {d} does not exist")
        try:
            self._fd, tmp = tempfile.mkstemp(prefix=base + ".", dir=d)
        except OSError as e:
            raise StorageError(f"cannot create {self.path}: {e.strerror}") from None
        try:
            os.fchmod(self._fd, access_mode)
            _pwrite_all(self._fd, raw, 0)
            self._lock()
            os.rename(tmp, self.path)
        except BaseException as e:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if isinstance(e, OSError):
                raise StorageError(f"cannot create {self.path}: {e.strerror}") from None
            raise
        self.meta = FileMeta(meta.block, meta.version, meta.compression, meta.scheme, 0, len(raw))
        self._setup(pos=len(raw), bs=0, fsize=len(raw), last=None, first=None,
                    hist=bytearray(), block_has_data=False)

    def _reopen(self) -> None:
        try:
            self._fd = os.open(self.path, os.O_RDWR)
        except OSError as e:
            raise StorageError(f"cannot open {self.path} for writing: {e.strerror}") from None
        self._lock()
        with FileReader(self.path) as r:
            self.meta = r.meta
            first = r.first_seq
            c = r.scan_end()
        B = self.meta.block
        try:
            fsize = os.fstat(self._fd).st_size
            pos, bs, cut = c.pos, c.bs, c.pos
            if pos == bs and bs:                    # next block not started: header needed
                pass
            elif bs + B - pos < MIN_RECORD:         # no room left: continue in the next block
                pos = bs = bs + B
            if fsize > cut:
                tail = os.pread(self._fd, 4, cut)
                if tail.strip(b"\0"):
                    log.warning("%s: cutting %d bytes of trailing data at offset %d (torn record)",
                                self.path, fsize - cut, cut)
                os.ftruncate(self._fd, cut)
                fsize = cut
        except OSError as e:
            raise StorageError(f"cannot open {self.path} for writing: {e.strerror}") from None
        same = pos == c.pos                     # still appending inside the scanned block
        self._setup(pos=pos, bs=bs, fsize=fsize, last=c.last_seq, first=first,
                    hist=c.hist if same else bytearray(), block_has_data=same and bool(c.hist))

    def _setup(self, *, pos: int, bs: int, fsize: int, last: int | None, first: int | None,
               hist: bytearray, block_has_data: bool) -> None:
        B = self.meta.block
        self._pos, self._bs, self._fsize = pos, bs, fsize
        self._rsv = pos                        # bytes before pos hold data: allocated
        self.last_seq, self.first_seq = last, first
        self.stored_seq = last
        self._hist = hist
        self._block_has_data = block_has_data
        self._lz4 = self.meta.compression == 1
        self._v1 = self.meta.version >= 1
        self._rec = (_REC1 if self._v1 else _REC0).pack
        self._mask = MARKER if self._v1 else 0
        self._header = block_header(self.meta.version)
        self._extra = -(-self._extra_bytes // B) * B
        self._wbuf = bytearray()
        self._wpos = pos
        self._pending = 0
        self._ok: tuple = ()
        try:
            if self._extra:
                end = bs + B if (pos != bs or not bs) else bs
                self._extend(end + self._extra)
            if self._io == "mmap":
                self._mm = mmap.mmap(self._fd, self._fsize)
        except OSError as e:
            raise StorageError(f"cannot open {self.path} for writing: {e.strerror}") from None

    def _extend(self, size: int) -> None:
        """Grow the file with zeros (sparse) to ``size`` and map it all."""
        if size > self._fsize:
            os.ftruncate(self._fd, size)
            self._fsize = size
            if self._mm is not None:
                self._mm.close()
                self._mm = None
                self._mm = mmap.mmap(self._fd, size)

    # -- properties ------------------------------------------------------------------------
    @property
    def scheme(self) -> Any:
        """Data scheme: the one given at open, else the stored one (tllschema.Scheme or None)."""
        if not hasattr(self, "_scheme"):
            arg = self._scheme_arg if self._scheme_arg is not None else self.meta.scheme
            self._scheme = load_scheme(arg, None if self._scheme_arg is not None else self.path)
        return self._scheme

    # -- writing ---------------------------------------------------------------------------
    def post(self, msgid: int, seq: int, body: bytes | bytearray | memoryview = b"") -> int:
        """Store one message; returns its seq (assigned when ``autoseq``).

        Raises SeqError when ``seq <= last_seq``, StorageError when the record cannot fit a
        block (nothing changes then) and StorageWriteError when it cannot be stored (the writer
        is back at what the file holds; see the module docstring).
        """
        if self._fd < 0:
            raise StorageError(f"{self.path}: writer is closed")
        last = self.last_seq
        if self.autoseq:
            seq = 0 if last is None else last + 1
        elif last is not None and seq <= last:
            raise SeqError(f"{self.path}: seq {seq} is not greater than the last stored seq {last}")
        B = self.meta.block
        if self._lz4:
            if 12 + len(body) > B:
                raise StorageError(f"{self.path}: message seq {seq} of {len(body)} bytes does not fit "
                                   f"a block of {B} bytes")
            if not self._wbuf:
                self._snapshot(seq)
            try:
                self._post_lz4(msgid, seq, body)
            except OSError as e:
                self._fail(e, seq, "extending the file")
        else:
            size = 17 + len(body)
            if size > B - 5:
                raise StorageError(f"{self.path}: message seq {seq} of {len(body)} bytes does not fit "
                                   f"a block of {B} bytes (largest body: {B - 22})")
            pos = self._pos
            end = pos + size
            if end <= self._bs + B and (pos != self._bs or not self._bs):
                mm = self._mm
                if mm is not None and not self._wbuf and not self._buffer:
                    if end > self._rsv:
                        try:
                            self._reserve(end)
                        except OSError:
                            pass                # no room reserved: pwrite what fits (flush)
                    if end <= self._rsv:
                        # write-through into reserved map space: body first, the frame word last
                        _MSG.pack_into(mm, pos + 4, msgid, seq)
                        mm[pos + 16:end - 1] = body
                        mm[end - 1] = 0x80
                        _WORD.pack_into(mm, pos, size | self._mask)
                        self._pos = self._wpos = end
                        self.last_seq = self.stored_seq = seq
                        if self.first_seq is None:
                            self.first_seq = seq
                        return seq
                if not self._wbuf:
                    self._snapshot(seq)
            else:
                if not self._wbuf:
                    self._snapshot(seq)
                try:
                    pos = self._new_block(pos)
                except OSError as e:
                    self._fail(e, seq, "extending the file")
                end = pos + size
            w = self._wbuf
            w += self._rec(size | self._mask, msgid, seq)
            w += body
            w.append(0x80)
            self._pos = end
        self.last_seq = seq
        if self.first_seq is None:
            self.first_seq = seq
        self._pending += 1
        if len(self._wbuf) > self._buffer:
            self.flush()
        return seq

    def _new_block(self, pos: int) -> int:
        """Close the current block (skip frame if >= 5 bytes left) and write the next header."""
        B = self.meta.block
        w = self._wbuf
        if pos != self._bs or not self._bs:       # leaving a started block
            be = self._bs + B
            if pos + 4 < be:
                w += b"\xff\xff\xff\xff"
                pos += 4
            w += bytes(be - pos)
            self._bs = pos = be
        w += self._header
        self._block_has_data = False
        self._hist = bytearray()
        if self._extra and self._fsize <= self._bs + B:
            self._extend(self._bs + B + self._extra)
        return pos + 5

    def _post_lz4(self, msgid: int, seq: int, body: Any) -> None:
        B = self.meta.block
        pos = self._pos
        started = pos != self._bs or not self._bs
        last = self.last_seq
        if started and self._block_has_data and last is not None:
            u = _MSG.pack(msgid, seq - last) + bytes(body)
            c = self._compress(u, self._hist)
        else:
            u = _MSG.pack(msgid, seq) + bytes(body)
            c = lz4.block.compress(u, store_size=False)
        size = len(c) + 5
        if not started or pos + max(size, MIN_RECORD) > self._bs + B:
            u = _MSG.pack(msgid, seq) + bytes(body)
            c = lz4.block.compress(u, store_size=False)
            size = len(c) + 5
            if size > B - 5:
                raise StorageError(f"{self.path}: lz4 record seq {seq} of {size} bytes does not fit "
                                   f"a block of {B} bytes")
            pos = self._new_block(pos)
        w = self._wbuf
        w += _LZ4_FRAME.pack(size | self._mask)
        w += c
        w.append(0x80)
        self._pos = pos + size
        self._hist += u          # trimmed once stored (flush): a rollback cuts back to a length
        self._block_has_data = True

    @staticmethod
    def _compress(u: bytes, hist: bytearray) -> bytes:
        # python-lz4 re-hashes the whole dictionary on every call: a short window keeps writes
        # fast while still finding the repeats between neighbouring records (any window is valid).
        d = memoryview(hist)[-LZ4_WINDOW:]
        try:
            return lz4.block.compress(u, store_size=False, dict=d)
        finally:
            d.release()

    # -- stored state, reservation, failure ------------------------------------------------
    def _snapshot(self, seq: int) -> None:
        """Remember the stored state before the first record of a batch enters the buffer."""
        self._ok = (self._pos, self._bs, self.last_seq, self.first_seq, self._block_has_data,
                    self._hist, len(self._hist), seq)

    def _rollback(self) -> None:
        """Forget the records of the pending batch: back to the state of the stored data."""
        pos, bs, last, first, has_data, hist, hlen, _ = self._ok
        self._pos = self._wpos = pos
        self._bs = bs
        self.last_seq, self.first_seq = last, first
        self._block_has_data = has_data
        del hist[hlen:]
        self._hist = hist
        self._wbuf = bytearray()    # a new one: a failed write may still hold a view of the old
        self._pending = 0

    def _holds(self) -> str:
        last = self.last_seq
        return f"the file holds seqs up to {last}" if last is not None else "the file holds no record"

    def _fail(self, e: OSError, seq: int | None, what: str) -> None:
        """Roll back the pending batch (and the record of seq ``seq`` being posted, if given)
        and raise StorageWriteError for the OS error ``e``."""
        first = self._ok[-1] if self._ok else seq
        last = seq if seq is not None else self.last_seq
        lost = self._pending + (seq is not None)
        self._rollback()
        which = f"seq {last}" if lost <= 1 else f"{lost} buffered records (seq {first} to {last})"
        raise StorageWriteError(f"{self.path}: {which} not stored: {e.strerror or e} ({what}); "
                                f"{self._holds()}", self.path, lost, self.last_seq) from None

    def _salvage(self, e: OSError, what: str, done: int) -> None:
        """A write of the pending batch failed after ``done`` bytes: keep the complete records
        among them, cut the rest off, take the state from the file and raise StorageWriteError.

        The records kept are the ones other readers may already have delivered; the one torn
        by the failure (never delivered: its tail is missing) and all after it are dropped.
        """
        pos, bs, last, first, _, hist, hlen, _ = self._ok
        pending, last_pending = self._pending, self.last_seq
        kept: list = []
        c = None
        if done:
            c = Cursor(self._fd, self.path, self.meta.block, self.meta.version, self._lz4, pos, bs)
            c.last_seq = last
            if self._lz4 and hlen:
                c.hist = bytearray(memoryview(hist)[:hlen])
                c.delta = last if last is not None else 0
            try:
                c.read(kept, pending)
            except StorageError:
                kept = []
        if kept and c is not None:
            self._rollback()
            cut = c.pos
            self._pos = self._wpos = cut
            self._bs = c.bs
            self.last_seq = c.last_seq
            if first is None:
                self.first_seq = kept[0].seq
            self._hist = c.hist if self._lz4 else bytearray()
            self._block_has_data = bool(self._hist)
        else:
            self._rollback()
            cut = pos
        self._cut(cut, pos + done - cut)
        self.stored_seq = self.last_seq
        lost = pending - len(kept)
        if lost == 1:
            which = f"seq {last_pending}"
        else:
            after = f"after seq {self.last_seq}, " if self.last_seq is not None else ""
            which = f"{lost} buffered records ({after}up to seq {last_pending})"
        raise StorageWriteError(f"{self.path}: {which} not stored: {e.strerror or e} ({what}); "
                                f"{self._holds()}", self.path, lost, self.last_seq) from None

    def _reserve(self, end: int) -> None:
        """Allocate the file's space up to ``end`` (a chunk ahead) before the map writes there.

        Writing through a map into a hole needs a page on the spot; on a full disk the kernel
        can only answer with SIGBUS. Reserving turns that into an OSError here, before anything
        is written. Stays inside the mapped size (the file size stays the reference's); without
        fallocate support the map is dropped and ``pwrite`` used instead.
        """
        mm = self._mm
        if mm is None or end > len(mm):
            return                              # past the map: written with pwrite
        start = self._rsv
        want = min(max(end, start + RESERVE), len(mm))
        try:
            os.posix_fallocate(self._fd, start, want - start)
        except OSError as e:
            if e.errno in _NO_FALLOCATE:
                log.warning("%s: cannot reserve file space (%s): writing with pwrite instead of "
                            "the map", self.path, e.strerror)
                mm.close()
                self._mm = None
                self._rsv = 0
                return
            if want <= end:
                raise
            want = end                          # a whole chunk does not fit: just what is needed
            os.posix_fallocate(self._fd, start, want - start)
        self._rsv = want

    def _cut(self, offset: int, done: int) -> None:
        """Remove the ``done`` bytes a failed write put at ``offset`` (after the stored data)."""
        if not done:
            return
        fd = self._fd
        try:
            if offset + done > self._fsize:     # the write went past the end: cut it off
                os.ftruncate(fd, max(offset, self._fsize))
                self._fsize = max(offset, self._fsize)
            zero = min(offset + done, self._fsize) - offset
            if zero > 0:            # inside the zero padding: those pages exist, overwrite them
                try:
                    _pwrite_all(fd, bytes(zero), offset)
                except OSError:
                    os.ftruncate(fd, offset)
                    os.ftruncate(fd, self._fsize)
                    self._rsv = min(self._rsv, offset)
        except OSError as e:
            log.error("%s: cannot remove %d bytes of a failed write at offset %d (%s): readers "
                      "stop there; the next writer open cuts them", self.path, done, offset,
                      e.strerror)

    def flush(self) -> None:
        """Write buffered records to the file (raises StorageWriteError, see the module doc)."""
        w = self._wbuf
        if not w:
            return
        pos = self._wpos
        n = len(w)
        end = pos + n
        mm = self._mm
        if mm is not None and end > self._rsv:
            try:
                self._reserve(end)
            except OSError:
                mm = None               # no room for all of it: pwrite what fits, keep whole records
            else:
                mm = self._mm
        if mm is not None and end <= self._rsv and n > 4:
            with memoryview(w) as v:
                mm[pos + 4:end] = v[4:]
                mm[pos:pos + 4] = v[:4]  # the frame word last: readers never see half a record
        else:
            fd = self._fd
            done = 0
            try:
                done = os.pwrite(fd, w, pos)
                if done != n:                   # a short write: continue it
                    with memoryview(w) as v:
                        while done < n:
                            k = os.pwrite(fd, v[done:], pos + done)
                            if k <= 0:
                                raise OSError(errno.EIO, "write stored no bytes")
                            done += k
            except OSError as e:
                self._salvage(e, f"writing {n} bytes at offset {pos}", done)
            if end > self._fsize:
                self._fsize = end
        self._wpos = end
        self.stored_seq = self.last_seq
        w.clear()
        self._pending = 0
        self._ok = ()
        h = self._hist
        if len(h) > 4 * HIST_KEEP:
            del h[:-HIST_KEEP]

    # -- lifetime --------------------------------------------------------------------------
    def _release(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def close(self) -> None:
        """Write what is buffered and close the file (StorageWriteError if that write fails;
        the file is closed anyway)."""
        if self._fd >= 0:
            try:
                self.flush()
            finally:
                self._release()
