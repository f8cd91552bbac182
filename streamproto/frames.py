"""Sans-I/O frame readers and writers of TLL's ``tcp://`` channel (``docs/network-format.md#tcp-frames``).

A frame is a fixed little-endian header in front of each message body. Variants (init parameter
``frame``): ``std`` (``l4m4s8``, 16 bytes), ``short`` (``l2m2s8``, 12), ``tiny`` (``l2m2s4``, 8),
``size32`` (``l4``, 4), ``bson`` (4 bytes counted in the size and kept in the body) and ``none``
(no framing: each received chunk is one message).

Unlike the reference sender, :meth:`FrameFormat.encode` refuses values that do not fit the
header (a 70000-byte body in a ``short`` frame would silently corrupt the stream there) with a
:class:`~streamproto.errors.LocalProtocolError`; received bytes that break the framing raise
:class:`~streamproto.errors.RemoteProtocolError`.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, Iterator

from streamproto.errors import ConfigError, LocalProtocolError, RemoteProtocolError

__all__ = ["FrameFormat", "FRAMES", "frame_format", "FrameReader", "DEFAULT_RECV_LIMIT"]

DEFAULT_RECV_LIMIT = 256 * 1024


@dataclass(frozen=True)
class FrameFormat:
    """One frame variant: header layout and the ranges its fields can hold."""

    name: str
    header: struct.Struct | None   # None for `none`
    fields: str                    # "sms" (size, msgid, seq), "s" (size only), "" (none)
    size_max: int
    msgid_bits: int = 0
    seq_bits: int = 0
    size_includes_header: bool = False   # bson

    @property
    def header_size(self) -> int:
        return self.header.size if self.header is not None else 0

    def encode_header(self, size: int, msgid: int = 0, seq: int = 0) -> bytes:
        """Header bytes for a body of ``size`` bytes; LocalProtocolError if a value does not fit."""
        self._check(size, msgid, seq)
        if self.header is None or self.size_includes_header:
            return b""
        if self.fields == "s":
            return self.header.pack(size)
        return self.header.pack(size, msgid, seq)

    def encode(self, msgid: int, seq: int, body: bytes | bytearray | memoryview) -> bytes:
        """Header + body as one bytes object."""
        return self.encode_header(len(body), msgid, seq) + bytes(body)

    def _check(self, size: int, msgid: int, seq: int) -> None:
        if size > self.size_max:
            raise LocalProtocolError(f"frame {self.name}: body of {size} bytes does not fit "
                                     f"(at most {self.size_max})")
        if self.msgid_bits:
            lim = 1 << (self.msgid_bits - 1)
            if not -lim <= msgid < lim:
                raise LocalProtocolError(f"frame {self.name}: msgid {msgid} does not fit "
                                         f"int{self.msgid_bits}")
        if self.seq_bits:
            lim = 1 << (self.seq_bits - 1)
            if not -lim <= seq < lim:
                raise LocalProtocolError(f"frame {self.name}: seq {seq} does not fit "
                                         f"int{self.seq_bits}")


_STD = FrameFormat("std", struct.Struct("<Iiq"), "sms", 0xFFFFFFFF, 32, 64)
_SHORT = FrameFormat("short", struct.Struct("<Hhq"), "sms", 0xFFFF, 16, 64)
_TINY = FrameFormat("tiny", struct.Struct("<Hhi"), "sms", 0xFFFF, 16, 32)
_SIZE32 = FrameFormat("size32", struct.Struct("<I"), "s", 0xFFFFFFFF)
_BSON = FrameFormat("bson", struct.Struct("<I"), "s", 0xFFFFFFFF, size_includes_header=True)
_NONE = FrameFormat("none", None, "", 1 << 62)

#: Every accepted spelling of ``frame=``.
FRAMES: dict[str, FrameFormat] = {
    "std": _STD, "l4m4s8": _STD,
    "short": _SHORT, "l2m2s8": _SHORT,
    "tiny": _TINY, "l2m2s4": _TINY,
    "size32": _SIZE32, "l4": _SIZE32,
    "bson": _BSON,
    "none": _NONE,
}


def frame_format(name: str | FrameFormat) -> FrameFormat:
    """The :class:`FrameFormat` for a ``frame=`` value; ConfigError for an unknown one."""
    if isinstance(name, FrameFormat):
        return name
    try:
        return FRAMES[name]
    except KeyError:
        raise ConfigError(f"parameter 'frame': unknown frame {name!r} "
                          f"(expected one of {', '.join(FRAMES)})") from None


class FrameReader:
    """Cuts received bytes into ``(msgid, seq, body)`` frames.

    Fast path: :meth:`parse` ``(data, on_frame)`` calls ``on_frame(msgid, seq, body)`` for every
    complete frame, slicing bodies straight out of the received chunk; only an incomplete tail
    is kept (chunks of one large frame are collected and joined once). Convenience path:
    :meth:`feed` then iterate :meth:`frames`. A frame whose header + body exceeds ``limit``
    raises RemoteProtocolError and the reader stays failed: the buffer never grows past the
    limit. Exceptions raised by ``on_frame`` pass through untouched.
    """

    def __init__(self, frame: str | FrameFormat = "std", limit: int = DEFAULT_RECV_LIMIT,
                 where: str = "connection") -> None:
        self.format = frame_format(frame)
        self.limit = limit
        self.where = where
        self._parts: list[bytes] = []   # incomplete tail, possibly in several chunks
        self._have = 0                  # bytes in _parts
        self._need = 0                  # bytes needed before parsing again
        self._offset = 0                # stream offset of the first byte of _parts
        self._error: RemoteProtocolError | None = None
        self._ready: list[tuple[int, int, bytes]] = []
        self._hsize = self.format.header_size

    @property
    def pending(self) -> int:
        """Bytes received but not yet returned as a frame."""
        return self._have

    def parse(self, data: bytes | bytearray | memoryview,
              on_frame: Callable[[int, int, bytes], object]) -> None:
        """Consume received bytes, calling ``on_frame(msgid, seq, body)`` per complete frame."""
        if self._error is not None:
            raise self._error
        if type(data) is not bytes:
            data = bytes(data)
        fmt = self.format
        header = fmt.header
        if header is None:              # none: one message per received chunk
            self._offset += len(data)
            if data:
                on_frame(0, 0, data)
            return
        if self._parts:
            self._parts.append(data)
            self._have += len(data)
            if self._have < self._need:
                return
            data = b"".join(self._parts)
            self._parts = []
            self._have = 0
        hsize, unpack, limit = self._hsize, header.unpack_from, self.limit
        sms, inclusive = fmt.fields == "sms", fmt.size_includes_header
        off, end, need = 0, len(data), hsize
        try:
            while end - off >= hsize:
                if sms:
                    size, msgid, seq = unpack(data, off)
                else:
                    size, = unpack(data, off)
                    msgid = seq = 0
                if inclusive:
                    if size < hsize:
                        self._fail(f"bson frame size {size} is smaller than its own 4-byte "
                                   "header", off)
                    full, body = size, off
                else:
                    full, body = hsize + size, off + hsize
                if full > limit:
                    self._fail(f"frame of {full} bytes (msgid {msgid}, seq {seq}) exceeds the "
                               f"receive limit of {limit} bytes", off)
                if end - off < full:
                    need = full
                    break
                on_frame(msgid, seq, data[body:off + full])
                off += full
        finally:
            self._offset += off
            if off < end and self._error is None:
                rest = data[off:] if off else data
                self._parts = [rest]
                self._have = len(rest)
                self._need = need

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Consume received bytes; complete frames are then returned by :meth:`frames`."""
        ready = self._ready
        self.parse(data, lambda m, s, b: ready.append((m, s, b)))

    def frames(self) -> Iterator[tuple[int, int, bytes]]:
        """Yield (and forget) the frames completed by :meth:`feed` calls so far."""
        ready, self._ready = self._ready, []
        yield from ready

    def _fail(self, text: str, pos: int) -> None:
        self._error = RemoteProtocolError(f"{self.where}: {text} at stream offset "
                                          f"{self._offset + pos}")
        raise self._error
