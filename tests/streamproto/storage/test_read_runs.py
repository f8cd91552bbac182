"""``read_runs`` (the shared history's reader) against ``read``: same messages, stops and errors.

Every test reads the same file twice with the same sequence of limits, once with ``read`` and
once with ``read_runs`` (runs expanded to ``Data``), and compares call by call: messages,
``incomplete``, and the error text when the data is corrupt.
"""
from __future__ import annotations

import random
import struct
import tempfile
from itertools import chain, count, repeat

import lz4.block
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproto.errors import StorageError
from streamproto.events import Data
from streamproto.storage import FileReader, FileWriter, RotateReader, RotateWriter
from streamproto.storage.cursor import MIN_RUN, Lz4Run, RecordRun, _increasing
from tests.conftest import GOLDEN

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def expand(items: list) -> list[tuple[int, int, bytes]]:
    out: list[tuple[int, int, bytes]] = []
    for x in items:
        if isinstance(x, (RecordRun, Lz4Run)):
            out += [(d.msgid, d.seq, d.body) for d in x.messages()]
        else:
            assert isinstance(x, Data)
            out.append((x.msgid, x.seq, x.body))
    return out


def plain(items: list) -> list[tuple[int, int, bytes]]:
    return [(d.msgid, d.seq, d.body) for d in items]


def call(fn, limit):
    """(messages, error text) of one read call."""
    try:
        return fn(limit), None
    except StorageError as e:
        return None, str(e)


def compare_reads(path, limits, **kw) -> int:
    """Read ``path`` with read and read_runs call by call; returns the messages in runs."""
    in_runs = 0
    with FileReader(path, **kw) as a, FileReader(path, **kw) as b:
        for limit in limits:
            got_a, err_a = call(a.read, limit)
            got_b, err_b = call(b.read_runs, limit)
            assert err_a == err_b
            if err_a is not None:
                return in_runs
            assert expand(got_b) == plain(got_a)
            assert a.incomplete == b.incomplete
            in_runs += sum(x.count for x in got_b if isinstance(x, (RecordRun, Lz4Run)))
        rest_a, err_a = call(a.read, None)
        rest_b, err_b = call(lambda _: b.read_runs(1 << 30), None)
        assert err_a == err_b
        if err_a is None:
            assert expand(rest_b) == plain(rest_a)
    return in_runs


@st.composite
def stored(draw, max_n=400):
    """Messages: runs of equal body sizes (the common case) between odd ones, increasing
    seqs from anywhere in int64 (mostly consecutive, sometimes gaps)."""
    n = draw(st.integers(0, max_n))
    seq = draw(st.integers(-(1 << 63), (1 << 63) - 1 - 2 * max_n * 3))
    sizes: list[int] = []
    while len(sizes) < n:
        size = draw(st.integers(0, 80))
        sizes += [size] * draw(st.sampled_from([1, 2, 3, MIN_RUN - 1, MIN_RUN, 20, 70, 300]))
    rnd = random.Random(draw(st.integers(0, 1 << 30)))
    out = []
    for size in sizes[:n]:
        out.append((rnd.randint(-5, 5), seq, rnd.randbytes(size)))
        seq += 1 if rnd.random() < 0.9 else rnd.randint(2, 3)
    return out


def write(path, msgs, version, block):
    with FileWriter(path, block=block, version=version) as w:
        for m in msgs:
            w.post(*m)


_names = count()


def fresh(tmp_path):
    """A new file name (hypothesis runs many examples in one tmp_path)."""
    return tmp_path / f"r{next(_names)}.dat"


LIMITS = st.lists(st.integers(1, 500), min_size=1, max_size=12)


@SETTINGS
@given(msgs=stored(), version=st.sampled_from([0, 1]),
       block=st.sampled_from([1024, 1100, 1500, 4096, 64 * 1024]), limits=LIMITS,
       seq=st.none() | st.integers(0, 400))
def test_same_messages_as_read(tmp_path, msgs, version, block, limits, seq):
    path = fresh(tmp_path)
    write(path, msgs, version, block)
    kw = {} if seq is None or not msgs else {"seq": msgs[min(seq, len(msgs) - 1)][1]}
    compare_reads(path, limits, **kw)


