"""Sans-I/O frame readers and writers of TLL's ``tcp://`` channel (spec network.md §2.2).

A frame is a fixed little-endian header in front of each message body. Variants (init parameter
``frame``): ``std`` (``l4m4s8``, 16 bytes), ``short`` (``l2m2s8``, 12), ``tiny`` (``l2m2s4``, 8),
``size32`` (``l4``, 4), ``bson`` (4 bytes counted in the size and kept in the body) and ``none``
(no framing: each received chunk is one message).

Unlike the reference sender, :meth:`FrameFormat.encode` refuses values that do not fit the
header (a 70000-byte body in a ``short`` frame would silently corrupt the stream there).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterator

from streamproto.errors import ConfigError, ProtocolError

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
        """Header bytes for a body of ``size`` bytes; raises ProtocolError when a value does not fit."""
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
            raise ProtocolError(f"frame {self.name}: body of {size} bytes does not fit "
                                f"(at most {self.size_max})")
        if self.msgid_bits:
            lim = 1 << (self.msgid_bits - 1)
            if not -lim <= msgid < lim:
                raise ProtocolError(f"frame {self.name}: msgid {msgid} does not fit "
                                    f"int{self.msgid_bits}")
        if self.seq_bits:
            lim = 1 << (self.seq_bits - 1)
            if not -lim <= seq < lim:
                raise ProtocolError(f"frame {self.name}: seq {seq} does not fit int{self.seq_bits}")


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
    """Accumulates received bytes and cuts them into ``(msgid, seq, body)`` frames.

    Feed it with :meth:`feed` or, zero-copy, with :meth:`get_buffer` + :meth:`buffer_updated`
    (the asyncio ``BufferedProtocol`` pair); then iterate :meth:`frames`. A frame whose
    header + body exceeds ``limit`` raises ProtocolError (the reader then stays failed): the
    buffer never grows past the limit.
    """

    def __init__(self, frame: str | FrameFormat = "std", limit: int = DEFAULT_RECV_LIMIT,
                 where: str = "connection") -> None:
        self.format = frame_format(frame)
        self.limit = limit
        self.where = where
        self._buf = bytearray(max(4096, min(limit, 64 * 1024)))
        self._start = 0      # first unparsed byte
        self._end = 0        # end of received data
        self._offset = 0     # stream offset of _buf[0] (for error messages)
        self._error: ProtocolError | None = None
        h = self.format
        self._hsize = h.header_size
        self._unpack = h.header.unpack_from if h.header is not None else None

    @property
    def pending(self) -> int:
        """Bytes received but not yet returned as a frame."""
        return self._end - self._start

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes."""
        n = len(data)
        view = self.get_buffer(n)
        view[:n] = data
        self.buffer_updated(n)

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Writable space at the end of the buffer (at least ``sizehint`` bytes when given)."""
        want = max(sizehint, 1024)
        if len(self._buf) - self._end < want:
            self._compact(want)
        return memoryview(self._buf)[self._end:]

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were written into the view returned by :meth:`get_buffer`."""
        self._end += nbytes

    def _compact(self, want: int) -> None:
        keep = self._end - self._start
        if self._start:
            self._buf[:keep] = self._buf[self._start:self._end]
            self._offset += self._start
            self._start, self._end = 0, keep
        if len(self._buf) - keep < want:
            self._buf.extend(bytes(max(want - (len(self._buf) - keep), len(self._buf))))

    def frames(self) -> Iterator[tuple[int, int, bytes]]:
        """Yield every complete frame buffered so far as ``(msgid, seq, body)``."""
        if self._error is not None:
            raise self._error
        buf, hsize, fmt = self._buf, self._hsize, self.format
        if fmt.header is None:           # none: one message per received chunk
            if self._end > self._start:
                body = bytes(buf[self._start:self._end])
                self._offset += self._end
                self._start = self._end = 0
                yield 0, 0, body
            return
        unpack, limit, sms = self._unpack, self.limit, fmt.fields == "sms"
        while True:
            start, end = self._start, self._end
            if end - start < hsize:
                break
            if sms:
                size, msgid, seq = unpack(buf, start)
            else:
                size, = unpack(buf, start)
                msgid = seq = 0
            if fmt.size_includes_header:
                full, bstart = size, start
                if size < hsize:
                    self._fail(f"bson frame size {size} is smaller than its own 4-byte header",
                               start)
            else:
                full, bstart = hsize + size, start + hsize
            if full > limit:
                self._fail(f"frame of {full} bytes (msgid {msgid}, seq {seq}) exceeds the "
                           f"receive limit of {limit} bytes", start)
            if end - start < full:
                if len(buf) < full:     # make room for the whole frame, once
                    self._compact(full - (end - start))
                    buf = self._buf
                break
            self._start = start + full
            yield msgid, seq, bytes(buf[bstart:start + full])
        if self._start == self._end:
            self._offset += self._start
            self._start = self._end = 0

    def _fail(self, text: str, pos: int) -> None:
        self._error = ProtocolError(f"{self.where}: {text} at stream offset {self._offset + pos}")
        raise self._error
