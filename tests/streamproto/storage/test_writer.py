"""FileWriter: reference byte layout, limits, reopen, autoseq, lz4, locking."""
from __future__ import annotations

import os
import random

import pytest

from streamproto.errors import ChannelError, StorageError
from streamproto.storage import FileReader, FileWriter, SeqError, open_reader, open_writer

BODY8 = bytes(range(1, 9))
def worked_example(version=0):
    meta = bytes.fromhex("310000004d6574610000000000000000" "2000") + bytes([version]) + bytes.fromhex(
        "0000100000" + "00" * 24) + b"\x80"
    frame = b"\x19\x00\x00" + (b"\x80" if version else b"\x00")
    return meta + frame + b"\x0a\x00\x00\x00" + b"\0" * 8 + BODY8 + b"\x80"


@pytest.mark.parametrize("version", [0, 1])
def test_worked_example_posix(tmp_path, version):
    p = tmp_path / "ex.dat"
    with FileWriter(p, block=4096, io="posix", version=version) as w:
        assert w.post(10, 0, BODY8) == 0
    assert p.read_bytes() == worked_example(version)
    assert len(p.read_bytes()) == 74


def test_worked_example_mmap_padding(tmp_path):
    p = tmp_path / "ex.dat"
    with FileWriter(p, block=4096) as w:
        w.post(10, 0, BODY8)
    data = p.read_bytes()
    assert len(data) == 8192 and data[:74] == worked_example(0) and not data[74:].strip(b"\0")


def test_lz4_worked_example_reads(tmp_path):
    p = tmp_path / "z.dat"
    with FileWriter(p, block=4096, io="posix", compression="lz4") as w:
        w.post(10, 0, BODY8)
        w.post(10, 1, BODY8)
    data = p.read_bytes()
    assert data[0x13] == 1
    assert data[0x31:0x31 + 19] == bytes.fromhex("13000000260a000100800102030405060708 80".replace(" ", ""))
    assert [(m.msgid, m.seq, m.body) for m in FileReader(p)] == [(10, 0, BODY8), (10, 1, BODY8)]


def test_block_boundary_skip_frame_and_header(tmp_path):
    for version, hdr in ((0, b"\x05\x00\x00\x00\x80"), (1, b"\x05\x00\x00\x80\x80")):
        p = tmp_path / f"b{version}.dat"
        with FileWriter(p, block=1024, io="posix", version=version) as w:
            w.post(1, 0, b"a" * 512)
            w.post(1, 1, b"b" * 512)
        data = p.read_bytes()
        assert data[49 + 529:49 + 533] == b"\xff\xff\xff\xff"
        assert data[1024:1029] == hdr
        assert len(data) == 1024 + 5 + 529
        assert [m.seq for m in FileReader(p)] == [0, 1]


def test_skip_frame_trim(tmp_path):
    """2 bytes left in a block: no skip frame, zeros, next record in the next block."""
    p = tmp_path / "t.dat"
    with FileWriter(p, block=1024, io="posix") as w:
        w.post(1, 0, b"x" * 100)
        w.post(1, 1, b"y" * 1000)      # goes to block 1, leaves 1024-5-1017 = 2 bytes
        assert os.path.getsize(p) == 2046
        w.post(1, 2, b"z" * 16)
    data = p.read_bytes()
    assert data[2046:2048] == b"\0\0" and data[2048:2053] == b"\x05\0\0\0\x80"
    assert len(data) == 2048 + 5 + 16 + 17
    assert [m.seq for m in FileReader(p)] == [0, 1, 2]


