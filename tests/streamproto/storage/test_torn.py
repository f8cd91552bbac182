"""Crash safety: a torn last record is never delivered, and the next writer cuts it and continues."""
from __future__ import annotations


import pytest

from streamproto.storage import FileReader, FileWriter

TORN = ["file/transaction.dat", "file/transaction-mmap-v1.dat", "file/transaction-lz4.dat",
        "file/raw-noscheme.dat", "file/raw-lz4.dat"]


def last_record_span(path):
    """(start, end) file offsets of the last complete record."""
    with FileReader(path) as r:
        n = len(list(r))
        r.rewind()
        c = r._cursor
        c.read([], n - 1)
        c.read([], 0)
        start = c.pos
        c.read([], 1)
        return start, c.pos, n


@pytest.mark.parametrize("rel", TORN)
@pytest.mark.parametrize("how", ["truncate", "zero"])
def test_torn_last_record(gcopy, rel, how):
    src = gcopy(rel)
    full = src.read_bytes()
    with FileReader(src) as r:
        msgs = [(m.msgid, m.seq, m.body) for m in r]
    start, end, n = last_record_span(src)
    assert n == len(msgs) and end > start
    if start % 4096 == 0 or start % 1024 == 0:
        start += 5                                       # block header of a fresh block
    work = src.with_name("work.dat")
    offsets = range(start, end)
    for cut in offsets:
        data = full[:cut] if how == "truncate" else full[:cut] + bytes(len(full) - cut)
        work.write_bytes(data)
        with FileReader(work) as r:
            got = [(m.msgid, m.seq, m.body) for m in r]
            assert got == msgs[:-1], cut
            assert r.bounds()[1] == msgs[-2][1]
        with FileWriter(work) as w:
            assert w.last_seq == msgs[-2][1]
            w.post(9, msgs[-1][1] + 1, b"after crash")
        with FileReader(work) as r:
            got = [(m.msgid, m.seq, m.body) for m in r]
        assert got == msgs[:-1] + [(9, msgs[-1][1] + 1, b"after crash")], cut


def test_incomplete_vs_eof(gcopy):
    src = gcopy("file/transaction.dat")
    data = src.read_bytes()
    src.write_bytes(data[:-1])                     # tail byte missing
    with FileReader(src) as r:
        assert len(list(r)) == 599 and r.incomplete
        with open(src, "ab") as f:                 # the writer finishes the record
            f.write(b"\x80")
        assert [m.seq for m in r] == [599] and not r.incomplete


def test_v1_unmarked_frame_is_no_data(gcopy):
    src = gcopy("file/transaction-mmap-v1.dat")
    start, end, n = last_record_span(src)
    data = bytearray(src.read_bytes())
    assert data[start + 3] & 0x80
    data[start + 3] &= 0x7F
    src.write_bytes(bytes(data))
    with FileReader(src) as r:
        assert len(list(r)) == n - 1 and not r.incomplete
    with FileWriter(src) as w:                     # the writer cuts it: no complete record lost
        assert w.last_seq == 598


def test_reopen_never_rewrites_complete_records(gcopy):
    src = gcopy("file/raw-noscheme.dat")
    before = src.read_bytes()
    with FileWriter(src, io="posix") as w:
        w.post(1, 5000, b"new")
    after = src.read_bytes()
    assert after[:len(before)] == before
