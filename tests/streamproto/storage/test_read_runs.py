"""``read_runs`` (the shared history's reader) against ``read``: same messages, stops and errors.

Every test reads the same file twice with the same sequence of limits, once with ``read`` and
once with ``read_runs`` (runs expanded to ``Data``), and compares call by call: messages,
``incomplete``, and the error text when the data is corrupt.
"""
from __future__ import annotations

import random
import struct
import tempfile
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproto.errors import StorageError
from streamproto.events import Data
from streamproto.storage import FileReader, FileWriter, RotateReader, RotateWriter
from streamproto.storage.cursor import MIN_RUN, RecordRun, _increasing
from tests.conftest import GOLDEN

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def expand(items: list) -> list[tuple[int, int, bytes]]:
    out: list[tuple[int, int, bytes]] = []
    for x in items:
        if isinstance(x, RecordRun):
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
            in_runs += sum(x.count for x in got_b if isinstance(x, RecordRun))
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
        if kind == "zero":
            raw[pos:pos + 40] = bytes(len(raw[pos:pos + 40]))
        elif kind == "byte":
            raw[pos] = data.draw(st.integers(0, 255), label="value")
        else:                               # a seq that does not increase, in a run
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
       limits=LIMITS, start=st.none() | st.integers(0, 300))
def test_rotate_set_same_as_iteration(tmp_path, msgs, rotations, limits, start):
    """RotateReader.read_runs gives the data messages iteration gives, across files."""
    d = tempfile.mkdtemp(dir=tmp_path)
    w = RotateWriter(f"{d}/s", block=1024)
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
