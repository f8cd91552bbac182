"""Every golden storage source: read_table and `export` to each format agree with `read --raw`."""
from __future__ import annotations

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import ipc

import streamproto
from tllschema.values import parse_iso_ns

from .arrow_plain import table_rows
from .conftest import SOURCES, WITH_SCHEME, WITHOUT_SCHEME, read_jsonl, run


def expected(name: str) -> list[dict]:
    return [{"seq": r["seq"], "data": r["data"]} for r in read_jsonl(SOURCES[name])]


def read_back(path, fmt: str) -> pa.Table:
    if fmt == "parquet":
        return pq.read_table(path)
    with ipc.open_file(path) as f:
        return f.read_all()


@pytest.mark.parametrize("name", WITH_SCHEME)
def test_read_table_matches_read_raw(name, transaction_msg):
    t = streamproto.read_table(SOURCES[name])
    assert t.schema.names == ["seq", "time", "id", "price", "count"]
    assert str(t.schema.field("time").type) == "timestamp[ns, tz=UTC]"
    assert str(t.schema.field("price").type) == "decimal128(19, 2)"
    assert table_rows(transaction_msg, t) == expected(name)


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
@pytest.mark.parametrize("name", WITH_SCHEME)
def test_export_binary_formats(tmp_path, name, fmt, transaction_msg):
    out = tmp_path / f"out.{fmt}"
    res = run("export", SOURCES[name], out)
    assert res.exit_code == 0, res.output
    t = read_back(out, fmt)
    assert t.schema.field("time").type == pa.timestamp("ns", tz="UTC")
    assert table_rows(transaction_msg, t) == expected(name)


@pytest.mark.parametrize("name", WITH_SCHEME)
def test_export_csv(tmp_path, name):
    out = tmp_path / "out.csv"
    res = run("export", SOURCES[name], out)
    assert res.exit_code == 0, res.output
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    want = expected(name)
    assert len(rows) == len(want)
    for got, exp in zip(rows, want):
        d = exp["data"]
        assert int(got["seq"]) == exp["seq"]
        assert parse_iso_ns(got["time"]) == d["time"]        # exact to the nanosecond
        assert got["price"] == d["price"]                     # fixed point text, scale kept
        assert int(got["id"]) == d["id"] and int(got["count"]) == d["count"]


@pytest.mark.parametrize("name", WITHOUT_SCHEME)
@pytest.mark.parametrize("fmt", ["parquet", "arrow", "csv", None])
def test_raw_columns(tmp_path, name, fmt):
    want = [(r["seq"], r["msgid"], r["hex"]) for r in read_jsonl(SOURCES[name])]
    assert len(want) == 300
    if fmt is None:
        t = streamproto.read_table(SOURCES[name])
    else:
        out = tmp_path / f"out.{fmt}"
        res = run("export", SOURCES[name], out)
        assert res.exit_code == 0, res.output
        if fmt == "csv":
            with open(out, newline="") as f:
                got = [(int(r["seq"]), int(r["msgid"]), r["body"]) for r in csv.DictReader(f)]
            assert got == want
            return
        t = read_back(out, fmt)
    assert t.schema.names == ["seq", "msgid", "body"]
    got = list(zip(t.column("seq").to_pylist(), t.column("msgid").to_pylist(),
                   [b.hex() for b in t.column("body").to_pylist()]))
    assert got == want


@pytest.mark.parametrize("name", ["transaction", "transaction-lz4", "rotate", "raw-noscheme"])
@pytest.mark.parametrize("rng", ["100:199", "150:", ":42", "7", "1000:2000", "199:201"])
def test_seq_range(tmp_path, name, rng):
    want = [r["seq"] for r in read_jsonl(SOURCES[name], "--seq", rng)]
    t = streamproto.read_table(SOURCES[name], seq=rng)
    assert t.column("seq").to_pylist() == want
    out = tmp_path / "o.arrow"
    assert run("export", SOURCES[name], out, "--seq", rng).exit_code == 0
    assert read_back(out, "arrow").column("seq").to_pylist() == want


def test_urls_and_scheme_override(tmp_path):
    src = SOURCES["rotate"]
    a = streamproto.read_table(f"rotate+file://{src}")
    b = streamproto.read_table(src)
    assert a.equals(b)
    t = streamproto.read_table(f"file://{SOURCES['transaction']}", message=10)
    assert t.num_rows == 600 and t.schema.metadata[b"tll.message"] == b"Transaction"
    # a file without a scheme, given one: a message of msgid 1 (its bodies have 1..300 bytes)
    sch = tmp_path / "raw.yaml"
    sch.write_text("- name: One\n  id: 1\n  fields:\n    - {name: b, type: uint8}\n")
    url = f"file://{SOURCES['raw-noscheme']};scheme=yaml://{sch}"
    with pytest.raises(streamproto.StreamprotoError, match=r"raw-noscheme.dat: seq 110 msgid 1: .*truncated"):
        streamproto.read_table(url, message="One")
    with pytest.raises(streamproto.StreamprotoError, match="unknown message 0 .*One \\(1\\)"):
        streamproto.read_table(url, message=0)


def test_read_tables(transaction_msg):
    tables = streamproto.read_tables(SOURCES["rotate"])
    assert list(tables) == ["Transaction"]
    assert table_rows(transaction_msg, tables["Transaction"]) == expected("rotate")
    raw = streamproto.read_tables(SOURCES["raw-noscheme"])
    assert list(raw) == [None] and raw[None].num_rows == 300


def test_columns(transaction_msg):
    t = streamproto.read_table(SOURCES["transaction"], columns=["price", "id"])
    assert t.schema.names == ["seq", "price", "id"]
    with pytest.raises(streamproto.StreamprotoError, match="no column 'nope'.*columns: time, id, price, count"):
        streamproto.read_table(SOURCES["transaction"], columns=["nope"])


def test_csv_json_is_valid_for_raw(tmp_path):
    out = tmp_path / "o.csv"
    assert run("export", SOURCES["raw-lz4"], out, "--format", "csv").exit_code == 0
    json.dumps(out.read_text())
