"""Mutated golden storage files: reading ends in data or a StorageError, never another exception."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproto.errors import StorageError
from streamproto.storage import open_reader
from tests.conftest import GOLDEN

FILES = ["file/transaction.dat", "file/transaction-lz4.dat", "file/raw-lz4.dat", "file/raw-noscheme.dat",
         "file/transaction-mmap-v1.dat"]


def _read_all(path, seq=None):
    kw = {} if seq is None else {"seq": seq}
    with open_reader(f"file://{path}", **kw) as r:
        return [(m.msgid, m.seq, len(m.body)) for m in r]


@pytest.mark.parametrize("name", FILES)
@settings(max_examples=40, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_file_reads_or_fails_cleanly(tmp_path, name, data):
    src = GOLDEN / "storage" / name
    raw = bytearray(src.read_bytes())
    for _ in range(data.draw(st.integers(1, 8), label="mutations")):
        pos = data.draw(st.integers(0, len(raw) - 1), label="pos")
        kind = data.draw(st.sampled_from(["byte", "word", "zero", "cut"]), label="kind")
        if kind == "byte":
            raw[pos] = data.draw(st.integers(0, 255))
        elif kind == "word":
            raw[pos:pos + 4] = data.draw(st.binary(min_size=4, max_size=4))
        elif kind == "zero":
            raw[pos:pos + 64] = bytes(len(raw[pos:pos + 64]))
        else:
            del raw[pos:]
            break
    p = tmp_path / "m.dat"
    p.write_bytes(bytes(raw))
    seq = data.draw(st.none() | st.integers(-5, 700), label="seq")
    try:
        got = _read_all(p, seq)
    except StorageError:
        return
    seqs = [s for _, s, _ in got]
    assert seqs == sorted(seqs)  # whatever is delivered is in seq order
