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
from typing import Callable, Iterable, Iterator

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

    def encode_many(self, messages: Iterable[tuple[int, int, bytes | bytearray | memoryview]]
                    ) -> bytes:
        """Header + body of every ``(msgid, seq, body)`` as one bytes object (one pass).

        Raises LocalProtocolError naming the first message whose values do not fit the header.
        """
        msgs = messages if isinstance(messages, list) else list(messages)
        h = self.header
        if h is not None and self.fields == "sms":
            pack = h.pack       # struct refuses exactly what _check refuses, only faster
            try:
                return b"".join([pack(len(b), m, s) + b for m, s, b in msgs])
            except struct.error:
                pass            # name the culprit below
        enc = self.encode_header
        return b"".join([enc(len(b), m, s) + bytes(b) for m, s, b in msgs])

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

    Fast path: :meth:`split` ``(data, out)`` appends every complete frame of a received chunk
    to a list in one pass, slicing bodies straight out of the chunk; :meth:`parse`
    ``(data, on_frame)`` calls ``on_frame(msgid, seq, body)`` for each instead. Only an
    incomplete tail is kept (chunks of one large frame are collected and joined once). Convenience path:
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
        h = self.format
        self._hsize = h.header_size
        self._unpack = h.header.unpack_from if h.header is not None else None
        self._runs: dict[int, struct.Struct] = {}   # body size -> header + body struct
        self._skip_runs = 0                         # buffers to parse without trying runs

    @property
    def pending(self) -> int:
        """Bytes received but not yet returned as a frame."""
        return self._have

    def parse(self, data: bytes | bytearray | memoryview,
              on_frame: Callable[[int, int, bytes], object]) -> None:
        """Consume received bytes, calling ``on_frame(msgid, seq, body)`` per complete frame."""
        out: list[tuple[int, int, bytes]] = []
        try:
            self.split(data, out)
        except RemoteProtocolError:
            for m, s, b in out:
                on_frame(m, s, b)
            raise
        for m, s, b in out:
            on_frame(m, s, b)

    def split(self, data: bytes | bytearray | memoryview,
              out: list[tuple[int, int, bytes]]) -> None:
        """Consume received bytes: append every complete frame to ``out`` in one pass.

        Frames are ``(msgid, seq, body)`` tuples (``size32``/``bson``: msgid and seq 0), bodies
        sliced straight out of the received chunk. On a bad frame the good frames before it
        are in ``out`` when RemoteProtocolError is raised.
        """
        if self._error is not None:
            raise self._error
        if type(data) is not bytes:
            data = bytes(data)
        fmt = self.format
        if fmt.header is None:          # none: one message per received chunk
            self._offset += len(data)
            if data:
                out.append((0, 0, data))
            return
        if self._parts:
            self._parts.append(data)
            self._have += len(data)
            if self._have < self._need:
                return
            data = b"".join(self._parts)
            self._parts = []
            self._have = 0
        hsize, unpack, limit = self._hsize, self._unpack, self.limit
        assert unpack is not None       # the format has a header (checked above)
        ap = out.append
        off, end, need = 0, len(data), hsize
        try:
            if fmt.fields == "sms":     # std, short, tiny: the hot loop
                if end >= 2 * hsize and not self._skip_runs:
                    off = self._uniform_run(data, out)
                elif self._skip_runs:
                    self._skip_runs -= 1
                while end - off >= hsize:
                    size, msgid, seq = unpack(data, off)
                    e = off + hsize + size
                    if e > end:
                        need = hsize + size
                        if need > limit:
                            self._too_big(need, msgid, seq, off)
                        break
                    if e - off > limit:
                        self._too_big(e - off, msgid, seq, off)
                    ap((msgid, seq, data[off + hsize:e]))
                    off = e
            else:                       # size32, bson
                inclusive = fmt.size_includes_header
                while end - off >= hsize:
                    size, = unpack(data, off)
                    if inclusive:
                        if size < hsize:
                            self._fail(f"bson frame size {size} is smaller than its own 4-byte "
                                       "header", off)
                        full, body = size, off
                    else:
                        full, body = hsize + size, off + hsize
                    if full > limit:
                        self._too_big(full, 0, 0, off)
                    if end - off < full:
                        need = full
                        break
                    ap((0, 0, data[body:off + full]))
                    off += full
        finally:
            self._offset += off
            if off < end and self._error is None:
                rest = data[off:] if off else data
                self._parts = [rest]
                self._have = len(rest)
                self._need = need

    def _uniform_run(self, data: bytes, out: list[tuple[int, int, bytes]]) -> int:
        """Frames of one body size (fixed-size messages, the common case) at the start of
        ``data``, cut by C loops: the size fields are checked with strided slices, then one
        ``iter_unpack`` skipping them yields the ``(msgid, seq, body)`` tuples.
        Returns the offset where the general loop goes on (0 when it was not such a run)."""
        hsize, unpack = self._hsize, self._unpack
        assert unpack is not None       # split calls it for formats with a header
        size = unpack(data, 0)[0]
        full = hsize + size
        n = len(data) // full
        if n < 2 or full > self.limit or unpack(data, full)[0] != size:
            return 0
        h = self.format.header
        assert h is not None
        width = struct.calcsize("<" + h.format[1])      # bytes of the size field
        end = n * full
        for i, b in enumerate(data[:width]):
            if data[i:end:full].count(b) != n:
                self._skip_runs = 8     # mixed sizes: do not try again for a while
                return 0
        st = self._runs.get(size)
        if st is None:
            if len(self._runs) > 64:
                self._runs.clear()
            st = self._runs[size] = struct.Struct(f"<{width}x{h.format[2:]}{size}s")
        out += st.iter_unpack(memoryview(data)[:end])
        return end

    def _too_big(self, full: int, msgid: int, seq: int, pos: int) -> None:
        self._fail(f"frame of {full} bytes (msgid {msgid}, seq {seq}) exceeds the "
                   f"receive limit of {self.limit} bytes", pos)

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
