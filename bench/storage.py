"""Storage benchmark: write/read Transactions, uncompressed and LZ4, as ratios to bare floors.

    python bench/storage.py [--count 200000] [--repeat 3] [--big 10000000] [--seeks 200]
                            [--no-seek] [--dir DIR]

Every figure is the best of ``--repeat`` rounds of process CPU time, the cases of a table taking
turns within a round, and every ratio is a time ratio measured in the same run (1.00x = as fast
as the floor, 2.00x = twice its time):

* uncompressed write: a bare ``struct`` loop building the same bytes plus one file write;
* uncompressed read: a bare ``struct`` frame loop over the file's bytes;
* LZ4 write: a bare loop of ``lz4.block.compress`` over the records' uncompressed payloads
  (msgid, delta seq, body) with the dictionary the writer chooses (its policy is read from
  :mod:`streamproto.storage.writer`), called as the writer calls it (positional arguments);
  for reference also with no dictionary, a 4 KiB window, and keyword arguments;
* LZ4 read: a bare loop of ``lz4.block.decompress`` over the same compressed records with the
  same dictionaries (the block's history) and the reader's output bound, positional; for
  reference also the keyword call with a 4096-byte bound (the form issue 11 measured). Against
  it: iteration (a ``Data`` per record) and ``read_runs`` (the shared history's reader: runs
  of decompressed records, messages built only on access).

The floors get their arguments prepared outside the timed loop; the library does everything.
"""
from __future__ import annotations

import argparse
import os
import random
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lz4.block  # noqa: E402

from streamproto.events import Data  # noqa: E402
from streamproto.storage import FileReader, FileWriter  # noqa: E402
from streamproto.storage import writer as writer_mod  # noqa: E402

TX = struct.Struct("<qqqH")   # Transaction: time ns, id, price fixed2, count = 26 bytes
MSG = struct.Struct("<iq")


def bodies(n: int) -> list[bytes]:
    t0 = 1725290273492443617
    return [TX.pack(t0 + i * 1000, i, 97612 + i % 1000, i % 100) for i in range(min(n, 65536))]


def now() -> float:
    """Process CPU time (user + system): on a shared, busy machine it leaves out the time other
    processes hold the CPU, which wall time would count."""
    return time.process_time()


def write(path: str, n: int, buffer: int, io: str, lz4: bool = False, block: int = 1 << 20) -> float:
    bs = bodies(n)
    m = len(bs)
    t = now()
    with FileWriter(path, block=block, io=io, buffer=buffer, overwrite=True,
                    compression="lz4" if lz4 else "none") as w:
        post = w.post
        for i in range(n):
            post(10, i, bs[i % m])
    return now() - t


def read(path: str, n: int) -> float:
    t = now()
    k = 0
    with FileReader(path) as r:
        for _ in r:
            k += 1
    dt = now() - t
    assert k == n, (k, n)
    return dt


def read_runs(path: str, n: int, batch: int = 4096) -> float:
    """Everything through ``read_runs`` (counting the messages of each run, building none)."""
    t = now()
    k = 0
    with FileReader(path) as r:
        while got := r.read_runs(batch):
            for x in got:
                k += 1 if type(x) is Data else x.count
    dt = now() - t
    assert k == n, (k, n)
    return dt


# -- uncompressed floors ---------------------------------------------------------------------
def floor_read(path: str) -> float:
    """Bare struct frame loop: block headers, skip frames, tail check, (msgid, seq, body) tuples."""
    data = Path(path).read_bytes()
    t = now()
    B = struct.unpack_from("<I", data, 20)[0]
    uf = struct.Struct("<iiq").unpack_from
    pos = struct.unpack_from("<i", data, 0)[0]
    out = []
    ap = out.append
    bs, n = 0, len(data)
    while pos + 16 <= n:
        f, m, s = uf(data, pos)
        if pos + 17 > bs + B or f == -1:
            bs += B
            pos = bs + 5
            continue
        if f <= 0:
            break
        e = pos + f
        if data[e - 1] < 128:
            break
        ap((m, s, data[pos + 16:e - 1]))
        pos = e
    dt = now() - t
    assert len(out) > 0
    return dt


