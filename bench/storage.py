"""Storage benchmark: write/read Transactions, uncompressed and LZ4, as ratios to bare floors.

    python bench/storage.py [--count 200000] [--repeat 3] [--big 10000000] [--seeks 200]
                            [--no-seek] [--dir DIR]

Every figure is the best of ``--repeat`` runs, and every ratio is a time ratio measured in the
same run (1.00x = as fast as the floor, 2.00x = twice its time):

* uncompressed write: a bare ``struct`` loop building the same bytes plus one file write;
* uncompressed read: a bare ``struct`` frame loop over the file's bytes;
* LZ4 write: a bare loop of ``lz4.block.compress`` over the records' uncompressed payloads
  (msgid, delta seq, body) with the dictionary the writer chooses (``--dict`` policy, read from
  :mod:`streamproto.storage.writer`), and for reference with no dictionary and a 4 KiB window;
* LZ4 read: a bare loop of ``lz4.block.decompress`` over the same compressed records with the
  same dictionaries (the block's history) and the same output bound as the reader.

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

from streamproto.storage import FileReader, FileWriter  # noqa: E402
from streamproto.storage import writer as writer_mod  # noqa: E402

TX = struct.Struct("<qqqH")   # Transaction: time ns, id, price fixed2, count = 26 bytes
MSG = struct.Struct("<iq")


def bodies(n: int) -> list[bytes]:
    t0 = 1725290273492443617
    return [TX.pack(t0 + i * 1000, i, 97612 + i % 1000, i % 100) for i in range(min(n, 65536))]


def best(repeat: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(repeat))


def write(path: str, n: int, buffer: int, io: str, lz4: bool = False, block: int = 1 << 20) -> float:
    bs = bodies(n)
    m = len(bs)
    t = time.perf_counter()
    with FileWriter(path, block=block, io=io, buffer=buffer, overwrite=True,
                    compression="lz4" if lz4 else "none") as w:
        post = w.post
        for i in range(n):
            post(10, i, bs[i % m])
    return time.perf_counter() - t


def read(path: str, n: int) -> float:
    t = time.perf_counter()
    k = 0
    with FileReader(path) as r:
        for _ in r:
            k += 1
    dt = time.perf_counter() - t
    assert k == n, (k, n)
    return dt


# -- uncompressed floors ---------------------------------------------------------------------
def floor_read(path: str) -> float:
    """Bare struct frame loop: block headers, skip frames, tail check, (msgid, seq, body) tuples."""
    data = Path(path).read_bytes()
    t = time.perf_counter()
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
    dt = time.perf_counter() - t
    assert len(out) > 0
    return dt


def floor_write(n: int) -> float:
    bs = bodies(n)
    m = len(bs)
    pack = struct.Struct("<iiq").pack
    t = time.perf_counter()
    buf = bytearray()
    for i in range(n):
        buf += pack(43, 10, i)
        buf += bs[i % m]
        buf.append(0x80)
    with tempfile.TemporaryFile() as f:
        f.write(buf)
    return time.perf_counter() - t


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


def floor_lz4_read(pairs: list[tuple[bytes, memoryview]], size: int) -> float:
    dec = lz4.block.decompress
    t = time.perf_counter()
    for c, d in pairs:
        dec(c, uncompressed_size=size, dict=d)
    return time.perf_counter() - t


def floor_lz4_write(pairs: list[tuple[bytes, memoryview]]) -> float:
    comp = lz4.block.compress
    t = time.perf_counter()
    for u, d in pairs:
        if d:
            comp(u, store_size=False, dict=d)
        else:
            comp(u, store_size=False)
    return time.perf_counter() - t


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--big", type=int, default=10_000_000, help="messages in the largest seek file")
    ap.add_argument("--seeks", type=int, default=200)
    ap.add_argument("--no-seek", action="store_true", help="skip the seek figures")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    n, R = args.count, args.repeat
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        p = os.path.join(d, "tx.dat")
        print(f"{n:,} Transactions (26-byte bodies), 1 MiB blocks, best of {R}")
        print("-- uncompressed")
        fw = best(R, lambda: floor_write(n))
        line("floor: struct write", n, fw)
        for label, buf, io in (("write (mmap, default)", 0, "mmap"), ("write (posix, pwrite)", 0, "posix"),
                               ("write (posix, buffer=1mb)", 1 << 20, "posix")):
            line(label, n, best(R, lambda buf=buf, io=io: write(p, n, buf, io)), fw)
        fr = best(R, lambda: floor_read(p))
        line("floor: struct read", n, fr)
        line("read", n, best(R, lambda: read(p, n)), fr)

        print("-- lz4")
        pz = os.path.join(d, "tx-lz4.dat")
        wz = {}
        for label, buf, io in (("write lz4 (mmap, default)", 0, "mmap"),
                               ("write lz4 (posix, buffer=1mb)", 1 << 20, "posix")):
            wz[label] = best(R, lambda buf=buf, io=io: write(pz, n, buf, io, lz4=True))
        B, blocks = lz4_records(pz)
        assert sum(map(len, blocks)) == n
        name, window = writer_window()
        floors = {}
        for fname, win in ((f"{name} (writer)", window), ("no dictionary", lambda i, prev: 0),
                           ("last 4096 bytes", lambda i, prev: 4096)):
            wpairs = lz4_dict_views(blocks, win, 1)
            floors[fname] = best(R, lambda wpairs=wpairs: floor_lz4_write(wpairs))
        fzw = floors[f"{name} (writer)"]
        for fname, dt in floors.items():
            line(f"floor: compress, {fname}", n, dt)
        for label, dt in wz.items():
            line(label, n, dt, fzw)
        rpairs = lz4_dict_views(blocks, lambda i, prev: 65536, 0)
        fzr = best(R, lambda rpairs=rpairs: floor_lz4_read(rpairs, min(B, 4096)))
        del rpairs, wpairs
        line("floor: decompress, block history", n, fzr)
        line("read lz4", n, best(R, lambda: read(pz, n)), fzr,
             f"  (file {os.path.getsize(pz) / os.path.getsize(p):.2f} of plain)")
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
        t = time.perf_counter()
        for _ in range(seeks):
            s = rnd.randrange(n)
            r.seek(s)
            m = next(iter(r))
            assert m.seq == s, (m.seq, s)
        return (time.perf_counter() - t) / seeks


if __name__ == "__main__":
    main()
