"""Round trip per type mapping: random values -> our writer -> read_table / export -> the decoder's values.

`alltypes.yaml` (golden) has every field type; `fixed.yaml` has fixed-layout messages that take
the columnar path with every kind of field (enums with aliases and unknown values, bits, every
time resolution, fixed point of every width, nested messages, fixed arrays, unions, presence maps).
"""
from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pyarrow import ipc

import streamproto
import tllschema
from streamproto.storage import FileWriter
from tests.conftest import golden_dir
from tests.tllschema.strategies import message_values
from tllschema.arrow import fixed_layout
from tllschema.arrow_columns import MessageColumns

from .arrow_plain import column, table_rows
from .conftest import run

HERE = Path(__file__).parent
SCHEMES = {"alltypes": golden_dir() / "scheme" / "alltypes.yaml", "fixed": HERE / "fixed.yaml"}
LOADED = {k: tllschema.load(f"yaml://{v}") for k, v in SCHEMES.items()}
CASES = [(k, m.name) for k, s in LOADED.items() for m in s.messages if m.msgid]
I64_MAX = (1 << 63) - 1


def write(path: Path, scheme: str, msg, values: list, **kw) -> list[bytes]:
    bodies = [msg.encode(v) for v in values]
    with FileWriter(path, block=4096, scheme=f"yaml://{SCHEMES[scheme]}", io="posix", **kw) as w:
        for i, b in enumerate(bodies):
            w.post(msg.msgid, 3 * i + 1, b)
    return bodies


def decoded(msg, bodies: list[bytes]) -> list[dict]:
    return [{"seq": 3 * i + 1, "data": tllschema.plain(msg.decode(b), raw=True)} for i, b in enumerate(bodies)]


def fits_arrow(msg, values: list) -> bool:
    """uint64 time points beyond int64 have no Arrow timestamp (an error, tested below)."""
    return all(not isinstance(v.get("u64"), int) or v["u64"] <= I64_MAX for v in values) \
        if msg.name == "Times" else True


def bits_members_agree(msg, table: pa.Table) -> None:
    """Every `FIELD.MEMBER` column holds the member's bits of the raw `FIELD` column."""
    for f in msg.fields:
        t = f.type
        if getattr(t, "bits", None) is None:
            continue
        raw = table.column(f.name).to_pylist()
        for b in t.bits.bits:
            got = table.column(f"{f.name}.{b.name}").to_pylist()
            want = [None if r is None else ((r >> b.offset) & ((1 << b.size) - 1)) for r in raw]
            assert got == [None if w is None else (bool(w) if b.size == 1 else w) for w in want]


@pytest.mark.parametrize("scheme,name", CASES)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_roundtrip(scheme, name, data):
    msg = LOADED[scheme].message(name)
    values = data.draw(st.lists(message_values(msg), max_size=6), label="values")
    assume(fits_arrow(msg, values))
    lz4 = data.draw(st.booleans(), label="lz4")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "data.dat"
        bodies = write(path, scheme, msg, values, compression="lz4" if lz4 else "none")
        t = streamproto.read_table(path, message=name)
        assert t.schema.remove_metadata() == pa.schema(
            [pa.field("seq", pa.int64(), nullable=False)] + list(msg.arrow_schema())).remove_metadata()
        assert table_rows(msg, t) == decoded(msg, bodies)
        bits_members_agree(msg, t)
        for fmt in ("parquet", "arrow"):
            out = Path(d) / f"o.{fmt}"
            res = run("export", path, out, "--message", name)
            assert res.exit_code == 0, res.output
            back = pq.read_table(out) if fmt == "parquet" else ipc.open_file(out).read_all()
            assert table_rows(msg, back) == decoded(msg, bodies)
        out = Path(d) / "o.csv"
        assert run("export", path, out, "--message", name).exit_code == 0
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
        assert [int(r["seq"]) for r in rows] == [3 * i + 1 for i in range(len(values))]


@pytest.mark.parametrize("name", [m.name for m in LOADED["fixed"].messages if m.msgid])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_columnar_path_equals_record_path(name, data):
    """The fast path gives exactly the arrays of the record path (dictionaries included)."""
    msg = LOADED["fixed"].message(name)
    assert fixed_layout(msg)
    values = data.draw(st.lists(message_values(msg), max_size=8))
    assume(fits_arrow(msg, values))
    bodies = [msg.encode(v) for v in values]
    rows = np.frombuffer(b"".join(bodies), dtype=np.uint8).reshape(len(bodies), msg.size)
    fast = MessageColumns(msg).from_rows(rows)
    slow = MessageColumns(msg).from_bodies(bodies)
    model = {f.name: f.type for f in msg.fields}
    for f, a, b in zip(msg.arrow_schema(), fast, slow):
        a.validate(full=True)
        assert a.type == b.type == f.type
        assert a.null_count == b.null_count
        if f.name in model:   # values below null parents may differ; the visible ones may not
            assert column(model[f.name], a) == column(model[f.name], b), f.name
        else:
            assert a.equals(b), f.name
        if pa.types.is_dictionary(f.type):
            assert a.dictionary.equals(b.dictionary), f.name


def test_every_alltypes_type_has_a_column():
    types = set()
    for m in LOADED["alltypes"].messages:
        if m.msgid:
            types |= {str(f.type) for f in m.arrow_schema()}
    for want in ("int8", "uint64", "double", "string", "binary", "timestamp[ns, tz=UTC]",
                 "timestamp[us, tz=UTC]", "timestamp[s, tz=UTC]", "duration[ms]",
                 "dictionary<values=string, indices=int32, ordered=0>", "decimal128(19, 3)"):
        assert want in types, want
