"""rotate+file: naming, reading order, Rotate events, reopen, overlaps, cross-process follow."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from streamproto.errors import StorageError
from streamproto.events import Kind
from streamproto.storage import FileWriter, RotateReader, RotateWriter, SeqError, open_writer

REPO = Path(__file__).resolve().parents[3]


def listing(events):
    return [("R" if m.kind is Kind.CONTROL else m.seq) for m in events]


def names(d):
    return sorted(os.listdir(d))


@pytest.mark.parametrize("key,files", [("first", ["r.0.dat", "r.10.dat"]),
                                       ("last", ["r.19.dat", "r.9.dat"])])
def test_write_rotate_read(tmp_path, key, files):
    with RotateWriter(tmp_path / "r", filename_key=key, block=4096) as w:
        assert names(tmp_path) == ["r.current.dat"]
        for s in range(30):
            w.post(1, s, b"x%d" % s)
            if s in (9, 19):
                w.rotate()
    assert names(tmp_path) == sorted(files + ["r.current.dat"])
    with RotateReader(tmp_path / "r") as r:
        assert (r.first_seq, r.last_seq) == (0, 29)
        assert listing(r) == list(range(10)) + ["R"] + list(range(10, 20)) + ["R"] + list(range(20, 30))


def test_rotate_events_between_files(tmp_path):
    with RotateWriter(tmp_path / "o", block=4096) as w:
        for s in range(6):
            w.post(1, s, b"")
            if s % 2:
                w.rotate()
        assert w.rotate() is None                  # empty current: no-op
    with RotateReader(tmp_path / "o") as r:
        assert listing(r) == [0, 1, "R", 2, 3, "R", 4, 5, "R"]   # Rotate before the empty current too


def test_reopen_continues_global_seq(tmp_path):
    with RotateWriter(tmp_path / "a", block=4096, autoseq=True) as w:
        for _ in range(3):
            w.post(1, 0, b"")
        w.rotate()
    with open_writer(f"rotate+file://{tmp_path}/a;autoseq=yes;block=4kb") as w:
        assert (w.first_seq, w.last_seq) == (0, 2)
        assert w.post(1, 0, b"") == 3
    with RotateWriter(tmp_path / "a", block=4096) as w:
        with pytest.raises(SeqError, match="not greater than the last stored seq 3"):
            w.post(1, 2, b"")
    assert names(tmp_path) == ["a.0.dat", "a.current.dat"]


def test_reorder_files_by_content(tmp_path):
    with RotateWriter(tmp_path / "x", block=4096, filename_key="last") as w:
        for s in range(10):
            w.post(1, s, b"")
            w.rotate()
    other = tmp_path / "moved"
    other.mkdir()
    for n in names(tmp_path):
        if n.endswith(".dat"):
            shutil.move(tmp_path / n, other / n)
    with RotateReader(other / "x") as r:
        assert [m.seq for m in r if m.kind is Kind.DATA] == list(range(10))


def test_overlap_is_an_error_naming_both(tmp_path):
    for name, seqs in (("s.0.dat", (0, 100)), ("s.101.dat", (101, 200)), ("s.150.dat", (150, 250))):
        with FileWriter(tmp_path / name, block=4096) as w:
            for q in seqs:
                w.post(1, q, b"")
    with pytest.raises(StorageError, match=r"overlapping seq ranges: .*s\.101\.dat holds 101\.\.200, "
                                           r".*s\.150\.dat holds 150\.\.250"):
        RotateReader(tmp_path / "s")


@pytest.mark.parametrize("bad,match", [("zero", "zero-length file"), ("foreign", "foreign file"),
                                       ("empty", "holds no data"), ("junk", "not a TLL data file")])
def test_bad_members_reported(tmp_path, bad, match):
    with RotateWriter(tmp_path / "p", block=4096) as w:
        w.post(1, 0, b"")
    if bad == "zero":
        (tmp_path / "p.5.dat").write_bytes(b"")
    elif bad == "foreign":
        (tmp_path / "p.backup.dat").write_bytes(b"whatever")
    elif bad == "empty":
        FileWriter(tmp_path / "p.7.dat", block=4096).close()
    else:
        (tmp_path / "p.9.dat").write_bytes(b"0123456789abcdefghij" * 3)
    (tmp_path / "other.1.dat").write_bytes(b"")          # another set: ignored
    with pytest.raises(StorageError, match=match):
        RotateReader(tmp_path / "p")


def test_seek_picks_file(tmp_path):
    with RotateWriter(tmp_path / "k", block=4096) as w:
        for s in range(0, 100, 2):
            w.post(1, s, b"")
            if s in (30, 60):
                w.rotate()
    for target, first in ((0, 0), (31, 32), (32, 32), (61, 62), (98, 98), (99, None)):
        with RotateReader(tmp_path / "k", seq=target) as r:
            ev = list(r)
        assert (ev[0].seq if ev else None) == first
        assert [m.seq for m in ev if m.kind is Kind.DATA] == [s for s in range(0, 100, 2) if s >= target]


WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from streamproto.storage import RotateWriter
    with RotateWriter({prefix!r}, block=1024) as w:
        for s in range(60):
            w.post(7, s, b"m%d" % s)
            if s % 20 == 19:
                w.rotate()
            time.sleep(0.005)
""")


def test_follow_rotating_writer_in_another_process(tmp_path):
    prefix = str(tmp_path / "live")
    RotateWriter(prefix, block=1024).close()                     # current.dat exists
    with RotateReader(prefix) as r:
        proc = subprocess.Popen([sys.executable, "-c", WRITER.format(repo=str(REPO), prefix=prefix)])
        try:
            got = []
            for m in r.follow(poll=0.01, timeout=5.0):
                got.append(m)
                if m.kind is Kind.DATA and m.seq == 59:
                    break
        finally:
            proc.wait(timeout=10)
    assert proc.returncode == 0
    assert [m.seq for m in got if m.kind is Kind.DATA] == list(range(60))
    rot = [i for i, m in enumerate(got) if m.kind is Kind.CONTROL]
    assert [got[i - 1].seq for i in rot] == [19, 39]


def test_follow_file_appended_by_another_process(tmp_path):
    p = tmp_path / "f.dat"
    FileWriter(p, block=1024).close()
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from streamproto.storage import FileWriter
        with FileWriter({str(p)!r}) as w:
            for s in range(200):
                w.post(1, s, b"z" * (s % 90))
                if s % 10 == 0:
                    time.sleep(0.005)
    """)
    from streamproto.storage import FileReader
    with FileReader(p) as r:
        proc = subprocess.Popen([sys.executable, "-c", code])
        try:
            got = []
            for m in r.follow(poll=0.01, timeout=5.0, end_of_data="once"):
                got.append(m)
                if m.kind is Kind.DATA and m.seq == 199:
                    break
        finally:
            proc.wait(timeout=10)
    data = [m for m in got if m.kind is Kind.DATA]
    assert [m.seq for m in data] == list(range(200))
    assert all(len(m.body) == m.seq % 90 for m in data)
    assert got[0].kind is Kind.CONTROL and got[0].name == "EndOfData"
