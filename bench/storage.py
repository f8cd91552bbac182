"""Storage benchmark: write/read 1 M Transactions, seek in 10 k / 1 M / 10 M files, struct floor.

    python bench/storage.py [--count 1000000] [--big 10000000] [--dir DIR] [--seeks 200]

Prints msgs/s and MB/s (of body bytes) for writing (mmap write-through, the default; posix pwrite
write-through; posix buffered) and reading,
the time per seek, and the ratio to a bare ``struct`` loop over the same bytes.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamproto.storage import FileReader, FileWriter  # noqa: E402

TX = struct.Struct("<qqqH")   # Transaction: time ns, id, price fixed2, count = 26 bytes


def bodies(n: int) -> list[bytes]:
    t0 = 1725290273492443617
    return [TX.pack(t0 + i * 1000, i, 97612 + i % 1000, i % 100) for i in range(min(n, 65536))]


def write(path: str, n: int, buffer: int, block: int = 1 << 20, lz4: bool = False,
          io: str = "posix") -> float:
    bs = bodies(n)
    m = len(bs)
    t = time.perf_counter()
    with FileWriter(path, block=block, io=io, buffer=buffer, overwrite=True,
                    compression="lz4" if lz4 else "none") as w:
        post = w.post
        for i in range(n):
            post(10, i, bs[i % m])
    return time.perf_counter() - t


def read(path: str) -> tuple[float, int]:
    t = time.perf_counter()
    k = 0
    with FileReader(path) as r:
        for _ in r:
            k += 1
    return time.perf_counter() - t, k


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=10_000_000, help="messages in the largest seek file")
    ap.add_argument("--seeks", type=int, default=200)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    n = args.count
    mb = n * 26 / 1e6
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        p = os.path.join(d, "tx.dat")
        fw = floor_write(n)
        print(f"struct write floor: {n / fw:>12,.0f} msgs/s  {mb / fw:7.1f} MB/s")
        for label, buf, io in (("write (mmap, default)", 0, "mmap"), ("write (posix, pwrite)", 0, "posix"),
                               ("write (posix, 1mb buf)", 1 << 20, "posix")):
            dt = write(p, n, buf, io=io)
            print(f"{label:22}: {n / dt:>12,.0f} msgs/s  {mb / dt:7.1f} MB/s  "
                  f"ratio to floor {fw / dt:.2f}")
        fr = floor_read(p)
        print(f"struct read floor    : {n / fr:>12,.0f} msgs/s  {mb / fr:7.1f} MB/s")
        dt, k = read(p)
        assert k == n
        print(f"{'read':22}: {n / dt:>12,.0f} msgs/s  {mb / dt:7.1f} MB/s  ratio to floor {fr / dt:.2f}")
        pz = os.path.join(d, "tx-lz4.dat")
        dt = write(pz, n, 1 << 20, lz4=True)
        print(f"{'write lz4 (buffered)':22}: {n / dt:>12,.0f} msgs/s  {mb / dt:7.1f} MB/s  "
              f"size {os.path.getsize(pz) / os.path.getsize(p):.2f} of plain")
        dt, k = read(pz)
        print(f"{'read lz4':22}: {n / dt:>12,.0f} msgs/s  {mb / dt:7.1f} MB/s")
        os.unlink(pz)
        for size in (10_000, n, args.big):
            if size == n:
                sp = p
            else:
                sp = os.path.join(d, f"seek-{size}.dat")
                write(sp, size, 1 << 20)
            st = seek_time(sp, size, args.seeks)
            print(f"seek in {size:>10,} msgs ({os.path.getsize(sp) / 1e6:7.1f} MB, 1mb blocks): "
                  f"{st * 1e3:7.3f} ms per seek+first read")
            if sp != p:
                os.unlink(sp)


if __name__ == "__main__":
    main()
