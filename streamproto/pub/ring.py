"""The pub+tcp server's ring of recent messages (``docs/network-format.md#pub-ring``), sans-I/O."""
from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from itertools import accumulate
from typing import Any, Sequence

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
        self._packs: dict[int, Any] = {}   # body size -> pack of frame + body

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

    # -- batches: the same layout and evictions as one push per message, copied in runs ------
    def frame_many(self, messages: Sequence[tuple[int, int, bytes | bytearray | memoryview]]
                   ) -> tuple[bytes, Sequence[int]]:
        """The framed entries of ``messages`` back to back, and their cumulative sizes
        (``cum[0] = 0``; a ``range`` when every body has the same size).

        ChannelError, before anything is stored, for a message that can never fit or whose
        msgid/seq do not fit the frame.
        """
        n = len(messages)
        lens = [len(m[2]) for m in messages]
        size = lens[0] if n else 0
        if n and lens.count(size) == n:         # fixed-size messages: one struct call each
            if 16 + size > self.half:
                self._too_large(size, messages[0][1])
            pack = self._packs.get(size)
            if pack is None:
                if len(self._packs) > 64:
                    self._packs.clear()
                pack = self._packs[size] = struct.Struct(f"<Iiq{size}s").pack
            try:
                return (b"".join([pack(size, m, s, b) for m, s, b in messages]),
                        range(0, (n + 1) * (16 + size), 16 + size))
            except struct.error:
                pass        # a body struct's "s" does not take (a memoryview), or a bad header
        try:
            if n and max(lens) + 16 > self.half:
                big = max(lens)
                self._too_large(big, messages[lens.index(big)][1])
            pack = FRAME.pack
            return (b"".join([pack(len(b), m, s) + b for m, s, b in messages]),
                    list(accumulate([16 + x for x in lens], initial=0)))
        except struct.error as e:
            raise ChannelError(f"pub post: {self._culprit(messages)}: {e}") from None

    def _too_large(self, size: int, seq: int) -> None:
        raise ChannelError(f"pub post: message of {size} bytes (seq {seq}) is too large for a "
                           f"ring of {self.size} bytes (at most {self.max_body()})")

    @staticmethod
    def _culprit(messages: Sequence[tuple[int, int, bytes | bytearray | memoryview]]) -> str:
        for m, s, b in messages:
            try:
                FRAME.pack(len(b), m, s)
            except struct.error:
                return f"message msgid {m}, seq {s}"
        return "a message"

    def plan(self, cum: Sequence[int], i: int) -> tuple[int, int]:
        """For the entries ``i..`` of a batch (``cum`` from :meth:`frame_many`): how many can
        be stored as one contiguous run, and how many oldest entries must be evicted first,
        exactly as one push per message would. ``(0, 0)``: let the next entry go alone
        (:meth:`push`; it wraps to the start of the area or empties the ring)."""
        n = self.next - self.first
        left = len(cum) - 1 - i
        most = min(left, self.capacity // 2)
        base = cum[i]
        if n == 0:
            k = min(bisect_right(cum, base + self.size, i) - 1 - i, most)
            return k, 0
        nslots, starts = self.nslots, self.starts
        head = starts[self.first % nslots]
        tail = self.tail
        if tail > head:     # live region [head, tail): entries go at the tail, no eviction for room
            k = min(bisect_right(cum, base + self.size - tail, i) - 1 - i, most)
            return k, max(0, n + k - self.capacity)
        # wrapped: room is [tail, head); evicting the oldest entries of the upper part
        # [first, wrap) moves head up, but never past its last entry (that is a regime change)
        last_upper = starts[(self.wrap - 1) % nslots]
        k = min(bisect_right(cum, base + last_upper - tail, i) - 1 - i, most)
        if k <= 0:
            return 0, 0
        need_end = tail + cum[i + k] - base
        e = bisect_left(range(self.first, self.wrap), need_end,
                        key=lambda j: starts[j % nslots])
        e = max(e, n + k - self.capacity)
        if self.first + e >= self.wrap:
            return 0, 0
        return k, e

    def place(self, blob: bytes, cum: Sequence[int], seqs: list[int], i: int, k: int) -> None:
        """Store the entries ``i..i+k`` at the position :meth:`plan` found (after its evictions)."""
        off = 0 if self.next == self.first else self.tail
        base, end = cum[i], cum[i + k]
        total = end - base
        with memoryview(blob) as v:
            self.data[off:off + total] = v[base:end]
        d = off - base
        if type(cum) is range:
            step = cum.step
            st: Sequence[int] = range(off, off + total, step)
            en: Sequence[int] = range(off + step, off + total + step, step)
        else:
            st = [c + d for c in cum[i:i + k]]
            en = [c + d for c in cum[i + 1:i + k + 1]]
        sq = seqs[i:i + k]
        nslots = self.nslots
        s0 = self.next % nslots
        cut = min(k, nslots - s0)
        self.starts[s0:s0 + cut] = st[:cut]
        self.ends[s0:s0 + cut] = en[:cut]
        self.seqs[s0:s0 + cut] = sq[:cut]
        if cut < k:
            self.starts[:k - cut] = st[cut:]
            self.ends[:k - cut] = en[cut:]
            self.seqs[:k - cut] = sq[cut:]
        self.tail = off + total
        self.next += k

    def push_many(self, messages: Sequence[tuple[int, int, bytes | bytearray | memoryview]]
                  ) -> int:
        """Store messages as :meth:`push` would one by one; returns how many entries were evicted."""
        blob, cum = self.frame_many(messages)
        seqs = [m[1] for m in messages]
        evicted, i, n = 0, 0, len(messages)
        while i < n:
            k, e = self.plan(cum, i)
            if not k:
                m, s, b = messages[i]
                evicted += self.push(m, s, b)
                i += 1
                continue
            self.first += e
            evicted += e
            self.place(blob, cum, seqs, i, k)
            i += k
        return evicted

    def run(self, index: int, pos: int) -> tuple[memoryview, int]:
        """Contiguous bytes from entry ``index`` (``pos`` bytes of it already sent) and the index of the last entry included."""
        last = self.next - 1
        if index < self.wrap <= last:
            last = self.wrap - 1
        return (self.view[self.starts[index % self.nslots] + pos:self.ends[last % self.nslots]],
                last)
