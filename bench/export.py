"""Export benchmark: 1 M stored Transactions into an Arrow table, against our per-record loop.

    python bench/export.py [--count 1000000] [--dir DIR] [--repeat 3] [--lz4]

Writes the file once, then measures in the same run (best of --repeat):
  * bare pass   -- reading the file's bytes in the windows read_table uses, nothing parsed;
  * loop        -- our own per-record read and decode: ``for m in FileReader: msg.decode(m.body)``;
  * loop+fields -- the same, also reading every field as its logical value;
  * read_table  -- ``streamproto.read_table(path, message="Transaction")``;
  * export      -- ``streamproto export`` to Parquet and Arrow IPC (the sink included).
Prints msgs/s and the ratios: loop / read_table (the issue asks >= 3x) and read_table / bare pass.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamproto  # noqa: E402
import tllschema  # noqa: E402
from streamproto.export.bodies import WINDOW  # noqa: E402
from streamproto.storage import FileReader, FileWriter  # noqa: E402

SCHEME = Path(__file__).resolve().parents[1] / "streamproto" / "schemas" / "transaction.yaml"


def write(path: str, n: int, lz4: bool) -> None:
    msg = tllschema.load(f"yaml://{SCHEME}").message("Transaction")
    t0 = 1725290273492443617
    bodies = [msg.encode({"time": t0 + i * 1000, "id": i, "price": f"{976 + i % 1000}.{i % 100:02d}",
                          "count": i % 100}) for i in range(min(n, 65536))]
    m = len(bodies)
    with FileWriter(path, block=1 << 20, io="posix", buffer=1 << 22, overwrite=True,
                    compression="lz4" if lz4 else "none", scheme=f"yaml://{SCHEME}") as w:
        post = w.post
        for i in range(n):
            post(10, i, bodies[i % m])


def bare(path: str) -> int:
    fd = os.open(path, os.O_RDONLY)
    total, off = 0, 0
    try:
        while True:
            b = os.pread(fd, WINDOW, off)
            if not b:
                return total
            total += len(b)
            off += len(b)
    finally:
        os.close(fd)


def loop(path: str) -> int:
    k = 0
    with FileReader(path) as r:
        decode = r.scheme.message("Transaction").decode
        for m in r:
            decode(m.body)
            k += 1
    return k


def loop_fields(path: str) -> int:
    k = 0
    with FileReader(path) as r:
        decode = r.scheme.message("Transaction").decode
        for m in r:
            rec = decode(m.body)
            _ = (rec.time, rec.id, rec.price, rec.count)
            k += 1
    return k


def table(path: str) -> int:
    return streamproto.read_table(path, message="Transaction").num_rows


def export(path: str, out: str) -> int:
    from streamproto.cli.cmd_export import export_cmd
    return export_cmd(path, out, "Transaction", None, None, None, False)[0]


def best(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        n = fn()
        times.append(time.perf_counter() - t)
    return min(times), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lz4", action="store_true", help="also measure an LZ4 copy")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=a.dir) as d:
        files = [("uncompressed", os.path.join(d, "tx.dat"), False)]
        if a.lz4:
            files.append(("lz4", os.path.join(d, "tx-lz4.dat"), True))
        for label, path, lz4 in files:
            t = time.perf_counter()
            write(path, a.count, lz4)
            print(f"{label}: wrote {a.count} Transactions ({os.path.getsize(path) / 1e6:.1f} MB) "
                  f"in {time.perf_counter() - t:.1f} s")
            res = {}
            for name, fn in (("bare pass", partial(bare, path)), ("loop", partial(loop, path)),
                             ("loop+fields", partial(loop_fields, path)), ("read_table", partial(table, path)),
                             ("export parquet", partial(export, path, os.path.join(d, "o.parquet"))),
                             ("export arrow", partial(export, path, os.path.join(d, "o.arrow")))):
                dt, n = best(fn, a.repeat)
                res[name] = dt
                rate = f"{a.count / dt / 1e6:8.2f} M msgs/s" if name != "bare pass" else f"{n / dt / 1e9:8.2f} GB/s   "
                print(f"  {name:15s} {dt * 1e3:9.1f} ms  {rate}")
            rt = res["read_table"]
            print(f"  loop / read_table         {res['loop'] / rt:6.1f}x   (issue: >= 3x)")
            print(f"  loop+fields / read_table  {res['loop+fields'] / rt:6.1f}x")
            print(f"  read_table / bare pass    {rt / res['bare pass']:6.1f}x")


if __name__ == "__main__":
    main()