def test_nothing_in_last_16_bytes(tmp_path):
    """Our writer never places a record where fewer than 17 bytes would remain before it."""
    p = tmp_path / "z.dat"
    with FileWriter(p, block=1024, io="posix", compression="lz4") as w:
        for i in range(300):
            w.post(5, i, bytes([i % 3]) * (i % 50) + os.urandom(i % 4))
    with FileReader(p) as r:
        c = r._new_cursor(0)
        out: list = []
        starts = []
        prev_end = None
        while c.read(out, 1):
            end = c.pos
            blk = (end - 1) // 1024
            start = prev_end if prev_end is not None and (prev_end - 1) // 1024 == blk else blk * 1024 + 5
            starts.append(start)
            prev_end = end
        assert len(out) == 300 and len({s // 1024 for s in starts}) > 3
        assert all(1024 - s % 1024 >= 17 for s in starts)


def test_size_limits(tmp_path):
    p = tmp_path / "s.dat"
    with FileWriter(p, block=1024, io="posix") as w:
        w.post(1, 0, b"a" * 100)
        size = os.path.getsize(p)
        with pytest.raises(StorageError, match="does not fit"):
            w.post(1, 1, b"a" * 1003)      # 1020-byte record would cross into a new block's header
        with pytest.raises(StorageError, match="does not fit"):
            w.post(1, 1, b"a" * (1 << 20))
        assert os.path.getsize(p) == size and w.last_seq == 0
        w.post(1, 1, b"a" * 1002)          # B - 22: the largest body always placeable
    assert [len(m.body) for m in FileReader(p)] == [100, 1002]


def test_seq_must_increase(tmp_path):
    with FileWriter(tmp_path / "q.dat", block=4096) as w:
        w.post(1, 10, b"")
        for bad in (10, 5):
            with pytest.raises(SeqError, match=f"seq {bad} is not greater than the last stored seq 10"):
                w.post(1, bad, b"")
        assert isinstance(SeqError("x"), ChannelError)
        w.post(1, 30, b"")              # gaps are fine
    assert [m.seq for m in FileReader(tmp_path / "q.dat")] == [10, 30]


@pytest.mark.parametrize("compression", ["none", "lz4"])
@pytest.mark.parametrize("io", ["posix", "mmap"])
def test_reopen_appends(tmp_path, compression, io):
    p = tmp_path / "r.dat"
    rnd = random.Random(5)
    expect = []
    seq = 0
    for round_ in range(4):
        with FileWriter(p, block=1024, io=io, compression=compression) as w:
            assert w.last_seq == (expect[-1][1] if expect else None)
            for _ in range(37):
                body = bytes([rnd.randrange(4)]) * rnd.randrange(0, 300)
                w.post(round_, seq, body)
                expect.append((round_, seq, body))
                seq += rnd.randrange(1, 3)
    with FileReader(p) as r:
        assert [(m.msgid, m.seq, m.body) for m in r] == expect
        assert r.bounds() == (expect[0][1], expect[-1][1])


def test_reopen_lz4_block_start_after_short_tail(tmp_path):
    """Reopen when the last record left < 17 bytes: next block, absolute seq
    (docs/storage-format.md#reference-writer-defects)."""
    p = tmp_path / "z.dat"
    with FileWriter(p, block=1024, io="posix", compression="lz4") as w:
        i = 0
        while os.path.getsize(p) < 1024 - 40:
            w.post(1, 1000 + i, os.urandom(20))
            i += 1
        last = w.last_seq
    with FileWriter(p, block=1024, io="posix", compression="lz4") as w:
        w.post(1, last + 5, b"a" * 900)
        w.post(1, last + 6, b"a" * 10)
    seqs = [m.seq for m in FileReader(p)]
    assert seqs[-2:] == [last + 5, last + 6] and seqs == sorted(seqs)


def test_meta_wins_on_reopen(tmp_path):
    p = tmp_path / "m.dat"
    with FileWriter(p, block=2048, compression="lz4", version=1) as w:
        w.post(1, 0, b"abc")
    with FileWriter(p, block=4096) as w:
        assert (w.block, w.compression, w.version) == (2048, "lz4", 1)
        w.post(1, 1, b"abc")
    assert [m.seq for m in FileReader(p)] == [0, 1]


def test_autoseq(tmp_path):
    p = tmp_path / "a.dat"
    with FileWriter(p, block=4096, autoseq=True) as w:
        assert [w.post(1, 100, b"") for _ in range(5)] == [0, 1, 2, 3, 4]
    with open_writer(f"file://{p};autoseq=yes") as w:
        assert [w.post(1, 0, b"") for _ in range(5)] == [5, 6, 7, 8, 9]
    assert [m.seq for m in FileReader(p)] == list(range(10))


def test_write_lock(tmp_path):
    p = tmp_path / "l.dat"
    with FileWriter(p, block=4096):
        with pytest.raises(StorageError, match="locked by another writer"):
            FileWriter(p, block=4096)
    FileWriter(p, block=4096).close()


def test_writer_on_directory(tmp_path):
    with pytest.raises(StorageError, match="is a directory"):
        FileWriter(tmp_path)


def test_buffered_writes_flush(tmp_path):
    p = tmp_path / "f.dat"
    w = FileWriter(p, block=4096, io="posix", buffer=1 << 20)
    w.post(1, 0, b"x")
    assert FileReader(p).read() == []
    w.flush()
    assert [m.seq for m in FileReader(p).read()] == [0]
    w.close()


def test_url_parameters(tmp_path):
    p = tmp_path / "u.dat"
    url = f"file://{p};dir=w;block=4kb; compression=lz4;version=1;io=posix;file.block=2kb"
    with open_writer(url) as w:
        assert (w.block, w.compression, w.version) == (2048, "lz4", 1)
        w.post(3, 7, b"hello")
    with open_reader(f"file://{p};mode=last") as r:
        assert [(m.msgid, m.seq, m.body) for m in r] == [(3, 7, b"hello")]


def test_open_modes(tmp_path):
    p = tmp_path / "o.dat"
    with FileWriter(p, block=1024) as w:
        for i in range(4):
            w.post(1, i * 10, b"x" * 300)
        with FileReader(p, mode="last") as r, FileReader(p, mode="end") as e:
            assert [m.seq for m in r] == [30]
            assert list(e) == []
            w.post(1, 40, b"y" * 1000)
            assert [m.seq for m in r] == [40] and [m.seq for m in e] == [40]


def test_scheme_stored_and_decoded(tmp_path, golden):
    import tllschema
    url = "yaml://" + str(golden / "scheme" / "transaction.yaml")
    p = tmp_path / "s.dat"
    msg = tllschema.load(url).message("Transaction")
    with FileWriter(p, block=4096, scheme=url) as w:
        assert w.scheme_url.startswith("yamls+gz://eJ")
        w.post(10, 0, msg.encode(id=7, price="1.25", count=3))
    with FileReader(p) as r:
        rec = r.decode(next(iter(r)))
        assert (rec.id, rec.count) == (7, 3)


def test_mmap_write_through_matches_the_reference_mmap_file(golden, tmp_path):
    """Posting one by one through the map (the default) gives the reference's io=mmap bytes."""
    src = golden / "storage" / "file" / "transaction-mmap-v1.dat"
    with FileReader(src) as r:
        msgs = [(m.msgid, m.seq, m.body) for m in r]
        stored = r.meta.scheme
    out = tmp_path / "out.dat"
    with FileWriter(out, block=4096, version=1, stored_scheme=stored) as w:
        assert w._mm is not None  # the write-through map is in use
        for msgid, seq, body in msgs:
            w.post(msgid, seq, body)
    assert out.read_bytes() == src.read_bytes()


def test_mmap_record_is_visible_to_another_reader_at_once(tmp_path):
    p = tmp_path / "live.dat"
    with FileWriter(p, block=1024) as w, FileReader(p) as r:
        for seq in range(200):  # crosses several blocks and file extensions
            w.post(7, seq, bytes([seq % 256]) * (seq % 50))
            got = r.read()
            assert [(m.seq, m.body) for m in got] == [(seq, bytes([seq % 256]) * (seq % 50))]


@pytest.mark.parametrize("compression", ["none", "lz4"])
@pytest.mark.parametrize("io", ["mmap", "posix"])
def test_read_after_a_read_that_stopped_at_its_limit_sees_new_records(tmp_path, compression, io):
    """Regression: a read that stopped at its limit kept its window of the file, and with
    io=mmap (a file longer than its data) the next read took the zeros in that window for
    the end of the data: records written in between came only with the read after."""
    p = tmp_path / "live.dat"
    with FileWriter(p, compression=compression, io=io) as w, FileReader(p) as r:
        for seq in range(10):
            w.post(7, seq, b"x" * 20)
        assert [m.seq for m in r.read(4)] == [0, 1, 2, 3]
        w.post(7, 10, b"y" * 20)
        assert [m.seq for m in r.read(100)] == [4, 5, 6, 7, 8, 9, 10]
        w.post(7, 11, b"z" * 20)
        assert [m.seq for m in r.read_runs(100)] == [11]
        assert r.read(100) == [] and not r.incomplete


@pytest.mark.parametrize("version", [0, 1])
def test_lz4_round_trip_small_and_large_records(tmp_path, version):
    """Small records take the reader's fast path; ones decompressing past 4 KiB the checked one."""
    rng = random.Random(version)
    msgs = []
    for seq in range(0, 3000, 3):
        size = rng.choice([0, 1, 26, 300, 5000, 20000])
        body = bytes(rng.randrange(4) for _ in range(size))
        msgs.append((seq % 7, seq, body))
    p = tmp_path / "z.dat"
    with FileWriter(p, block=64 * 1024, compression="lz4", version=version, buffer=1 << 16) as w:
        for m in msgs:
            w.post(*m)
    with FileReader(p) as r:
        assert [(m.msgid, m.seq, m.body) for m in r] == msgs
    with FileReader(p, seq=1500) as r:  # seek lands inside a block of delta-coded seqs
        assert [m.seq for m in r] == [m[1] for m in msgs if m[1] >= 1500]


@pytest.mark.parametrize("version", [0, 1])
def test_lz4_records_refer_only_to_the_previous_record(tmp_path, version):
    """The writer's dictionary policy: a record decompresses with the previous payload of its
    block alone (the first one of a block with nothing), and never reaches back more than
    64 KiB: any LZ4 stream decoder (TLL's ring keeps >= 64 KiB of the block) reads it."""
    import struct

    import lz4.block
    rng = random.Random(7)
    p = tmp_path / "z.dat"
    B = 256 * 1024
    with FileWriter(p, block=B, io="posix", compression="lz4", version=version) as w:
        for seq in range(400):
            size = rng.choice([0, 3, 26, 26, 26, 300, 5000, 70000, 150000])
            w.post(seq % 5, seq, bytes(rng.randrange(3) for _ in range(size)))
    data = p.read_bytes()
    pos, blocks, records = struct.unpack_from("<i", data, 0)[0], 0, 0
    bs = 0
    while bs < len(data):
        prev = b""
        while bs + B - pos >= 17 and pos + 4 <= len(data):
            f = struct.unpack_from("<I", data, pos)[0]
            if f in (0, 0xFFFFFFFF) or (version and not f & 0x80000000):
                break
            f &= 0x7FFFFFFF
            c = data[pos + 4:pos + f - 1]
            u = lz4.block.decompress(c, uncompressed_size=B, dict=prev[-65536:]) if prev else \
                lz4.block.decompress(c, uncompressed_size=B)
            prev = u
            pos += f
            records += 1
        blocks += 1
        bs += B
        pos = bs + 5
    assert records == 400 and blocks > 10


@pytest.mark.parametrize("io", ["posix", "mmap"])
def test_lz4_reopen_continues_byte_identically(tmp_path, io):
    """Reopening rebuilds the dictionary (the last payload of the block): the bytes are those of
    a writer that never closed."""
    rng = random.Random(3)
    msgs = [(seq % 3, seq, bytes([seq % 7]) * rng.randrange(0, 200)) for seq in range(600)]
    one = tmp_path / "one.dat"
    with FileWriter(one, block=4096, io=io, compression="lz4") as w:
        for m in msgs:
            w.post(*m)
    parts = tmp_path / "parts.dat"
    for lo, hi in ((0, 97), (97, 98), (98, 350), (350, 600)):
        with FileWriter(parts, block=4096, io=io, compression="lz4") as w:
            for m in msgs[lo:hi]:
                w.post(*m)
    assert parts.read_bytes() == one.read_bytes()
    with FileReader(parts) as r:
        from streamproto.events import Data
        assert list(r) == [Data(*m) for m in msgs]       # addr None, as built by the reader


@pytest.mark.parametrize("version", [0, 1])
def test_reader_fast_paths_build_plain_data(tmp_path, version):
    """The reader's fast paths build Data without its __init__: the same objects as Data(...)."""
    from streamproto.events import Data, Kind
    msgs = [(seq % 4, seq * 3, bytes([seq % 251]) * (seq % 90)) for seq in range(3000)]
    for comp in ("none", "lz4"):
        p = tmp_path / f"d-{comp}.dat"
        with FileWriter(p, block=4096, io="posix", compression=comp, version=version) as w:
            for m in msgs:
                w.post(*m)
        with FileReader(p) as r:
            got = list(r)
        assert got == [Data(*m) for m in msgs]
        assert all(type(d) is Data and d.addr is None and d.kind is Kind.DATA for d in got)