def floor_write(n: int) -> float:
    bs = bodies(n)
    m = len(bs)
    pack = struct.Struct("<iiq").pack
    t = now()
    buf = bytearray()
    for i in range(n):
        buf += pack(43, 10, i)
        buf += bs[i % m]
        buf.append(0x80)
    with tempfile.TemporaryFile() as f:
        f.write(buf)
    return now() - t


# -- LZ4 floors ------------------------------------------------------------------------------
def lz4_records(path: str) -> tuple[int, list[list[tuple[bytes, bytes]]]]:
    """(block size, blocks of (compressed record, uncompressed payload)) of an LZ4 file we wrote."""
    data = Path(path).read_bytes()
    B = struct.unpack_from("<I", data, 20)[0]
    v1 = data[18] >= 1
    pos = struct.unpack_from("<i", data, 0)[0]
    blocks: list[list[tuple[bytes, bytes]]] = []
    bs = 0
    while bs < len(data):
        recs: list[tuple[bytes, bytes]] = []
        hist = b""
        while bs + B - pos >= 17 and pos + 4 <= len(data):
            f = struct.unpack_from("<I", data, pos)[0]
            if f == 0xFFFFFFFF or f == 0 or (v1 and not f & 0x80000000):
                break
            f &= 0x7FFFFFFF
            c = data[pos + 4:pos + f - 1]
            u = lz4.block.decompress(c, uncompressed_size=B, dict=hist[-65536:])
            hist += u
            recs.append((c, u))
            pos += f
        if not recs:
            break
        blocks.append(recs)
        bs += B
        pos = bs + 5
    return B, blocks


def lz4_dict_views(blocks: list[list[tuple[bytes, bytes]]], window: Callable[[int, int], int],
                   which: int) -> list[tuple[bytes, memoryview]]:
    """(record part ``which``: 0 compressed, 1 payload; its dictionary) for every record.

    ``window(i, prev_len)`` is how many history bytes before record i are the dictionary.
    """
    out = []
    for recs in blocks:
        hist = memoryview(b"".join(u for _, u in recs))
        s = 0
        prev = 0
        for i, rec in enumerate(recs):
            w = min(window(i, prev), s)
            out.append((rec[which], hist[s - w:s]))
            s += len(rec[1])
            prev = len(rec[1])
    return out


def floor_lz4_read(pairs: list[tuple[bytes, memoryview]], size: int, keywords: bool = False) -> float:
    """Bare decompress loop; positional arguments (the reader's call) unless ``keywords``."""
    dec = lz4.block.decompress
    t = now()
    if keywords:
        for c, d in pairs:
            dec(c, uncompressed_size=size, dict=d)
    else:
        for c, d in pairs:
            dec(c, size, False, d)
    return now() - t


def floor_lz4_write(pairs: list[tuple[bytes, memoryview]], keywords: bool = False) -> float:
    """Bare compress loop; positional arguments (the writer's call) unless ``keywords``."""
    comp = lz4.block.compress
    t = now()
    if keywords:
        for u, d in pairs:
            if d:
                comp(u, store_size=False, dict=d)
            else:
                comp(u, store_size=False)
    else:
        for u, d in pairs:
            if d:
                comp(u, "default", False, 1, 0, False, d)
            else:
                comp(u, "default", False)
    return now() - t


def writer_window() -> tuple[str, Callable[[int, int], int]]:
    """The dictionary policy of the writer under test (as a window function) and its name."""
    policy = getattr(writer_mod, "LZ4_DICT", None)
    if policy == "previous":
        return "previous record", lambda i, prev: prev
    w = getattr(writer_mod, "LZ4_WINDOW", 65536)
    return f"last {w} bytes", lambda i, prev: w


def line(label: str, n: int, dt: float, floor: float | None = None, extra: str = "") -> None:
    ratio = f"  {dt / floor:5.2f}x floor" if floor else ""
    print(f"{label:42}: {n / dt:>11,.0f} msgs/s {dt / n * 1e6:6.3f} us/msg{ratio}{extra}")


