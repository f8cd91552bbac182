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
``io="posix"`` writes with ``pwrite`` and no padding. ``stored_scheme`` is put into a new file's metadata verbatim (convert); else
``scheme`` is stored as the reference does (``yamls+gz``). ``buffer=N`` batches up to N bytes in memory before writing (``flush()`` writes
now); the default ``0`` writes every record as it is posted, so other readers see it at once.

Unlike the reference: a record is never written across a block boundary (bodies over
``block - 22`` bytes, or LZ4 records over ``block - 5``, are refused); nothing is placed in the
last 16 bytes of a block; an LZ4 block always starts with an absolute seq.
"""
from __future__ import annotations

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
from streamproto.storage.cursor import HIST_KEEP
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


class SeqError(StorageError, ChannelError):
    """A post with a seq that is not greater than the last stored one."""


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


class FileWriter(MetaView, Closeable):
    """Appends messages to a ``file://`` storage file (see module docstring)."""

    def __init__(self, path: str | os.PathLike, *, block: int = DEFAULT_BLOCK,
                 compression: str | int = "none", version: int = 0, scheme: Any = None,
                 io: str = "mmap", extra_space: int | None = None, autoseq: bool = False,
                 overwrite: bool = False, access_mode: int = 0o644, buffer: int = 0,
                 stored_scheme: str | None = None):
        self.path = os.fspath(path)
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
        self._mm: mmap.mmap | None = None
        self._buffer = buffer
        self._extra_bytes = extra_space if extra_space is not None else (1 if io == "mmap" else 0)
        if os.path.isdir(self.path):
            raise StorageError(f"cannot open {self.path} for writing: is a directory")
        self._fd = -1
        exists = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        if exists and not overwrite:
            self._reopen()
        else:
            meta = FileMeta(block=block, version=version, compression=compression,
                            scheme=stored_scheme if stored_scheme is not None
                            else scheme_string(scheme))
            self._create(meta, access_mode)
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
        try:
            self._fd, tmp = tempfile.mkstemp(prefix=base + ".", dir=d)
        except OSError as e:
            raise StorageError(f"cannot create {self.path}: {e.strerror}") from None
        try:
            os.fchmod(self._fd, access_mode)
            os.pwrite(self._fd, raw, 0)
            self._lock()
            os.rename(tmp, self.path)
        except BaseException:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            if os.path.exists(tmp):
                os.unlink(tmp)
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
        try:
            with FileReader(self.path) as r:
                self.meta = r.meta
                first = r.first_seq
                c = r.scan_end()
            B = self.meta.block
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
            same = pos == c.pos                     # still appending inside the scanned block
            self._setup(pos=pos, bs=bs, fsize=fsize, last=c.last_seq, first=first,
                        hist=c.hist if same else bytearray(), block_has_data=same and bool(c.hist))
        except BaseException:
            os.close(self._fd)
            self._fd = -1
            raise

    def _setup(self, *, pos: int, bs: int, fsize: int, last: int | None, first: int | None,
               hist: bytearray, block_has_data: bool) -> None:
        B = self.meta.block
        self._pos, self._bs, self._fsize = pos, bs, fsize
        self.last_seq, self.first_seq = last, first
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
        if self._extra:
            end = bs + B if (pos != bs or not bs) else bs
            self._extend(end + self._extra)
        if self._io == "mmap":
            self._mm = mmap.mmap(self._fd, self._fsize)

    def _extend(self, size: int) -> None:
        if size > self._fsize:
            os.ftruncate(self._fd, size)
            self._fsize = size
            if self._mm is not None:
                self._mm.close()
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

        Raises SeqError when ``seq <= last_seq`` and StorageError when the record cannot fit a
        block. Nothing is written when an error is raised.
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
            self._post_lz4(msgid, seq, body)
        else:
            size = 17 + len(body)
            if size > B - 5:
                raise StorageError(f"{self.path}: message seq {seq} of {len(body)} bytes does not fit "
                                   f"a block of {B} bytes (largest body: {B - 22})")
            pos = self._pos
            if pos + size > self._bs + B or pos == self._bs and self._bs:
                pos = self._new_block(pos)
            mm = self._mm
            end = pos + size
            if mm is not None and not self._wbuf and not self._buffer and end <= self._fsize:
                # write-through into the map: body first, the frame word last
                _MSG.pack_into(mm, pos + 4, msgid, seq)
                mm[pos + 16:end - 1] = body
                mm[end - 1] = 0x80
                _WORD.pack_into(mm, pos, size | self._mask)
                self._pos = self._wpos = end
                self.last_seq = seq
                if self.first_seq is None:
                    self.first_seq = seq
                return seq
            w = self._wbuf
            w += self._rec(size | self._mask, msgid, seq)
            w += body
            w.append(0x80)
            self._pos = end
        self.last_seq = seq
        if self.first_seq is None:
            self.first_seq = seq
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
        if 12 + len(body) > B:
            raise StorageError(f"{self.path}: message seq {seq} of {len(body)} bytes does not fit "
                               f"a block of {B} bytes")
        pos = self._pos
        started = pos != self._bs or not self._bs
        if started and self._block_has_data:
            u = _MSG.pack(msgid, seq - self.last_seq) + bytes(body)
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
        h = self._hist
        h += u
        if len(h) > 4 * HIST_KEEP:
            del h[:-HIST_KEEP]
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

    def flush(self) -> None:
        """Write buffered records to the file."""
        w = self._wbuf
        if not w:
            return
        pos = self._wpos
        end = pos + len(w)
        mm = self._mm
        if mm is not None and end <= self._fsize and len(w) > 4:
            with memoryview(w) as v:
                mm[pos + 4:end] = v[4:]
                mm[pos:pos + 4] = v[:4]  # the frame word last: readers never see half a record
            self._wpos = end
            w.clear()
            return
        if w:
            try:
                os.pwrite(self._fd, w, self._wpos)
            except OSError as e:
                raise StorageError(f"{self.path}: write of {len(w)} bytes at offset {self._wpos} "
                                   f"failed: {e.strerror}") from None
            end = self._wpos + len(w)
            if end > self._fsize:
                self._fsize = end
            self._wpos = end
            w.clear()

    def close(self) -> None:
        if self._fd >= 0:
            try:
                self.flush()
            finally:
                if self._mm is not None:
                    self._mm.close()
                    self._mm = None
                os.close(self._fd)
                self._fd = -1