def test_equal_sizes_come_as_runs(tmp_path):
    """The point of read_runs: fixed-size messages are not built one by one."""
    path = tmp_path / "r.dat"
    msgs = [(10, s, b"%026d" % s) for s in range(10000)]
    for version in (0, 1):
        write(path, msgs, version, 4096)
        with FileReader(path) as r:
            got = r.read_runs(20000)
        runs = [x for x in got if isinstance(x, RecordRun)]
        assert expand(got) == msgs
        assert sum(x.count for x in runs) > 9000 and all(x.count >= MIN_RUN for x in runs)
        path.unlink()


def test_record_run_parts(tmp_path):
    path = tmp_path / "r.dat"
    write(path, [(s % 7, 3 * s, b"%05d" % s) for s in range(600)], 1, 64 * 1024)
    with FileReader(path) as r:
        run = r.read_runs(600)[-1]
    assert isinstance(run, RecordRun) and run.count > 500 and run.body_size == 5
    whole = run.messages()
    assert [run.seq(i) for i in range(run.count)] == [m.seq for m in whole]
    for i, j in [(0, 1), (0, run.count), (1, 2), (17, 300), (run.count - 1, run.count)]:
        part = run.part(i, j)
        assert part.messages() == whole[i:j] and part.count == j - i
        assert (part.first_seq, part.last_seq) == (whole[i].seq, whole[j - 1].seq)


@SETTINGS
@given(msgs=stored(), version=st.sampled_from([0, 1]), block=st.sampled_from([1024, 1500, 4096]),
       cuts=st.lists(st.integers(1, 400), min_size=1, max_size=6), limits=LIMITS)
def test_file_appended_while_read(tmp_path, msgs, version, block, cuts, limits):
    """A writer in this process appends between reads: both readers see the same."""
    path = fresh(tmp_path)
    with FileWriter(path, block=block, version=version) as w, \
            FileReader(path) as a, FileReader(path) as b:
        done = 0
        for cut in sorted(cuts) + [len(msgs)]:
            for m in msgs[done:cut]:
                w.post(*m)
            done = max(done, cut)
            for limit in limits:
                got_a, got_b = a.read(limit), b.read_runs(limit)
                assert expand(got_b) == plain(got_a)
        assert expand(b.read_runs(1 << 30)) == plain(a.read())


def mutate_bytes(raw: bytearray, data, pos: int, kind: str) -> bool:
    """Apply a "zero" (40 bytes) or "byte" mutation at ``pos``; False for any other kind."""
    if kind == "zero":
        raw[pos:pos + 40] = bytes(len(raw[pos:pos + 40]))
    elif kind == "byte":
        raw[pos] = data.draw(st.integers(0, 255), label="value")
    else:
        return False
    return True


@SETTINGS
@given(msgs=stored(max_n=200), version=st.sampled_from([0, 1]),
       block=st.sampled_from([1024, 4096]), data=st.data())
def test_torn_and_corrupt_records(tmp_path, msgs, version, block, data):
    """Cut, zeroed, or changed bytes: the same messages, stops and error texts."""
    path = fresh(tmp_path)
    write(path, msgs, version, block)
    raw = bytearray(path.read_bytes())
    meta = 49
    if len(raw) <= meta:
        return
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        pos = data.draw(st.integers(meta, len(raw) - 1), label="pos")
        kind = data.draw(st.sampled_from(["cut", "zero", "byte", "seq"]), label="kind")
        if kind == "cut":
            del raw[pos:]
            break
        if not mutate_bytes(raw, data, pos, kind):  # a seq that does not increase, in a run
            with FileReader(path) as r:
                c = r._cursor
                out: list = []
                c.read(out, data.draw(st.integers(0, max(0, len(msgs) - 1)), label="skip"))
                if c.pos + 16 <= len(raw):
                    struct.pack_into("<q", raw, c.pos + 8, data.draw(
                        st.integers(-(1 << 63), (1 << 63) - 1), label="seq"))
    path.write_bytes(bytes(raw))
    compare_reads(path, data.draw(LIMITS, label="limits"))


