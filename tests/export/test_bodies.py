"""The bulk body locator: the same records as FileReader, walked without the reader on regular files."""
from __future__ import annotations

import random
import shutil

import numpy as np
import pytest

from streamproto.export import bodies as bodies_mod
from streamproto.export.bodies import file_bodies
from streamproto.storage import FileReader, FileWriter

from .conftest import STORAGE

FILES = ["transaction.dat", "transaction-mmap-v1.dat", "raw-noscheme.dat", "transaction-lz4.dat",
         "raw-lz4.dat", "empty.dat"]


def located(path, **kw) -> list[tuple[int, int, bytes]]:
    out = []
    for ch in file_bodies(str(path), **kw):
        for p, s, q, m in zip(ch.pos.tolist(), ch.size.tolist(), ch.seq.tolist(), ch.msgid.tolist()):
            out.append((q, m, ch.buf[p:p + s].tobytes()))
    return out


def by_reader(path) -> list[tuple[int, int, bytes]]:
    with FileReader(path) as r:
        return [(m.seq, m.msgid, m.body) for m in r]


@pytest.fixture
def no_reader(monkeypatch):
    """Fail if the locator hands anything to the reader path."""
    def refuse(*a, **k):
        raise AssertionError("reader path used")
        yield
    monkeypatch.setattr(bodies_mod, "reader_bodies", refuse)


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("window", [1, 4096 * 3, bodies_mod.WINDOW])
def test_same_records_as_reader(name, window):
    path = STORAGE / "file" / name
    assert located(path, window=window) == by_reader(path)


@pytest.mark.parametrize("name", ["transaction.dat", "transaction-mmap-v1.dat", "raw-noscheme.dat"])
def test_regular_files_never_use_the_reader(name, no_reader):
    path = STORAGE / "file" / name
    assert located(path, window=4096) == by_reader(path)


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("io", ["posix", "mmap"])
def test_mixed_sizes_many_blocks(tmp_path, version, io, no_reader):
    rnd = random.Random(version * 2 + (io == "mmap"))
    path = tmp_path / "m.dat"
    with FileWriter(path, block=1024, version=version, io=io) as w:
        seq = 0
        for _ in range(3000):
            seq += rnd.choice([1, 1, 1, 5])
            size = rnd.choice([0, 8, 8, 8, 8, 26, 26, 26, 300, rnd.randrange(0, 1000)])
            w.post(rnd.randrange(4), seq, rnd.randbytes(size))
    want = by_reader(path)
    assert len(want) == 3000
    for window in (1024, 5000, 1 << 20):
        assert located(path, window=window) == want


def test_torn_tail_stops_like_the_reader(tmp_path):
    path = tmp_path / "t.dat"
    shutil.copyfile(STORAGE / "file" / "transaction.dat", path)
    data = path.read_bytes()
    path.write_bytes(data[:-20])                     # the last record loses its tail
    want = by_reader(path)
    assert len(want) == 599
    assert located(path) == want


def test_seek_bound_skips_blocks():
    path = STORAGE / "file" / "transaction.dat"
    got = [q for q, _, _ in located(path, seq=500)]
    assert got[0] > 0 and got[0] <= 500 and got[-1] == 599      # whole blocks skipped, none missed
    assert located(path, seq=10**9) == [] or located(path, seq=10**9)[-1][0] == 599


def test_stop_after_last():
    path = STORAGE / "file" / "transaction.dat"
    chunks = list(file_bodies(str(path), last=50, window=4096))
    assert len(chunks) == 1 and int(chunks[0].seq[-1]) > 50
    assert np.all(np.diff(chunks[0].seq) > 0)
