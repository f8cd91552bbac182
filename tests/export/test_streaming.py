"""Export streams batch by batch; progress; CSV nested values; rotate sets whose scheme changes."""
from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq
import pytest

import streamproto
import tllschema
from streamproto.cli import cmd_export
from streamproto.export import bodies, iter_batches
from streamproto.storage import FileWriter, RotateWriter
from tests.conftest import golden_dir
from tllschema.values import parse_iso_ns

from .conftest import SOURCES, run

ALLTYPES = golden_dir() / "scheme" / "alltypes.yaml"


def test_batches_follow_windows(monkeypatch, tmp_path):
    """A source bigger than the window becomes several batches (row groups), read one at a time."""
    monkeypatch.setattr(bodies, "WINDOW", 4096 * 2)
    stream = iter_batches(SOURCES["transaction"])
    sizes = [b.num_rows for b in stream.batches]
    assert len(sizes) > 2 and sum(sizes) == 600 and max(sizes) < 200
    out = tmp_path / "o.parquet"
    assert run("export", SOURCES["transaction"], out).exit_code == 0
    f = pq.ParquetFile(out)
    assert f.metadata.num_row_groups == len(sizes)
    monkeypatch.undo()
    assert f.read().equals(streamproto.read_table(SOURCES["transaction"]))


def test_progress_on_stderr(capsys):
    p = cmd_export._Progress(True)
    p.next = 0.0
    p.rows = 123
    p(50, 200)
    p.done()
    assert capsys.readouterr().err == "\r 25.0%  123 rows\n"
    quiet = cmd_export._Progress(False)
    quiet.next = 0.0
    quiet(1, 2)
    quiet.done()
    assert capsys.readouterr().err == ""


def test_csv_nested_values_are_exact_json(tmp_path):
    s = tllschema.load(f"yaml://{ALLTYPES}")
    m = s.message("Nested")
    value = {"header": {"s0": 7, "name": "hé"},
             "logical": {"side": "Sell", "ts_ns": 1725890771037913943, "price": "-1.500", "flags": 5,
                         "dur_ms": -3, "ts_d": 1.5},
             "items": [{"p_i16": [1, -2], "p_str": ["a", ""], "big": [{"head": 1, "data": b"\x01\xff"}]}]}
    path = tmp_path / "n.dat"
    with FileWriter(path, scheme=f"yaml://{ALLTYPES}") as w:
        w.post(m.msgid, 5, m.encode(value))
    out = tmp_path / "n.csv"
    assert run("export", path, out).exit_code == 0
    with open(out, newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert json.loads(row["header"]) == {"s0": 7, "name": "hé"}
    lg = json.loads(row["logical"])
    assert parse_iso_ns(lg["ts_ns"]) == 1725890771037913943
    assert lg["side"] == "Sell" and lg["price"] == "-1.500" and lg["dur_ms"] == -3 and lg["ts_d"] == 1.5
    assert lg["flags"] == 5 and lg["flags.a"] is True and lg["flags.b"] == 1
    items = json.loads(row["items"])
    assert items[0]["p_i16"] == [1, -2] and items[0]["p_str"] == ["a", ""]
    assert items[0]["big"][0]["data"] == "01ff" + "00" * 298


def test_rotate_set_whose_scheme_changes(tmp_path):
    v1 = tmp_path / "v1.yaml"
    v1.write_text("- name: M\n  id: 1\n  fields:\n    - {name: a, type: int32}\n")
    v2 = tmp_path / "v2.yaml"
    v2.write_text("- name: M\n  id: 1\n  fields:\n    - {name: a, type: int64}\n")
    m1 = tllschema.load(f"yaml://{v1}").message("M")
    m2 = tllschema.load(f"yaml://{v2}").message("M")
    prefix = tmp_path / "set"
    with RotateWriter(prefix, scheme=f"yaml://{v1}", block=4096) as w:
        w.post(1, 0, m1.encode({"a": 1}))
    with RotateWriter(prefix, scheme=f"yaml://{v1}", block=4096) as w:   # same scheme: same columns
        w.rotate()
        w.post(1, 1, m1.encode({"a": 2}))
    assert streamproto.read_table(prefix).column("a").to_pylist() == [1, 2]
    with RotateWriter(prefix, scheme=f"yaml://{v2}", block=4096) as w:   # rotates: a new layout
        w.post(1, 2, m2.encode({"a": 3}))
    with pytest.raises(streamproto.StreamprotoError, match="message M differs from the one in the files before it"):
        streamproto.read_table(prefix)
    assert streamproto.read_table(prefix, seq="2:").column("a").to_pylist() == [3]
