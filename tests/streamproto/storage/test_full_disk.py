"""Full disk and other write failures: a post is acknowledged only once stored, a failed one
leaves no trace, the writer is usable again once space is freed; OS errors are StorageErrors.

Two kinds of tests: a simulated disk that ends at a file offset (``os.pwrite`` writes short and
then fails, ``os.posix_fallocate`` refuses) covers the rollback logic at every position of a
file; real small tmpfs file systems (see ``fullfs``) cover the whole path for both io modes,
convert and rotate sets.
"""
from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from streamproto.errors import StorageError
from streamproto.storage import FileReader, FileWriter, RotateReader, RotateWriter
from streamproto.storage.writer import StorageWriteError
from tests.streamproto.storage.fullfs import REPO, on_tmpfs

HERE = "tests.streamproto.storage.test_full_disk"


def body(seq: int) -> bytes:
    """Deterministic bodies of varied size, partly compressible."""
    return (b"%08d" % seq) * (seq % 13) + bytes([seq % 251]) * (seq % 7) + b"|"


# -- a simulated disk that ends at a file offset ----------------------------------------------
class Disk:
    """Patches os.pwrite / os.posix_fallocate: nothing is stored at or past ``limit``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, limit: int | None = None, chunk: int | None = None):
        self.limit, self.chunk = limit, chunk
        self.real_pwrite, self.real_fallocate = os.pwrite, os.posix_fallocate
        monkeypatch.setattr(os, "pwrite", self.pwrite)
        monkeypatch.setattr(os, "posix_fallocate", self.fallocate)

    def pwrite(self, fd: int, data, offset: int) -> int:
        n = len(data)
        if self.chunk is not None:
            n = min(n, self.chunk)
        if self.limit is not None:
            if offset >= self.limit and n:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            n = min(n, self.limit - offset)
        return self.real_pwrite(fd, memoryview(data)[:n], offset)

    def fallocate(self, fd: int, offset: int, length: int) -> None:
        if self.limit is not None and offset + length > self.limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.real_fallocate(fd, offset, length)


def reference_file(path, n: int, **kw) -> bytes:
    """Bytes of a file holding records 0..n-1, written without any failure."""
    with FileWriter(path, **kw) as w:
        for s in range(n):
            w.post(1, s, body(s))
    return path.read_bytes()


def read_all(path) -> list[tuple[int, bytes]]:
    with FileReader(path) as r:
        out = [(m.seq, bytes(m.body)) for m in r]
        assert not r.incomplete, "torn record at the end of the file"
    return out


KINDS = [pytest.param(io, comp, buf, id=f"{io}-{comp}-buffer{buf}")
         for io in ("posix", "mmap") for comp in ("none", "lz4") for buf in (0, 700)]


@pytest.mark.parametrize("io,comp,buf", KINDS)
def test_short_writes_are_continued(tmp_path, monkeypatch, io, comp, buf):
    """pwrite may store fewer bytes than asked: the writer goes on until all is written."""
    kw = dict(block=1024, io=io, compression=comp, buffer=buf, extra_space=0 if io == "posix" else None)
    ref = reference_file(tmp_path / "ref.dat", 80, **kw)
    Disk(monkeypatch, chunk=7)
    monkeypatch.setattr(os, "posix_fallocate", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    p = tmp_path / "short.dat"
    with FileWriter(p, **kw) as w:
        for s in range(80):
            w.post(1, s, body(s))
    assert p.read_bytes() == ref


@pytest.mark.parametrize("io,comp,buf", KINDS)
def test_failed_post_leaves_no_trace(tmp_path, monkeypatch, io, comp, buf):
    """The disk ends at every offset in turn: the failure is a StorageWriteError, the file holds
    exactly the acknowledged records (no torn tail), the writer's state is the file's, and after
    space is freed the rest is written: the file is then byte-identical to one that never failed.
    """
    N = 70
    kw = dict(block=1024, io=io, compression=comp, buffer=buf)
    ref = reference_file(tmp_path / "ref.dat", N, **kw)
    end = len(ref.rstrip(b"\0"))
    disk = Disk(monkeypatch)
    for limit in range(60, end, 53):
        p = tmp_path / f"t{limit}.dat"
        disk.limit = limit
        w = FileWriter(p, **kw)
        acked = []                    # post returned (with a buffer: accepted)
        err = None
        for s in range(N):
            try:
                w.post(1, s, body(s))
            except StorageWriteError as e:
                err = e
                break
            acked.append(s)
        if err is None:
            try:
                w.flush()
            except StorageWriteError as e:
                err = e
        assert err is not None, f"limit {limit}: nothing failed"
        assert str(p) in str(err) and "No space left on device" in str(err)
        stored = read_all(p)
        # exactly a prefix of what was acknowledged, and that is the writer's state
        assert stored == [(s, body(s)) for s in range(len(stored))]
        last = stored[-1][0] if stored else None
        assert w.last_seq == err.stored_seq == last
        assert w.first_seq == (0 if stored else None)
        if not buf:
            assert len(stored) == len(acked) and err.lost == 1
        else:
            assert err.lost == len(acked) + (s not in acked) - len(stored)
        w.flush()                     # nothing of the failed batch is written later
        assert read_all(p) == stored
        disk.limit = None             # space freed: the next post works
        for s2 in range(len(stored), N):
            w.post(1, s2, body(s2))
        w.close()
        assert p.read_bytes() == ref, f"limit {limit}"
        p.unlink()


def test_failed_extension_rolls_back(tmp_path, monkeypatch):
    """mmap: growing the file for a new block fails -> StorageWriteError, state unchanged."""
    p = tmp_path / "e.dat"
    ref = reference_file(tmp_path / "ref.dat", 40, block=1024)
    w = FileWriter(p, block=1024)
    s = 0
    real = os.ftruncate

    def refuse(fd, size):
        raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
    while True:
        size_before = os.path.getsize(p)
        monkeypatch.setattr(os, "ftruncate", refuse)
        try:
            w.post(1, s, body(s))
        except StorageWriteError as e:
            assert "File too large" in str(e) and e.lost == 1 and w.last_seq == s - 1
            break
        finally:
            monkeypatch.setattr(os, "ftruncate", real)
        s += 1
    assert os.path.getsize(p) == size_before and read_all(p) == [(i, body(i)) for i in range(s)]
    for i in range(s, 40):
        w.post(1, i, body(i))
    w.close()
    assert p.read_bytes() == ref


# -- OS errors other than a full disk name the path -------------------------------------------
def _raise(err: int):
    def f(*a, **k):
        raise OSError(err, os.strerror(err))
    return f


@pytest.mark.parametrize("err", [errno.EACCES, errno.EMFILE, errno.EROFS])
def test_open_errors_are_storage_errors(tmp_path, monkeypatch, err):
    existing = tmp_path / "e.dat"
    with FileWriter(existing, block=4096) as w:
        w.post(1, 0, b"x")
    (tmp_path / "set.0.dat").write_bytes(existing.read_bytes())
    msg = os.strerror(err)
    with monkeypatch.context() as m:
        m.setattr(os, "open", _raise(err))
        with pytest.raises(StorageError, match=f"{existing}.*{msg}"):
            FileReader(existing)
        with pytest.raises(StorageError, match=f"{existing}.*{msg}"):
            FileWriter(existing)
    with monkeypatch.context() as m:
        m.setattr("tempfile.mkstemp", _raise(err))
        with pytest.raises(StorageError, match=f"{tmp_path / 'new.dat'}.*{msg}"):
            FileWriter(tmp_path / "new.dat")
    with monkeypatch.context() as m:
        m.setattr(os, "listdir", _raise(err))
        with pytest.raises(StorageError, match=f"{tmp_path}.*{msg}"):
            RotateReader(tmp_path / "set")
    w = RotateWriter(tmp_path / "set", block=4096)
    w.post(1, 1, b"y")
    with monkeypatch.context() as m:
        m.setattr(os, "rename", _raise(err))
        with pytest.raises(StorageError, match=f"cannot rotate .*set.current.dat.*{msg}"):
            w.rotate()
    w.post(1, 2, b"z")                 # the set is as it was: still writing the current file
    assert w.rotate() == str(tmp_path / "set.1.dat")
    w.close()
    with RotateReader(tmp_path / "set") as r:
        assert [m.seq for m in r if m.kind == 0] == [0, 1, 2]


def test_missing_directory_and_directory_paths(tmp_path):
    with pytest.raises(StorageError, match=f"cannot create {tmp_path}/no/x.dat: directory {tmp_path}/no does not exist"):
        FileWriter(tmp_path / "no" / "x.dat")
    with pytest.raises(StorageError, match="No such file or directory"):
        FileReader(tmp_path / "no" / "x.dat")
    with pytest.raises(StorageError, match="is a directory"):
        FileReader(tmp_path)
    with pytest.raises(StorageError, match="does not exist"):
        RotateWriter(tmp_path / "no" / "set")


def test_failed_rotate_leaves_the_set_consistent(tmp_path, monkeypatch):
    """The new current file cannot be created: the rename is undone, posting goes on."""
    w = RotateWriter(tmp_path / "r", block=4096)
    for s in range(3):
        w.post(1, s, body(s))
    with monkeypatch.context() as m:
        m.setattr("tempfile.mkstemp", _raise(errno.ENOSPC))
        with pytest.raises(StorageError, match="cannot rotate .*r.current.dat.*No space left"):
            w.rotate()
    assert sorted(os.listdir(tmp_path)) == ["r.current.dat"]
    assert (w.first_seq, w.last_seq) == (0, 2)
    w.post(1, 3, body(3))
    assert w.rotate() == str(tmp_path / "r.0.dat")
    w.post(1, 4, body(4))
    w.close()
    with RotateReader(tmp_path / "r") as r:
        assert [(m.seq, m.body) for m in r if m.kind == 0] == [(s, body(s)) for s in range(5)]


# -- real small file systems --------------------------------------------------------------------
def _fill(d: str, size: int) -> str:
    p = os.path.join(d, "filler")
    with open(p, "wb") as f:
        f.write(b"\1" * size)
    return p


def scenario_writer(d: str, io: str, comp: str, buf: int) -> dict:
    """Post until the disk is full, read back, free space, post on, read back."""
    filler = _fill(d, 300_000)
    p = os.path.join(d, "w.dat")
    w = FileWriter(p, block=4096, io=io, compression=comp, buffer=buf)
    out: dict = {}
    s = 0
    while True:
        try:
            w.post(1, s, body(s))
        except StorageWriteError as e:
            out.update(error=str(e), lost=e.lost, stored_seq=e.stored_seq, failed_seq=s)
            break
        s += 1
    out["last_seq"] = w.last_seq
    out["stored"] = [(m.seq, m.body.hex()) for m in FileReader(p)]
    os.unlink(filler)
    start = w.last_seq + 1
    for s in range(start, start + 500):
        w.post(1, s, body(s))
    w.close()
    with FileReader(p) as r:
        out["final"] = [(m.seq, m.body.hex()) for m in r]
        out["torn"] = r.incomplete
    return out


@pytest.mark.parametrize("io,comp,buf", [("mmap", "none", 0), ("posix", "none", 0), ("mmap", "lz4", 0),
                                         ("posix", "lz4", 0), ("posix", "none", 65536),
                                         ("mmap", "lz4", 65536)])
def test_full_tmpfs_writer(io, comp, buf):
    r = on_tmpfs(f"{HERE}:scenario_writer", "1m", [io, comp, buf])
    assert "w.dat" in r["error"] and "No space left on device" in r["error"]
    n = len(r["stored"])
    assert n > 1000 and r["stored_seq"] == r["last_seq"] == n - 1
    assert r["stored"] == [[s, body(s).hex()] for s in range(n)]
    if not buf:
        assert r["failed_seq"] == n and r["lost"] == 1 and f"seq {n} not stored" in r["error"]
    assert r["final"] == [[s, body(s).hex()] for s in range(n + 500)] and not r["torn"]


def scenario_convert(d: str, src: str, io: str) -> dict:
    filler = _fill(d, 400_000)
    out = os.path.join(d, "out.dat")
    cli = [sys.executable, "-c", "from streamproto.cli.cli import main; main()"]
    r = subprocess.run(cli + ["convert", src, f"file://{out};io={io}"], capture_output=True,
                       text=True, cwd=REPO)
    res = {"rc": r.returncode, "stderr": r.stderr}
    with FileReader(out) as rd:
        res["stored"] = [m.seq for m in rd]
        res["torn"] = rd.incomplete
    os.unlink(filler)
    with FileReader(src) as rd, FileWriter(out, io=io) as w:  # the output is appendable
        for m in rd:
            if m.seq > w.last_seq:
                w.post(m.msgid, m.seq, m.body)
    with FileReader(out) as rd, FileReader(src) as rs:
        res["same"] = [(m.seq, m.body) for m in rd] == [(m.seq, m.body) for m in rs]
    return res


@pytest.mark.parametrize("io", ["posix", "mmap"])
def test_full_tmpfs_convert(tmp_path, io):
    src = tmp_path / "src.dat"
    with FileWriter(src, block=1 << 20, io="posix") as w:
        for s in range(12000):
            w.post(1, s, body(s))
    assert 700_000 < os.path.getsize(src) < 900_000   # more than fits next to the filler
    r = on_tmpfs(f"{HERE}:scenario_convert", "1m", [str(src), io])
    err = r["stderr"].strip()
    assert r["rc"] == 1 and len(err.splitlines()) == 1 and "Traceback" not in err
    n = len(r["stored"])
    assert 3000 < n < 12000 and r["stored"] == list(range(n)) and not r["torn"]
    assert err.startswith("Error: ") and "out.dat" in err and "No space left on device" in err
    assert err.endswith(f"convert stopped: {n} messages written")
    assert r["same"]


def scenario_rotate(d: str, io: str) -> dict:
    filler = _fill(d, 300_000)
    w = RotateWriter(os.path.join(d, "r"), block=4096, io=io)
    s = 0
    res: dict = {}
    while True:
        try:
            w.post(1, s, body(s))
        except StorageWriteError as e:
            res["error"] = str(e)
            break
        if s % 3000 == 2999:
            w.rotate()
        s += 1
    try:
        w.rotate()
    except StorageError as e:
        res["rotate_error"] = str(e)
    res["files_full"] = sorted(os.listdir(d))
    with RotateReader(os.path.join(d, "r")) as r:
        res["stored"] = [m.seq for m in r if m.kind == 0]
    os.unlink(filler)
    start = w.last_seq + 1
    for s in range(start, start + 100):
        w.post(1, s, body(s))
    w.rotate()
    w.post(1, s + 1, body(s + 1))
    w.close()
    with RotateReader(os.path.join(d, "r")) as r:
        res["final"] = [(m.seq, m.body.hex()) for m in r if m.kind == 0]
    return res


@pytest.mark.parametrize("io", ["posix", "mmap"])
def test_full_tmpfs_rotate(io):
    r = on_tmpfs(f"{HERE}:scenario_rotate", "1m", [io])
    assert "No space left on device" in r["error"]
    n = len(r["stored"])
    assert n > 3000 and r["stored"] == list(range(n))
    assert "r.current.dat" in r["files_full"] and "r.0.dat" in r["files_full"]
    assert r["final"] == [[s, body(s).hex()] for s in range(n + 101)]


def scenario_readonly(d: str) -> dict:
    p = os.path.join(d, "ro.dat")
    with FileWriter(p, block=4096) as w:
        w.post(1, 0, b"x")
    subprocess.run(["mount", "-o", "remount,ro", d], check=True)
    res = {}
    for name, fn in (("reopen", lambda: FileWriter(p)), ("create", lambda: FileWriter(os.path.join(d, "n.dat"))),
                     ("rotate", lambda: RotateWriter(os.path.join(d, "set")))):
        try:
            fn().close()
            res[name] = None
        except StorageError as e:
            res[name] = str(e)
    res["read"] = [m.seq for m in FileReader(p)]
    return res


def test_read_only_file_system():
    r = on_tmpfs(f"{HERE}:scenario_readonly", "64k", [])
    assert "ro.dat" in r["reopen"] and "Read-only file system" in r["reopen"]
    assert "n.dat" in r["create"] and "Read-only file system" in r["create"]
    assert "set.current.dat" in r["rotate"] and "Read-only file system" in r["rotate"]
    assert r["read"] == [0]