def test_seq_that_does_not_increase_inside_a_run(tmp_path):
    path = tmp_path / "r.dat"
    msgs = [(10, s, b"x" * 26) for s in range(1000)]
    write(path, msgs, 1, 64 * 1024)
    with FileReader(path) as r:
        r.read(500)
        pos = r._cursor.pos
    raw = bytearray(path.read_bytes())
    struct.pack_into("<q", raw, pos + 8, 400)             # record 500 says seq 400
    path.write_bytes(bytes(raw))
    with FileReader(path) as r:
        got = r.read_runs(500)
        assert expand(got) == msgs[:500] and isinstance(got[-1], RecordRun)
        with pytest.raises(StorageError, match=f"at offset {pos} .*seq 400 does not follow "
                                               "the previous seq 499"):
            r.read_runs(10)
    assert compare_reads(path, [300, 300]) >= 300 - MIN_RUN


@pytest.mark.parametrize("version", [0, 1])
def test_every_byte_of_a_record_inside_a_run(tmp_path, version):
    """Each byte of a record in the middle of a run changed in turn (frame word, msgid, seq,
    body, tail): read_runs delivers and refuses exactly what read does."""
    path = tmp_path / "r.dat"
    msgs = [(10, s, b"%010d" % s) for s in range(300)]
    write(path, msgs, version, 64 * 1024)
    with FileReader(path) as r:
        r.read(150)
        pos = r._cursor.pos                             # record 150
    good = path.read_bytes()
    size = 17 + 10
    runs = 0
    for i in range(size):
        for value in {0, 0xFF, good[pos + i] ^ 1, good[pos + i] ^ 0x80}:
            raw = bytearray(good)
            raw[pos + i] = value
            path.write_bytes(bytes(raw))
            runs += compare_reads(path, [100, 100, 100])
    assert runs > 100 * size


@pytest.mark.parametrize("name", ["transaction.dat", "transaction-mmap-v1.dat",
                                  "transaction-lz4.dat", "raw-noscheme.dat", "raw-lz4.dat",
                                  "empty.dat"])
def test_golden_files(name):
    path = GOLDEN / "storage" / "file" / name
    for limits in ([1 << 30], [1, 7, 64, 100, 3, 1000]):
        compare_reads(path, limits)


@pytest.mark.parametrize("seqs", [
    [5, 6, 7, 8], [5, 6, 8, 9], [-2, -1, 0, 1], [(1 << 63) - 2, (1 << 63) - 1],
    [-(1 << 63), -(1 << 63) + 1, 0], [1, 1 << 40, (1 << 62)], list(range(-3000, 3000)),
    [5, 6, 6, 9], [5, 4], [0, 1, 2, 3, 2, 5], list(range(100)) + [99] + list(range(100, 200)),
])
def test_increasing_prefix(seqs):
    want = next((i for i in range(1, len(seqs)) if seqs[i] <= seqs[i - 1]), len(seqs))
    raw = bytearray(struct.pack(f"<{len(seqs)}q", *seqs))
    assert _increasing(raw, len(seqs)) == want


@SETTINGS
@given(msgs=stored(max_n=300), rotations=st.lists(st.integers(0, 300), max_size=5),
       limits=LIMITS, start=st.none() | st.integers(0, 300),
       compression=st.sampled_from(["none", "lz4"]))
def test_rotate_set_same_as_iteration(tmp_path, msgs, rotations, limits, start, compression):
    """RotateReader.read_runs gives the data messages iteration gives, across files."""
    d = tempfile.mkdtemp(dir=tmp_path)
    w = RotateWriter(f"{d}/s", block=1024, compression=compression)
    rot = set(rotations)
    for i, m in enumerate(msgs):
        if i in rot:
            w.rotate()
        w.post(*m)
    seq = None if start is None or not msgs else msgs[min(start, len(msgs) - 1)][1]
    with RotateReader(f"{d}/s", seq=seq) as r:
        want = [(m.msgid, m.seq, m.body) for m in r if isinstance(m, Data)]

    def drain(r) -> list:
        """Calls with the drawn limits, then until nothing is left (one file per call)."""
        out: list = []
        for limit in limits:
            out += expand(r.read_runs(limit))
        while b := r.read_runs(limits[-1]):
            out += expand(b)
        return out

    with RotateReader(f"{d}/s", seq=seq) as r:
        got = drain(r)
        assert got == want
        # the writer goes on (and rotates) while the reader follows
        more = [(1, (msgs[-1][1] if msgs else 0) + 1 + i, b"z" * 30) for i in range(50)]
        for i, m in enumerate(more):
            if i == 20:
                w.rotate()
            w.post(*m)
        got += drain(r)
    w.close()
    assert got == want + more


