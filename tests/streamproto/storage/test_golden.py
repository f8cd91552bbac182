"""Every golden storage file reads back exactly as expected/listings.yaml says."""
from __future__ import annotations

import pytest
import tllschema

from streamproto.events import Kind
from streamproto.storage import FileReader, RotateReader

from .conftest import FILES


def summary(exp):
    return [(e["seq"], e["msgid"], e["size"]) for e in exp]


@pytest.mark.parametrize("rel", FILES)
def test_listing(golden, listings, rel):
    exp = listings[rel]
    with FileReader(golden / "storage" / rel) as r:
        got = list(r)
        assert [(m.seq, m.msgid, len(m.body)) for m in got] == summary(exp)
        for m, e in zip(got, exp):
            assert m.kind is Kind.DATA
            if "hex" in e:
                assert m.body.hex() == e["hex"]
            else:
                assert tllschema.plain(r.decode(m), raw=True) == e["fields"]
        first, last = r.bounds()
        assert (first, last) == ((exp[0]["seq"], exp[-1]["seq"]) if exp else (None, None))
        assert not r.incomplete


def test_raw_lz4_short_record_in_block_tail(golden, listings):
    """seq 360: a 15-byte lz4 record in the last 16 bytes of block 1, skipped by the reference."""
    with FileReader(golden / "storage/file/raw-lz4.dat") as r:
        seqs = [m.seq for m in r]
    assert 360 in seqs and len(seqs) == 300
    data = (golden / "storage/file/raw-lz4.dat").read_bytes()
    assert 2048 - 2032 < 17 and data[2032:2036] != b"\0\0\0\0"


@pytest.mark.parametrize("rel", FILES)
def test_seek_matches_listing(golden, listings, rel):
    seqs = [e["seq"] for e in listings[rel]]
    probes = sorted({-1, 0, 1, 99, 100, 105, 250, 359, 360, 361, 599, 600, 3089, 3090, 3091}
                    | set(seqs[::37]))
    with FileReader(golden / "storage" / rel) as r:
        for s in probes:
            r.seek(s)
            m = next(iter(r), None)
            want = next((x for x in seqs if x >= s), None)
            assert (m.seq if m else None) == want, s
            rest = [m.seq] + [x.seq for x in r] if m else []
            assert rest == [x for x in seqs if x >= s]


def test_rotate_set(golden, listings):
    exp = listings["rotate/output"]
    with RotateReader(golden / "storage/rotate/output") as r:
        assert [f.path.rsplit("/", 1)[1] for f in r.files] == [
            "output.0.dat", "output.200.dat", "output.current.dat"]
        events = list(r)
        data = [m for m in events if m.kind is Kind.DATA]
        assert summary(exp) == [(m.seq, m.msgid, len(m.body)) for m in data]
        ctl = [(i, m.name, m.msgid, m.seq) for i, m in enumerate(events) if m.kind is Kind.CONTROL]
        assert ctl == [(100, "Rotate", 150, 0), (201, "Rotate", 150, 0)]
        assert events[99].seq == 198 and events[101].seq == 200
        assert (r.first_seq, r.last_seq) == (0, 498)
        r.seek(0)
        for m, e in zip((m for m in r if m.kind is Kind.DATA), exp):
            assert tllschema.plain(r.decode(m), raw=True) == e["fields"]


@pytest.mark.parametrize("seq,first", [(-5, 0), (0, 0), (199, 200), (200, 200), (397, 398),
                                       (399, 400), (498, 498), (499, None)])
def test_rotate_seek(golden, seq, first):
    with RotateReader(golden / "storage/rotate/output", seq=seq) as r:
        events = list(r)
    assert (events[0].seq if events else None) == first
    assert events == [] or events[0].kind is Kind.DATA     # no Rotate before the first message
