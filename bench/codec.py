"""Transaction decode/encode cost, in one process: fast path vs construct codec vs plain construct vs struct.

    python bench/codec.py [--repeat 7]

Prints ns per message (best of `repeat` runs) and the ratio to the struct floor
(`Struct.unpack_from` + a dict of the 4 fields; `Struct.pack` of 4 values).
Targets (issue 2): fast-path decode <= 2x floor, encode <= 2x floor.
"""
from __future__ import annotations

import argparse
import struct
import sys
import timeit
from pathlib import Path

import construct as cs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tllschema  # noqa: E402
from tllschema import codec  # noqa: E402
from benchutil import TRANSACTION_SCHEME, TRANSACTION_VALUE  # noqa: E402

SCHEME, VALUE = TRANSACTION_SCHEME, TRANSACTION_VALUE


def measure(fn, repeat: int) -> float:
    """Best ns per call over `repeat` runs of an auto-sized loop."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    number = max(number, 20_000)
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    msg = tllschema.load(SCHEME).message("Transaction")
    cls = msg.record_class
    buf = msg.encode(VALUE)
    rec = cls.decode(buf)
    assert buf == codec.encode(msg, VALUE) and codec.decode(msg, buf) == rec

    floor = struct.Struct("<qqqH")
    plain = cs.Struct("time" / cs.Int64sl, "id" / cs.Int64sl, "price" / cs.Int64sl, "count" / cs.Int16ul)
    raw = plain.parse(buf)
    vals = floor.unpack_from(buf)
    ref = codec.codec_for(msg)
    unpack_from, pack = floor.unpack_from, floor.pack

    def floor_decode():
        t = unpack_from(buf)
        return {"time": t[0], "id": t[1], "price": t[2], "count": t[3]}

    decode = cls.decode
    encode = cls.encode
    rows = [
        ("decode", "struct floor (unpack_from + dict)", floor_decode),
        ("decode", "fast path Transaction.decode(buf)", lambda: decode(buf)),
        ("decode", "fast path decode + .price (Decimal)", lambda: decode(buf).price),
        ("decode", "fast path decode + .time (TimePoint)", lambda: decode(buf).time),
        ("decode", "fast path Message.decode(buf)", lambda: msg.decode(buf)),
        ("decode", "plain construct Struct.parse", lambda: plain.parse(buf)),
        ("decode", "construct codec decode(msg, buf)", lambda: codec.decode(msg, buf)),
        ("decode", "construct codec_for(msg).parse", lambda: ref.parse(buf)),
        ("encode", "struct floor (pack of 4 values)", lambda: pack(*vals)),
        ("encode", "fast path record.encode()", lambda: encode(rec)),
        ("encode", "fast path Message.encode(dict)", lambda: msg.encode(VALUE)),
        ("encode", "plain construct Struct.build", lambda: plain.build(raw)),
        ("encode", "construct codec encode(msg, dict)", lambda: codec.encode(msg, VALUE)),
    ]
    print(f"Transaction ({msg.size} bytes), Python {sys.version.split()[0]}, construct {cs.__version__}, best of {args.repeat}")
    print(f"{'op':<7} {'codec':<40} {'ns/msg':>10} {'x floor':>8}")
    base = {}
    results = {}
    for op, name, fn in rows:
        ns = measure(fn, args.repeat)
        base.setdefault(op, ns)
        results[name] = ns
        print(f"{op:<7} {name:<40} {ns:>10.0f} {ns / base[op]:>8.2f}")
    dec = results["fast path Transaction.decode(buf)"] / base["decode"]
    enc = results["fast path record.encode()"] / base["encode"]
    print(f"\ntarget fast-path decode <= 2x floor: {dec:.2f}x {'OK' if dec <= 2 else 'MISSED'}")
    print(f"target fast-path encode <= 2x floor: {enc:.2f}x {'OK' if enc <= 2 else 'MISSED'}")


if __name__ == "__main__":
    main()
