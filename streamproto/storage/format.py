"""Byte layout of TLL ``file://`` storage: constants, the metadata record, frame words.

A file is a sequence of ``block``-sized blocks; block 0 starts with the metadata record,
every other block with a 5-byte header frame. Records are ``frame i32 | payload | 0x80``;
the frame word counts the whole record. Version 1 sets bit 31 of every frame word except the
one at offset 0. See ``docs/storage-format.md`` for the full rules.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from streamproto.errors import StorageError

META_ID = 0x6174654D          # b"Meta"
BLOCK_ID = 0x6B636C42         # b"Blck" (declared by the reference, never written)
TAIL = 0x80
SKIP = b"\xff\xff\xff\xff"
MARKER = 0x80000000
HDR = 12                      # msgid i32 + seq i64
MIN_RECORD = 17               # 4 + 12 + 1
META_FIXED = 32               # fixed part of the Meta body
META_MAX = 4 * 1024 * 1024
DEFAULT_BLOCK = 1024 * 1024

COMPRESSION = {"none": 0, "lz4": 1}
COMPRESSION_NAMES = {v: k for k, v in COMPRESSION.items()}

_META_HEAD = struct.Struct("<iiq")           # frame, msgid, seq
_META_BODY = struct.Struct("<HBBIIIQII")     # meta_size version compression block sptr(off,w) flags aptr
FRAME = struct.Struct("<i")
UFRAME = struct.Struct("<I")


class StorageFormatError(StorageError):
    """The bytes of a storage file break the format (names the file and byte offset)."""

    def __init__(self, path: object, offset: int | None, what: str):
        self.path, self.offset, self.what = str(path), offset, what
        where = f"{self.path}" + (f" at offset {offset} (0x{offset:x})" if offset is not None else "")
        super().__init__(f"{where}: {what}")


@dataclass(frozen=True)
class FileMeta:
    """Parsed metadata record: block size, version (0/1), compression (0 none / 1 lz4), scheme URL."""

    block: int
    version: int = 0
    compression: int = 0
    scheme: str = ""          # stored scheme URL, e.g. "yamls+gz://eJ..."; "" when absent
    flags: int = 0
    size: int = 0             # size of the whole meta record (its frame word)

    @property
    def compression_name(self) -> str:
        return COMPRESSION_NAMES[self.compression]


def encode_meta(block: int, version: int = 0, compression: int = 0, scheme: str = "") -> bytes:
    """The metadata record exactly as the reference writer lays it out (no v1 marker at offset 0)."""
    if scheme:
        raw = scheme.encode("utf-8")
        tail = raw + b"\0"
        sptr = (24, (len(tail) & 0xFFFFFF) | (1 << 24))
        if len(tail) > 0xFFFFFF:
            raise StorageError(f"scheme string of {len(raw)} bytes is too long for the metadata")
    else:
        tail, sptr = b"", (0, 0)
    body = _META_BODY.pack(META_FIXED, version, compression, block, sptr[0], sptr[1], 0, 0, 0) + tail
    frame = 4 + HDR + len(body) + 1
    return _META_HEAD.pack(frame, META_ID, 0) + body + b"\x80"


def decode_meta(data: bytes, path: object) -> FileMeta:
    """Parse the metadata record from the first bytes of a file (at least the whole record)."""
    if len(data) < 16:
        raise StorageFormatError(path, 0, f"truncated file: {len(data)} bytes, no metadata header")
    frame, msgid, _seq = _META_HEAD.unpack_from(data, 0)
    if msgid != META_ID:
        raise StorageFormatError(path, 4, f"not a TLL data file (msgid 0x{msgid & 0xFFFFFFFF:08x}, "
                                          f"expected 0x{META_ID:08x} 'Meta')")
    if frame < 16 + META_FIXED + 1 or frame > META_MAX:
        raise StorageFormatError(path, 0, f"invalid metadata frame size {frame}")
    if len(data) < frame:
        raise StorageFormatError(path, len(data), f"truncated metadata: record of {frame} bytes, "
                                                  f"file has {len(data)}")
    if not data[frame - 1] & TAIL:
        raise StorageFormatError(path, frame - 1, "truncated metadata: tail byte not written")
    (_msize, version, compression, block, soff, sw, flags, _aoff, _aw) = _META_BODY.unpack_from(data, 16)
    if version >= 2:
        raise StorageFormatError(path, 18, f"unsupported version {version} (supported: 0, 1)")
    if compression not in COMPRESSION_NAMES:
        raise StorageFormatError(path, 19, f"unsupported compression {compression} (supported: 0 none, 1 lz4)")
    if block < 64:
        raise StorageFormatError(path, 20, f"invalid block size {block}")
    if frame > block:
        raise StorageFormatError(path, 0, f"metadata record of {frame} bytes exceeds block size {block}")
    scheme = ""
    ssize = sw & 0xFFFFFF
    if ssize:
        start = 24 + soff
        end = start + ssize - 1
        if soff < 24 or end + 1 > frame - 1:
            raise StorageFormatError(path, 24, f"scheme pointer (offset {soff}, size {ssize}) points "
                                               f"outside the metadata record of {frame} bytes")
        try:
            scheme = bytes(data[start:end]).decode("utf-8")
        except UnicodeDecodeError as e:
            raise StorageFormatError(path, start + e.start, "scheme string is not UTF-8 text") from None
    return FileMeta(block=block, version=version, compression=compression, scheme=scheme,
                    flags=flags, size=frame)


def block_header(version: int) -> bytes:
    """The 5-byte record the reference writes at the start of every block >= 1."""
    return b"\x05\x00\x00\x80\x80" if version >= 1 else b"\x05\x00\x00\x00\x80"


def frame_value(word: int, version: int) -> int:
    """Interpret an unsigned frame word: 0 = no data yet, -1 = skip, else the record size.

    In version 1 an unmarked word (bit 31 clear) is "no data yet". Other negative values are
    returned as they are (the caller reports them).
    """
    if version >= 1:
        if not word & MARKER:
            return 0
        if word == 0xFFFFFFFF:
            return -1
        return word & 0x7FFFFFFF
    return word - (1 << 32) if word & MARKER else word
