"""Fast-path codec cost of this checkout against another one, interleaved in one process.

    git archive REV | tar -x -C /tmp/base && python bench/codec_ab.py /tmp/base [--rounds 12]

Loads `tllschema` from BASELINE, builds its codecs, then from this checkout, and times the same
operations alternately (best of ROUNDS x 3), so machine noise hits both sides alike. Prints ns
per operation, the after/before ratio and each side's ratio to the struct floor.
"""
from __future__ import annotations

import argparse
import importlib
import struct
import sys
import timeit
from pathlib import Path
from typing import Callable

from benchutil import TRANSACTION_SCHEME, TRANSACTION_VALUE

ROOT = Path(__file__).resolve().parents[1]
SCHEME = TRANSACTION_SCHEME + """\
- name: Lists
  id: 11
  fields:
    - {name: v, type: '*int32'}
    - {name: t, type: '*int64', options.type: time_point, options.resolution: us}
"""
VALUE = TRANSACTION_VALUE
LISTS = {"v": list(range(100)), "t": list(range(1000, 1100))}


def operations(root: str) -> dict[str, Callable[[], object]]:
    """Import tllschema from `root` (forgetting any loaded one) and build the timed operations."""
    for name in [k for k in sys.modules if k == "tllschema" or k.startswith("tllschema.")]:
        del sys.modules[name]
    sys.path.insert(0, root)
    try:
        tllschema = importlib.import_module("tllschema")
    finally:
        sys.path.remove(root)
    scheme = tllschema.load(SCHEME)
    msg, lists = scheme.message("Transaction"), scheme.message("Lists")
    cls, lcls = msg.record_class, lists.record_class
    buf, lbuf = msg.encode(VALUE), lists.encode(LISTS)
    rec, lrec = cls.decode(buf), lcls.decode(lbuf)
    return {
        "decode Transaction.decode(buf)": lambda: cls.decode(buf),
        "decode decode + .price (Decimal)": lambda: cls.decode(buf).price,
        "decode decode + .time (TimePoint)": lambda: cls.decode(buf).time,
        "decode Message.decode(buf)": lambda: msg.decode(buf),
        "encode record.encode()": lambda: rec.encode(),
        "encode Message.encode(dict)": lambda: msg.encode(VALUE),
        "decode 2 lists of 100": lambda: lists.decode(lbuf),
        "encode 2 lists of 100 (record)": lambda: lrec.encode(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baseline", help="directory holding the other checkout's tllschema/")
    ap.add_argument("--rounds", type=int, default=12)
    args = ap.parse_args()
    sides = {"before": operations(str(Path(args.baseline).resolve())), "after": operations(str(ROOT))}
    floor = struct.Struct("<qqqH")
    fbuf = floor.pack(1, 2, 3, 4)
    fvals = floor.unpack(fbuf)

    def floor_decode() -> dict:
        t = floor.unpack_from(fbuf)
        return {"time": t[0], "id": t[1], "price": t[2], "count": t[3]}

    floors = {"decode": floor_decode, "encode": lambda: floor.pack(*fvals)}
    best: dict[tuple[str, str], float] = {}

    def keep(key: tuple[str, str], fn: Callable[[], object], number: int) -> None:
        t = min(timeit.repeat(fn, number=number, repeat=3)) / number * 1e9
        best[key] = min(best.get(key, float("inf")), t)

    for _ in range(args.rounds):
        for name in sides["before"]:
            number = 2000 if "lists" in name or "dict" in name else 20000
            for side, ops in sides.items():
                keep((name, side), ops[name], number)
        for kind, fn in floors.items():
            keep(("floor", kind), fn, 20000)
    print(f"best of {args.rounds} interleaved rounds x 3; struct floor: decode "
          f"{best[('floor', 'decode')]:.0f} ns, encode {best[('floor', 'encode')]:.0f} ns")
    print(f"{'op':36} {'before':>8} {'after':>8} {'after/before':>12} {'before/floor':>12} {'after/floor':>11}")
    for name in sides["before"]:
        b, a = best[(name, "before")], best[(name, "after")]
        fl = best[("floor", name.split()[0])]
        print(f"{name:36} {b:8.0f} {a:8.0f} {a / b:12.2f} {b / fl:12.2f} {a / fl:11.2f}")


if __name__ == "__main__":
    main()
