"""A reader that picks up again after the end of the data notices a file cut back or rewritten
below what it already read (issue 8: `read --follow` used to go on silently at the old offset,
skipping the rewritten records and handing out the new ones as if nothing happened)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamproto.errors import StorageError
from streamproto.storage import FileReader, FileWriter

REPO = Path(__file__).resolve().parents[3]


def write(path: Path, seqs: range, body: bytes, **kw) -> None:
    with FileWriter(str(path), **kw) as w:
        for s in seqs:
            w.post(10, s, body)


def end_of(path: Path, n: int) -> int:
    """Byte offset after the first n records."""
    with FileReader(str(path)) as r:
        r.read(n)
        return r._cursor.pos


@pytest.mark.parametrize("kw", [{}, {"compression": "lz4"}, {"io": "posix"}],
                         ids=["plain", "lz4", "posix"])
def test_rewritten_in_place_is_reported(tmp_path: Path, kw: dict) -> None:
    f = tmp_path / "f.dat"
    write(f, range(100), b"a" * 20, **kw)
    with FileReader(str(f)) as r:
        assert [m.seq for m in r] == list(range(100))
        assert r.read() == []                        # at the end: nothing new, no error
        os.truncate(f, end_of(f, 50))                # cut back to seq 49 ...
        write(f, range(50, 150), b"b" * 20, **kw)    # ... and written again past the old end
        with pytest.raises(StorageError, match="truncated or rewritten") as e:
            r.read()
        assert "up to seq 99" in str(e.value)


def test_cut_back_is_reported(tmp_path: Path) -> None:
    f = tmp_path / "f.dat"
    write(f, range(100), b"a" * 20)
    with FileReader(str(f)) as r:
        assert len(list(r)) == 100
        os.truncate(f, end_of(f, 10))
        with pytest.raises(StorageError, match=r"cut back to \d+ bytes, below the \d+ bytes "
                                               r"already read \(up to seq 99\)"):
            list(r)


def test_growth_is_not_a_rewrite(tmp_path: Path) -> None:
    f = tmp_path / "f.dat"
    write(f, range(100), b"a" * 20)
    with FileReader(str(f)) as r:
        assert len(r.read()) == 100
        write(f, range(100, 300), b"c" * 20)         # appended by a later writer
        assert [m.seq for m in r.read()] == list(range(100, 300))
        assert r.read() == []


def test_follow_reports_the_rewrite(tmp_path: Path) -> None:
    f = tmp_path / "f.dat"
    write(f, range(100), b"a" * 20)
    seen = []
    with FileReader(str(f)) as r:
        with pytest.raises(StorageError, match="truncated or rewritten"):
            for m in r.follow(poll=0.01, timeout=20):
                seen.append(m.seq)
                if m.seq == 99:
                    os.truncate(f, end_of(f, 50))
                    write(f, range(50, 150), b"b" * 20)
    assert seen == list(range(100))


def test_read_follow_exits_with_an_error(tmp_path: Path) -> None:
    f = tmp_path / "f.dat"
    write(f, range(100), b"a" * 20)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.Popen([sys.executable, "-m", "streamproto", "read", str(f), "--follow",
                          "--format", "jsonl"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        for _ in range(100):
            assert p.stdout.readline()
        os.truncate(f, end_of(f, 50))
        write(f, range(50, 150), b"b" * 20)
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail("read --follow went on after the file was rewritten")
    err = p.stderr.read()                            # type: ignore[union-attr]
    assert p.returncode == 1
    assert err.startswith("Error: ") and err.count("\n") == 1 and "rewritten" in err
    assert p.stdout.read() == ""                     # no seq handed out twice or skipped