def measure(R: int, cases: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Best time of each case over ``R`` rounds; the cases alternate within a round, so a floor
    and what is compared with it see the same machine load."""
    out: dict[str, float] = {}
    for _ in range(R):
        for name, fn in cases.items():
            dt = fn()
            out[name] = min(out.get(name, dt), dt)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--big", type=int, default=10_000_000, help="messages in the largest seek file")
    ap.add_argument("--seeks", type=int, default=200)
    ap.add_argument("--no-seek", action="store_true", help="skip the seek figures")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    n, R = args.count, args.repeat
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        p = os.path.join(d, "tx.dat")
        pz = os.path.join(d, "tx-lz4.dat")
        print(f"{n:,} Transactions (26-byte bodies), 1 MiB blocks; process CPU time, best of {R}")
        print("-- uncompressed")
        t = measure(R, {
            "floor": lambda: floor_write(n),
            "write (mmap, default)": lambda: write(p, n, 0, "mmap"),
            "write (posix, pwrite)": lambda: write(p, n, 0, "posix"),
            "write (posix, buffer=1mb)": lambda: write(p, n, 1 << 20, "posix"),
        })
        fw = t.pop("floor")
        line("floor: struct write", n, fw)
        for label, dt in t.items():
            line(label, n, dt, fw)
        t = measure(R, {"floor": lambda: floor_read(p), "read": lambda: read(p, n)})
        line("floor: struct read", n, t["floor"])
        line("read", n, t["read"], t["floor"])

        print("-- lz4")
        write(pz, n, 1 << 20, "posix", lz4=True)
        B, blocks = lz4_records(pz)
        assert sum(map(len, blocks)) == n
        name, window = writer_window()
        wpairs = lz4_dict_views(blocks, window, 1)
        nodict = lz4_dict_views(blocks, lambda i, prev: 0, 1)
        win4k = lz4_dict_views(blocks, lambda i, prev: 4096, 1)
        t = measure(R, {
            f"floor: compress, {name} (writer's call)": lambda: floor_lz4_write(wpairs),
            "floor: compress, no dictionary": lambda: floor_lz4_write(nodict),
            "floor: compress, last 4096 bytes": lambda: floor_lz4_write(win4k),
            f"floor: compress, {name}, keywords": lambda: floor_lz4_write(wpairs, True),
            "write lz4 (mmap, default)": lambda: write(pz, n, 0, "mmap", lz4=True),
            "write lz4 (posix, buffer=1mb)": lambda: write(pz, n, 1 << 20, "posix", lz4=True),
        })
        fzw = t[f"floor: compress, {name} (writer's call)"]
        for label, dt in t.items():
            line(label, n, dt, None if label.startswith("floor") else fzw)
        rpairs = lz4_dict_views(blocks, lambda i, prev: 65536, 0)
        bound = min(B, max(512, max(len(u) for recs in blocks for _, u in recs)))
        t = measure(R, {
            f"floor: decompress, history, bound {bound}": lambda: floor_lz4_read(rpairs, bound),
            "floor: decompress, keywords, bound 4096": lambda: floor_lz4_read(rpairs, min(B, 4096), True),
            "read lz4": lambda: read(pz, n),
            "read lz4 runs": lambda: read_runs(pz, n),
        })
        fzr = t[f"floor: decompress, history, bound {bound}"]
        for label, dt in t.items():
            extra = f"  (file {os.path.getsize(pz) / os.path.getsize(p):.2f} of plain)" if label == "read lz4" else ""
            line(label, n, dt, None if label.startswith("floor") else fzr, extra)
        line("  read lz4 / keyword floor", n, t["read lz4"], t["floor: decompress, keywords, bound 4096"])
        os.unlink(pz)
        if args.no_seek:
            return
        for size in (10_000, n, args.big):
            if size == n:
                sp = p
            else:
                sp = os.path.join(d, f"seek-{size}.dat")
                write(sp, size, 1 << 20, "posix")
            st = seek_time(sp, size, args.seeks)
            print(f"seek in {size:>10,} msgs ({os.path.getsize(sp) / 1e6:7.1f} MB, 1mb blocks): "
                  f"{st * 1e3:7.3f} ms per seek+first read")
            if sp != p:
                os.unlink(sp)


def seek_time(path: str, n: int, seeks: int) -> float:
    rnd = random.Random(1)
    with FileReader(path) as r:
        t = now()
        for _ in range(seeks):
            s = rnd.randrange(n)
            r.seek(s)
            m = next(iter(r))
            assert m.seq == s, (m.seq, s)
        return (now() - t) / seeks


if __name__ == "__main__":
    main()
