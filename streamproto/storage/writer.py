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
writer goes back to what is stored: the record the failure tore is removed from the file (no torn
tail), and ``last_seq``, ``first_seq``, the block position and the LZ4 state are those of the
last stored record. Nothing reported as failed is written later; the next ``post`` tries again
(after space was freed, it succeeds).

``buffer=N`` batches records in memory and writes them when more than N bytes are waiting, on
``flush()`` and on ``close()``; the default ``0`` writes every record as it is posted (other
readers see it at once). With a buffer, ``post`` returning means *accepted*: the records are
stored when the write that carries them succeeds (``stored_seq`` is the last stored seq). When
that write fails, the records of the batch that reached the file whole stay (other readers may
have delivered them), the others are dropped and counted (:attr:`StorageWriteError.lost`), and
``last_seq`` goes back to ``stored_seq``.

LZ4 (``compression=lz4``): each record is one raw LZ4 block of ``msgid | seq | body`` (the seq
delta-coded after the first record of a file block), compressed with the previous record's
payload as its only dictionary; the first record of a file block has no dictionary and an
absolute seq. TLL's reader decompresses a file block as one LZ4 stream (LZ4_decompress_safe_
continue into a ring that keeps every earlier payload of the block, 64 KiB at least), and an LZ4
block may refer to any of the last 64 KiB of that stream: a match into the previous payload
only, which immediately precedes the output, is one of them. A one-record dictionary costs one
small ``LZ4_loadDict`` per record instead of hashing kilobytes, and finds the repeats between
neighbouring records that make most of the gain. Readers (ours and TLL's) need nothing new.

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
from streamproto.storage.cursor import Cursor
from streamproto.storage.format import (
    COMPRESSION, DEFAULT_BLOCK, MARKER, MIN_RECORD, FileMeta, block_header, encode_meta,
)
from streamproto.storage.reader import FileReader, load_scheme

log = logging.getLogger("streamproto.storage")
_REC0 = struct.Struct("<iiq")
_REC1 = struct.Struct("<Iiq")
_MSG = struct.Struct("<iq")
_WORD = struct.Struct("<I")
#: LZ4 dictionary policy: each record is compressed with the previous record of its block as
#: dictionary (see the module docstring); bench/storage.py reads this name.
LZ4_DICT = "previous"
_MSG_PACK = _MSG.pack
_MSG_PACK_INTO = _MSG.pack_into
_WORD_PACK = _WORD.pack
_WORD_PACK_INTO = _WORD.pack_into
_COMPRESS = lz4.block.compress      # positional: (source, mode, store_size, acceleration,
                                    # compression, return_bytearray, dict)
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


def _pwrite_from(fd: int, data: bytes | bytearray | memoryview, offset: int, done: int
                 ) -> tuple[int, OSError | None]:
    """Write ``data[done:]`` at ``offset + done``, continuing short writes; returns how many
    bytes of ``data`` are stored in all and the error that stopped it (None: all of them)."""
    n = len(data)
    try:
        with memoryview(data) as v:
            while done < n:
                k = os.pwrite(fd, v[done:], offset + done)
                if k <= 0:
                    raise OSError(errno.EIO, "write stored no bytes")
                done += k
    except OSError as e:
        return done, e
    return done, None


def _pwrite_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """Write all of ``data`` at ``offset``, continuing short writes (OSError on failure)."""
    err = _pwrite_from(fd, data, offset, 0)[1]
    if err is not None:
        raise err


def _last_payload(c: Cursor) -> bytes | None:
    """LZ4: the payload of the last record a cursor read in the block it is in (the writer's
    next dictionary), None when that block has no record yet."""
    if (c.pos == c.bs and c.bs) or not c.hist or not c.ulen:
        return None                 # moved on to a block whose header is not written yet
    return bytes(c.hist[-c.ulen:])


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
        self._through = self._direct = False
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
        self._setup(pos=len(raw), bs=0, fsize=len(raw), last=None, first=None, prev=None)

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
        prev = _last_payload(c) if pos == c.pos else None
        self._setup(pos=pos, bs=bs, fsize=fsize, last=c.last_seq, first=first, prev=prev)

    def _setup(self, *, pos: int, bs: int, fsize: int, last: int | None, first: int | None,
               prev: bytes | None) -> None:
        B = self.meta.block
        self._pos, self._bs, self._fsize = pos, bs, fsize
        self._bend = bs + B if pos != bs or not bs else -1   # records end by here; -1: no block
        self._maxbody = B - 12                 # largest LZ4 body (payload <= block)
        self._rsv = pos                        # bytes before pos hold data: allocated
        self.last_seq, self.first_seq = last, first
        self._prev = prev                      # LZ4: payload of the block's last record, or None
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
            self._through = self._mm is not None and not self._buffer   # write through the map
            self._direct = self._mm is None and not self._buffer        # one pwrite a record
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
                self._through = False
                self._direct = not self._buffer
                self._mm = mmap.mmap(self._fd, size)
                self._through = not self._buffer
                self._direct = False

    # -- properties ------------------------------------------------------------------------
    @property
    def stored_seq(self) -> int | None:
        """Last seq stored in the file; ``last_seq`` is ahead while records wait in the buffer."""
        return self._ok[2] if self._wbuf else self.last_seq

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
        last = self.last_seq
        if self.autoseq:
            seq = 0 if last is None else last + 1
        elif last is not None and seq <= last:
            raise SeqError(f"{self.path}: seq {seq} is not greater than the last stored seq {last}")
        # The common case inline: a record that fits the current block (``_bend`` is -1 when
        # there is none: not started, or closed). Everything else goes to ``_post_slow``.
        if self._lz4:
            prev = self._prev
            if prev is None or type(body) is not bytes or len(body) > self._maxbody:
                return self._post_slow(msgid, seq, body)
            # inside a block with data: delta seq, the previous payload as dictionary
            u = _MSG_PACK(msgid, seq - last) + body  # type: ignore[operator]  # records exist
            c = _COMPRESS(u, "default", False, 1, 0, False, prev)
            size = len(c) + 5
            pos = self._pos
            end = pos + size
            if end > self._bend or (size < MIN_RECORD and pos + MIN_RECORD > self._bend):
                return self._post_slow(msgid, seq, body)
            if self._through:
                if end > self._rsv:
                    self._try_reserve(end)
                if end <= self._rsv:
                    # write-through into reserved map space, the frame word last
                    mm: mmap.mmap = self._mm  # type: ignore[assignment]  # set when _through
                    mm[pos + 4:end - 1] = c
                    mm[end - 1] = 0x80
                    _WORD_PACK_INTO(mm, pos, size | self._mask)
                    self._pos = end
                    self._prev = u
                    self.last_seq = seq
                    return seq
            elif self._direct:
                # one pwrite; the state changes once the record is stored
                rec = _WORD_PACK(size | self._mask) + c + b"\x80"
                try:
                    done = os.pwrite(self._fd, rec, pos)
                except OSError as e:
                    self._write_rest(rec, pos, seq, 0, e)
                if done != size:
                    self._write_rest(rec, pos, seq, done, None)
                self._pos = end
                if end > self._fsize:
                    self._fsize = end
                self._prev = u
                self.last_seq = seq
                return seq
            w = self._wbuf
            if not w:
                self._snapshot(seq)
            w += _WORD_PACK(size | self._mask)
            w += c
            w.append(0x80)
            self._prev = u
        else:
            pos = self._pos
            end = pos + 17 + len(body)
            if end > self._bend or last is None:
                return self._post_slow(msgid, seq, body)
            if self._through:
                if end > self._rsv:
                    self._try_reserve(end)
                if end <= self._rsv:
                    # write-through into reserved map space: body first, the frame word last
                    mm = self._mm  # type: ignore[assignment]  # set when _through
                    _MSG_PACK_INTO(mm, pos + 4, msgid, seq)
                    mm[pos + 16:end - 1] = body
                    mm[end - 1] = 0x80
                    _WORD_PACK_INTO(mm, pos, (end - pos) | self._mask)
                    self._pos = end
                    self.last_seq = seq
                    return seq
            elif self._direct:
                # one pwrite; the state changes once the record is stored
                rec = self._rec((end - pos) | self._mask, msgid, seq) + body + b"\x80"
                try:
                    done = os.pwrite(self._fd, rec, pos)
                except OSError as e:
                    self._write_rest(rec, pos, seq, 0, e)
                if done != end - pos:
                    self._write_rest(rec, pos, seq, done, None)
                self._pos = end
                if end > self._fsize:
                    self._fsize = end
                self.last_seq = seq
                return seq
            w = self._wbuf
            if not w:
                self._snapshot(seq)
            w += self._rec((end - pos) | self._mask, msgid, seq)
            w += body
            w.append(0x80)
        self._pos = end
        self.last_seq = seq
        self._pending += 1
        if len(w) > self._buffer:
            self.flush()
        return seq

    def _post_slow(self, msgid: int, seq: int, body: bytes | bytearray | memoryview) -> int:
        """``post`` for a closed writer, the first record of a file or of a block, a body that
        is not bytes or too big."""
        if self._fd < 0:
            raise StorageError(f"{self.path}: writer is closed")
        B = self.meta.block
        if self._lz4:
            if 12 + len(body) > B:
                raise StorageError(f"{self.path}: message seq {seq} of {len(body)} bytes does not fit "
                                   f"a block of {B} bytes")
            if type(body) is not bytes:
                return self.post(msgid, seq, bytes(body))
            if not self._wbuf:
                self._snapshot(seq)
            try:    # the first record of a block; or one that does not fit: to the next block
                self._post_lz4_first(msgid, seq, body, self._prev is not None)
            except OSError as e:
                self._fail(e, seq, "extending the file")
        else:
            size = 17 + len(body)
            if size > B - 5:
                raise StorageError(f"{self.path}: message seq {seq} of {len(body)} bytes does not fit "
                                   f"a block of {B} bytes (largest body: {B - 22})")
            if not self._wbuf:
                self._snapshot(seq)
            pos = self._pos
            if pos + size > self._bend:
                try:
                    pos = self._new_block(pos)
                except OSError as e:
                    self._fail(e, seq, "extending the file")
            w = self._wbuf
            w += self._rec(size | self._mask, msgid, seq)
            w += body
            w.append(0x80)
            self._pos = pos + size
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
        if self._bend >= 0:                       # leaving a started block
            be = self._bs + B
            if pos + 4 < be:
                w += b"\xff\xff\xff\xff"
                pos += 4
            w += bytes(be - pos)
            self._bs = pos = be
        w += self._header
        self._bend = self._bs + B
        self._prev = None
        if self._extra and self._fsize <= self._bs + B:
            self._extend(self._bs + B + self._extra)
        return pos + 5

    def _post_lz4_first(self, msgid: int, seq: int, body: bytes, next_block: bool) -> None:
        """An LZ4 record that starts a block: absolute seq, compressed without dictionary; a new
        block is started unless the current one has no record yet and it fits
        (``docs/storage-format.md#lz4-blocks``)."""
        B = self.meta.block
        u = _MSG_PACK(msgid, seq) + body
        c = _COMPRESS(u, "default", False)
        size = len(c) + 5
        pos = self._pos
        if next_block or pos + max(size, MIN_RECORD) > self._bend:
            if size > B - 5:
                raise StorageError(f"{self.path}: lz4 record seq {seq} of {size} bytes does not fit "
                                   f"a block of {B} bytes")
            pos = self._new_block(pos)
        w = self._wbuf
        w += _WORD_PACK(size | self._mask)
        w += c
        w.append(0x80)
        self._pos = pos + size
        self._prev = u

    def _write_rest(self, rec: bytes, pos: int, seq: int, done: int, err: OSError | None) -> None:
        """A direct write of one record came back short (``done`` bytes) or failed (``err``):
        continue it, or cut what reached the file and raise StorageWriteError."""
        if err is None:
            done, err = _pwrite_from(self._fd, rec, pos, done)
        if err is not None:
            self._cut(pos, done)
            raise StorageWriteError(f"{self.path}: seq {seq} not stored: {err.strerror or err} "
                                    f"(writing {len(rec)} bytes at offset {pos}); "
                                    f"{self._holds()}", self.path, 1, self.last_seq) from None

    def _try_reserve(self, end: int) -> None:
        try:
            self._reserve(end)
        except OSError:
            pass                    # no room reserved: the record goes by pwrite (flush)

    # -- stored state, reservation, failure ------------------------------------------------
    def _snapshot(self, seq: int) -> None:
        """Remember the stored state before the first record of a batch enters the buffer."""
        self._wpos = self._pos
        self._ok = (self._pos, self._bs, self.last_seq, self.first_seq, self._prev, seq)

    def _rollback(self) -> None:
        """Forget the records of the pending batch: back to the state of the stored data."""
        pos, bs, last, first, prev, _ = self._ok
        self._pos = self._wpos = pos
        self._bs = bs
        self._bend = bs + self.meta.block if pos != bs or not bs else -1
        self.last_seq, self.first_seq = last, first
        self._prev = prev
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
        pos, bs, last, first, prev, _ = self._ok
        pending, last_pending = self._pending, self.last_seq
        kept: list = []
        c = None
        if done:
            c = Cursor(self._fd, self.path, self.meta.block, self.meta.version, self._lz4, pos, bs)
            c.last_seq = last
            if self._lz4 and prev is not None:
                c.hist = bytearray(prev)        # our records use only the previous one
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
            self._bend = c.bs + self.meta.block if cut != c.bs or not c.bs else -1
            self.last_seq = c.last_seq
            if first is None:
                self.first_seq = kept[0].seq
            self._prev = _last_payload(c) if self._lz4 else None
        else:
            self._rollback()
            cut = pos
        self._cut(cut, pos + done - cut)
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
                self._through = False
                self._direct = not self._buffer
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
            done, err = _pwrite_from(self._fd, w, pos, 0)
            if err is not None:
                self._salvage(err, f"writing {n} bytes at offset {pos}", done)
            if end > self._fsize:
                self._fsize = end
        self._wpos = end
        w.clear()
        self._pending = 0
        self._ok = ()

    # -- lifetime --------------------------------------------------------------------------
    def _release(self) -> None:
        self._bend = -1                 # post takes the slow path, which reports "closed"
        self._through = self._direct = False
        self._prev = None
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            try:
                os.close(fd)
            except OSError as e:        # NFS and the like report write errors here
                raise StorageError(f"{self.path}: close failed: {e.strerror}") from None

    def close(self) -> None:
        """Write what is buffered and close the file (StorageWriteError if that write fails;
        the file is closed anyway)."""
        if self._fd >= 0:
            try:
                self.flush()
            finally:
                self._release()
