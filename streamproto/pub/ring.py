"""The pub+tcp server's ring of recent messages (``docs/network-format.md#pub-ring``), sans-I/O."""
from __future__ import annotations

import struct

from streamproto.errors import ChannelError, ConfigError

__all__ = ["PubRing", "DEFAULT_RING_SIZE", "FRAME"]

FRAME = struct.Struct("<Iiq")            # std frame: size, msgid, seq
DEFAULT_RING_SIZE = 1024 * 1024


class PubRing:
    """The server's ring of recent std frames in ``size`` bytes, laid out as the reference does.

    Entries (16-byte frame + body) are contiguous and never wrap: one that does not fit before
    the end of the area goes to its start. ``size // 64 - 1`` entries at most. Entries have
    absolute indices ``first .. next-1``.
    """

    def __init__(self, size: int = DEFAULT_RING_SIZE) -> None:
        if size < 1024:
            raise ConfigError(f"pub ring size {size} is too small (at least 1kb)")
        self.size = size
        self.nslots = size // 64
        self.capacity = self.nslots - 1
        try:
            self.data = bytearray(size)
            self.starts = [0] * self.nslots
            self.ends = [0] * self.nslots
            self.seqs = [0] * self.nslots
        except MemoryError:
            raise ConfigError(f"pub ring size {size}: not enough memory for the ring") from None
        self.view = memoryview(self.data)
        self.first = 0
        self.next = 0
        self.wrap = -1    # index of the newest entry placed at offset 0 after a wrap
        self.tail = 0     # end offset of the newest entry
        self.half = size // 2

    def __len__(self) -> int:
        return self.next - self.first

    def clear(self) -> None:
        """Drop every entry (indices keep increasing)."""
        self.first = self.next
        self.wrap = -1

    @property
    def last_seq(self) -> int:
        """Seq of the newest entry, -1 when empty."""
        return self.seqs[(self.next - 1) % self.nslots] if self.next > self.first else -1

    def max_body(self) -> int:
        """Largest body a post accepts: ``16 + len(body) <= size / 2``."""
        return self.size // 2 - 16

    def _place(self, full: int, first: int) -> int:
        """Offset where an entry of ``full`` bytes goes if entries before ``first`` were gone; -1 if none."""
        n = self.next - first
        if n >= self.capacity:
            return -1
        if n == 0:
            return 0
        head = self.starts[first % self.nslots]
        tail = self.ends[(self.next - 1) % self.nslots]
        if tail > head:
            if self.size - tail >= full:
                return tail
            return 0 if head >= full else -1
        return tail if head - tail >= full else -1

    def evictions_needed(self, full: int) -> int:
        """How many oldest entries a push of ``full`` bytes has to evict."""
        k = 1 if self.next > self.first else 0
        while self._place(full, self.first + k) < 0:
            k += 1
        return k

    def evict(self, count: int) -> None:
        """Drop the ``count`` oldest entries."""
        self.first = min(self.first + count, self.next)

    def try_push(self, msgid: int, seq: int, body: bytes | bytearray | memoryview) -> bool:
        """Store one message if it fits without evicting anything; False otherwise.

        ChannelError when the message can never fit (``16 + len(body) > size / 2``).
        """
        size = len(body)
        full = 16 + size
        if full > self.half:
            raise ChannelError(f"pub post: message of {size} bytes (seq {seq}) is too large for "
                               f"a ring of {self.size} bytes (at most {self.max_body()})")
        nxt = self.next
        n = nxt - self.first
        if n == 0:
            off = 0
        else:
            if n >= self.capacity:
                return False
            head = self.starts[self.first % self.nslots]
            tail = self.tail
            if tail > head:
                if self.size - tail >= full:
                    off = tail
                elif head >= full:
                    off = 0
                    self.wrap = nxt
                else:
                    return False
            elif head - tail >= full:
                off = tail
            else:
                return False
        end = off + full
        FRAME.pack_into(self.data, off, size, msgid, seq)
        self.data[off + 16:end] = body
        i = nxt % self.nslots
        self.starts[i] = off
        self.ends[i] = end
        self.seqs[i] = seq
        self.tail = end
        self.next = nxt + 1
        return True

    def push(self, msgid: int, seq: int, body: bytes | bytearray | memoryview) -> int:
        """Store one message, evicting the oldest entries as needed; returns how many were evicted."""
        if self.try_push(msgid, seq, body):
            return 0
        k = self.evictions_needed(16 + len(body))
        self.evict(k)
        self.try_push(msgid, seq, body)
        return k

    def run(self, index: int, pos: int) -> tuple[memoryview, int]:
        """Contiguous bytes from entry ``index`` (``pos`` bytes of it already sent) and the index of the last entry included."""
        last = self.next - 1
        if index < self.wrap <= last:
            last = self.wrap - 1
        return (self.view[self.starts[index % self.nslots] + pos:self.ends[last % self.nslots]],
                last)