# --- LZ4 ------------------------------------------------------------------------------------
#
# read and read_runs both decode LZ4 a window at a time now; the oracle is the per-record path
# (read(1) calls: one record at a time through the checked code that was there before), which
# every bulk read must match message for message, with the same error text at the same record.

def oracle(path, **kw) -> tuple[list, str | None, bool | None]:
    """(messages, error text, incomplete) read one record per call."""
    out: list = []
    try:
        with FileReader(path, **kw) as r:
            while m := r.read(1):
                out += plain(m)
            return out, None, r.incomplete
    except StorageError as e:
        return out, str(e), None


def bulk(path, how: str, limits, **kw) -> tuple[list, str | None, bool | None, int]:
    """(messages, error text, incomplete, limit of the failing call) read with ``read`` or
    ``read_runs`` and the given limits, then until nothing comes."""
    out: list = []
    limit = 0
    try:
        with FileReader(path, **kw) as r:
            fn = getattr(r, how)
            for limit in chain(limits, repeat(limits[-1])):
                got = fn(limit)
                if not got:
                    return out, None, r.incomplete, 0
                out += expand(got)
    except StorageError as e:
        return out, str(e), None, limit
    raise AssertionError("unreachable")


def check_lz4(path, limits, **kw) -> None:
    """read and read_runs against the oracle, and against each other call by call."""
    want, err, inc = oracle(path, **kw)
    for how in ("read", "read_runs"):
        got, e, i, limit = bulk(path, how, limits, **kw)
        assert e == err, how
        if err is None:
            assert got == want and i == inc, how
        else:       # the failing call held the bad record: what came before it was delivered
            assert got == want[:len(got)] and len(got) <= len(want) < len(got) + max(limit, 1)
    compare_reads(path, limits, **kw)


def lz4_bodies(rnd: random.Random, sizes: list[int]) -> list[bytes]:
    """Bodies that LZ4 finds matches in (repeated words, copies of earlier bodies) or not."""
    out: list[bytes] = []
    for size in sizes:
        kind = rnd.random()
        if kind < 0.3 or not out:
            out.append(rnd.randbytes(size))
        elif kind < 0.7:
            word = b"%06d" % rnd.randrange(40)
            out.append((word * (size // 6 + 1))[:size])
        else:
            old = rnd.choice(out[-50:])
            out.append((old * (size // max(1, len(old)) + 1))[:size] if old else bytes(size))
    return out


@st.composite
def stored_lz4(draw, max_n=400):
    """Messages for LZ4 files: runs of one body size and odd ones, now and then a body over
    the reader's first output bound (512 bytes of payload), seqs mostly consecutive."""
    n = draw(st.integers(0, max_n))
    seq = draw(st.integers(-(1 << 62), 1 << 62))
    sizes: list[int] = []
    while len(sizes) < n:
        size = draw(st.integers(0, 80) | st.integers(500, 900))
        sizes += [size] * draw(st.sampled_from([1, 2, MIN_RUN - 1, MIN_RUN, 20, 70, 300]))
    rnd = random.Random(draw(st.integers(0, 1 << 30)))
    out = []
    for body in lz4_bodies(rnd, sizes[:n]):
        out.append((rnd.randint(-5, 5), seq, body))
        seq += 1 if rnd.random() < 0.9 else rnd.randint(2, 300)
    return out


def write_lz4(path, msgs, version, block) -> None:
    with FileWriter(path, block=block, version=version, compression="lz4") as w:
        for m in msgs:
            w.post(*m)


def write_tll_lz4(path, msgs, version, block, rnd, dicts=("prev", "history", "none")) -> None:
    """An LZ4 file laid out as TLL's writer does it: each record compressed with a dictionary
    drawn from ``dicts`` (the previous payload, up to 64 KiB of the block's history, or none),
    records may end in a block's last 16 bytes, seq fields are deltas after a block's first
    record. A message ``(msgid, seq, body, field)`` stores ``field`` as its seq field, or
    as its whole payload when it is bytes."""
    write_lz4(path, [], version, block)
    with FileReader(path) as r:
        size = r.meta.size
    raw = bytearray(path.read_bytes()[:size])
    mark = 0x80000000 if version else 0
    bs, hist, prev, last = 0, b"", b"", 0

    def record(payload: bytes, d: bytes) -> bytes:
        c = (lz4.block.compress(payload, store_size=False, dict=d) if d
             else lz4.block.compress(payload, store_size=False))
        return struct.pack("<I", (5 + len(c)) | mark) + c + b"\x80"

    def make(msgid: int, field: int, body: bytes, raw: list) -> bytes:
        if raw and isinstance(raw[0], bytes):
            return raw[0]
        return struct.pack("<iq", msgid, (raw or [field])[0]) + body

    for msgid, seq, body, *field in msgs:
        delta = (seq - last + (1 << 63)) % (1 << 64) - (1 << 63)     # wraps after a bad field
        payload = make(msgid, delta if hist else seq, body, field)
        d = {"prev": prev, "history": hist[-65536:], "none": b""}[rnd.choice(dicts)]
        rec = record(payload, d)
        if len(raw) + len(rec) > bs + block:           # next block: absolute seq, no dictionary
            left = bs + block - len(raw)
            raw += b"\xff" * 4 + bytes(left - 4) if left >= 5 else bytes(left)
            bs += block
            raw += struct.pack("<I", 5 | mark) + b"\x80"
            payload = make(msgid, seq, body, field)
            rec = record(payload, b"")
            hist = b""
        raw += rec
        hist += payload
        prev = payload
        if len(payload) >= 12:
            stored = struct.unpack_from("<q", payload, 4)[0]
            last = last + stored if len(hist) > len(payload) else stored  # as a reader sees it
    path.write_bytes(bytes(raw))


LZ4_BLOCKS = st.sampled_from([1024, 1100, 1500, 4096, 64 * 1024])


@SETTINGS
@given(msgs=stored_lz4(), version=st.sampled_from([0, 1]), block=LZ4_BLOCKS, limits=LIMITS,
       seq=st.none() | st.integers(0, 400))
def test_lz4_same_messages_as_one_by_one(tmp_path, msgs, version, block, limits, seq):
    path = fresh(tmp_path)
    write_lz4(path, msgs, version, block)
    kw = {} if seq is None or not msgs else {"seq": msgs[min(seq, len(msgs) - 1)][1]}
    check_lz4(path, limits, **kw)


@SETTINGS
@given(msgs=stored_lz4(), version=st.sampled_from([0, 1]), block=LZ4_BLOCKS, limits=LIMITS,
       seq=st.none() | st.integers(0, 400), seed=st.integers(0, 1 << 30),
       dicts=st.sampled_from([("prev",), ("history",), ("none",), ("prev", "history", "none"),
                              ("prev", "prev", "prev", "history")]))
def test_lz4_files_laid_out_by_tll(tmp_path, msgs, version, block, limits, seq, seed, dicts):
    """Records that refer back further than the previous payload, records in a block's last
    16 bytes: the same messages as one by one."""
    path = fresh(tmp_path)
    write_tll_lz4(path, msgs, version, block, random.Random(seed), dicts)
    assert oracle(path)[0] == plain(Data(*m) for m in msgs)
    kw = {} if seq is None or not msgs else {"seq": msgs[min(seq, len(msgs) - 1)][1]}
    check_lz4(path, limits, **kw)


def test_lz4_runs_cover_the_file(tmp_path):
    """The point of read_runs: LZ4 records come as runs, of one body size or of many, in the
    fast mode (each record's dictionary the previous payload) for our own files."""
    path = tmp_path / "r.dat"
    rnd = random.Random(3)
    fixed = [(10, s, b"%026d" % s) for s in range(10000)]
    varied = [(s % 5, s, b) for s, b in
              enumerate(lz4_bodies(rnd, [rnd.randrange(100) for _ in range(10000)]))]
    for msgs in (fixed, varied):
        for version in (0, 1):
            write_lz4(path, msgs, version, 64 * 1024)
            with FileReader(path) as r:
                got = r.read_runs(20000)
                assert not r._cursor.deep
            runs = [x for x in got if isinstance(x, Lz4Run)]
            assert expand(got) == plain(Data(*m) for m in msgs)
            assert sum(x.count for x in runs) > 9000
            assert all(x.size == 38 for x in runs) if msgs is fixed else \
                any(x.size == 0 for x in runs)
            path.unlink()


def test_lz4_reference_back_past_the_previous_payload(tmp_path):
    """A record that needs more than the previous payload fails in the fast mode and is
    decoded again with the block's history; the cursor stays with the history from then on."""
    path = tmp_path / "r.dat"
    words = [b"%032d" % i for i in range(20)]
    msgs = [(1, s, words[s % 20]) for s in range(400)]   # each body last seen 20 records back
    write_tll_lz4(path, msgs, 0, 64 * 1024, random.Random(1), ("history",))
    with FileReader(path) as r:
        first = r.read_runs(30)
        assert expand(first) == plain(Data(*m) for m in msgs[:30])
        assert r._cursor.deep
        assert expand(r.read_runs(1000)) == plain(Data(*m) for m in msgs[30:])
    check_lz4(path, [1, 9, 50, 500])


def test_lz4_run_parts(tmp_path):
    path = tmp_path / "r.dat"
    rnd = random.Random(7)
    for msgs in ([(s % 7, 3 * s, b"%05d" % s) for s in range(600)],
                 [(s % 7, 3 * s + (s > 300), b"x" * (s % 13)) for s in range(600)],
                 [(-s, -(1 << 62) + s, rnd.randbytes(s % 40)) for s in range(600)]):
        write_lz4(path, msgs, 1, 64 * 1024)
        with FileReader(path) as r:
            run = r.read_runs(600)[-1]
        assert isinstance(run, Lz4Run) and run.count > 500
        whole = run.messages()
        assert whole == [Data(*m) for m in msgs[-run.count:]]
        assert len(run) == run.count and list(run) == whole
        assert [run[i] for i in range(run.count)] == whole and run[-1] == whole[-1]
        with pytest.raises(IndexError):
            run[run.count]
        assert [run.seq(i) for i in range(run.count)] == [m.seq for m in whole]
        assert list(run.seq_list()) == [m.seq for m in whole]
        assert run.body_bytes == sum(len(m.body) for m in whole)
        assert run.body_sizes() == [len(m.body) for m in whole]
        assert run.msgids_bodies() == ([m.msgid for m in whole], [m.body for m in whole])
        assert run.payloads() == [struct.pack("<iq", m.msgid, m.seq) + m.body for m in whole]
        for i, j in [(0, 1), (0, run.count), (1, 2), (17, 300), (run.count - 1, run.count)]:
            part = run.part(i, j)
            assert part.messages() == whole[i:j] and part.count == j - i
            assert (part.first_seq, part.last_seq) == (whole[i].seq, whole[j - 1].seq)
            assert part.payloads() == run.payloads()[i:j]
        path.unlink()


@pytest.mark.parametrize("name", ["transaction-lz4.dat", "raw-lz4.dat"])
def test_lz4_golden_files(name):
    path = GOLDEN / "storage" / "file" / name
    for limits in ([1 << 30], [1, 7, 64, 100, 3, 1000], [8], [9, 300]):
        check_lz4(path, limits)
    with FileReader(path) as r:
        got = r.read_runs(1 << 30)
        assert r._cursor.deep                   # TLL's writer refers back past the previous
    assert any(isinstance(x, Lz4Run) for x in got)
    if name == "raw-lz4.dat":                   # seq 360: a record in block 1's last 16 bytes
        assert 360 in [m[1] for m in expand(got)] and len(expand(got)) == 300


@SETTINGS
@given(msgs=stored_lz4(max_n=200), version=st.sampled_from([0, 1]),
       block=st.sampled_from([1024, 4096]), tll=st.booleans(), data=st.data())
def test_lz4_torn_and_corrupt_records(tmp_path, msgs, version, block, tll, data):
    """Cut, zeroed or changed bytes, seqs that do not increase or leave int64: the same
    messages, stops and error texts as one by one."""
    path = fresh(tmp_path)
    rnd = random.Random(data.draw(st.integers(0, 1 << 30), label="seed"))
    if msgs and data.draw(st.booleans(), label="bad seq"):  # a seq field as written by nobody
        i = data.draw(st.integers(0, len(msgs) - 1), label="at")
        field = data.draw(st.sampled_from([0, -1, -(1 << 63), (1 << 63) - 1]), label="field")
        msgs = [*msgs[:i], (*msgs[i], field), *msgs[i + 1:]]
        tll = True
    if msgs and data.draw(st.booleans(), label="short"):   # payloads shorter than a header
        i = data.draw(st.integers(0, len(msgs) - 1), label="at")
        k = data.draw(st.sampled_from([1, 3, MIN_RUN, 40]), label="how many")
        raw = bytes(range(data.draw(st.integers(0, 11), label="size")))
        msgs = [*msgs[:i], *((*m[:3], raw) for m in msgs[i:i + k]), *msgs[i + k:]]
        tll = True
    if tll:
        write_tll_lz4(path, msgs, version, block, rnd)
    else:
        write_lz4(path, msgs, version, block)
    raw = bytearray(path.read_bytes())
    meta = 49
    for _ in range(data.draw(st.integers(0, 3), label="mutations")):
        if len(raw) <= meta:
            break
        pos = data.draw(st.integers(meta, len(raw) - 1), label="pos")
        kind = data.draw(st.sampled_from(["cut", "zero", "byte", "word"]), label="kind")
        if kind == "cut":
            del raw[pos:]
            break
        if not mutate_bytes(raw, data, pos, kind):
            raw[pos:pos + 4] = data.draw(st.binary(min_size=4, max_size=4), label="word")[:len(raw) - pos]
    path.write_bytes(bytes(raw))
    check_lz4(path, data.draw(LIMITS, label="limits"))


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("tll", [False, True])
def test_lz4_every_byte_of_a_record_inside_a_run(tmp_path, version, tll):
    """Each byte of an LZ4 record in the middle of a run changed in turn (frame word,
    compressed bytes, tail): read and read_runs deliver and refuse exactly what one by one
    does."""
    path = tmp_path / "r.dat"
    msgs = [(10, s, b"%010d" % s) for s in range(300)]
    if tll:
        write_tll_lz4(path, msgs, version, 64 * 1024, random.Random(2))
    else:
        write_lz4(path, msgs, version, 64 * 1024)
    with FileReader(path) as r:
        r.read(150)
        pos = r._cursor.pos                             # record 150
    good = path.read_bytes()
    size = int.from_bytes(good[pos:pos + 4], "little") & 0x7FFFFFFF
    for i in range(size):
        for value in {0, 0xFF, good[pos + i] ^ 1, good[pos + i] ^ 0x80}:
            raw = bytearray(good)
            raw[pos + i] = value
            path.write_bytes(bytes(raw))
            check_lz4(path, [100, 100, 100])


@SETTINGS
@given(msgs=stored_lz4(), version=st.sampled_from([0, 1]),
       block=st.sampled_from([1024, 1500, 4096]),
       cuts=st.lists(st.integers(1, 400), min_size=1, max_size=6), limits=LIMITS)
def test_lz4_file_appended_while_read(tmp_path, msgs, version, block, cuts, limits):
    """A writer in this process appends between reads: read, read_runs and one by one see
    the same."""
    path = fresh(tmp_path)
    with FileWriter(path, block=block, version=version, compression="lz4") as w, \
            FileReader(path) as a, FileReader(path) as b, FileReader(path) as c:
        got_a: list = []
        got_b: list = []
        got_c: list = []
        done = 0
        for cut in sorted(cuts) + [len(msgs)]:
            for m in msgs[done:cut]:
                w.post(*m)
            done = max(done, cut)
            for limit in limits:
                got_a += plain(a.read(limit))
                got_b += expand(b.read_runs(limit))
            while m := c.read(1):
                got_c += plain(m)
            assert got_a == got_c[:len(got_a)] and got_b == got_c[:len(got_b)]
        got_a += plain(a.read())
        got_b += expand(b.read_runs(1 << 30))
    assert got_a == got_b == got_c == plain(Data(*m) for m in msgs)
