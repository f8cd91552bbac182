"""Clear errors, no tracebacks: unknown message, several types, formats, output paths, pyarrow missing."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import streamproto
import tllschema
from streamproto.storage import FileWriter
from tests.conftest import golden_dir

from .conftest import SOURCES, run

ALLTYPES = golden_dir() / "scheme" / "alltypes.yaml"
HINT = "pip install 'streamproto[arrow]'"


@pytest.fixture
def mixed(tmp_path) -> Path:
    """A file holding Scalars (msgid 1) and Logical (msgid 6) records."""
    s = tllschema.load(f"yaml://{ALLTYPES}")
    path = tmp_path / "mixed.dat"
    with FileWriter(path, block=4096, scheme=f"yaml://{ALLTYPES}") as w:
        for i in range(10):
            m = s.message("Scalars" if i % 3 else "Logical")
            w.post(m.msgid, i, m.encode({}))
    return path


def assert_clean_error(res, *parts: str, code: int = 1) -> None:
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    for p in parts:
        assert p in res.output, res.output


def test_several_types_need_message(mixed, tmp_path):
    res = run("export", mixed, tmp_path / "o.parquet")
    assert_clean_error(res, "holds several message types", "Scalars (msgid 1): 6", "Logical (msgid 6): 4",
                       "--message")
    assert not (tmp_path / "o.parquet").exists()
    assert list(tmp_path.iterdir()) == [mixed]            # no temporary file left behind
    with pytest.raises(streamproto.StreamprotoError, match="several message types"):
        streamproto.read_table(mixed)
    assert run("export", mixed, tmp_path / "o.parquet", "--message", "Logical").exit_code == 0
    assert run("export", mixed, tmp_path / "o.csv", "--message", "1").exit_code == 0
    tables = streamproto.read_tables(mixed)
    assert {k: t.num_rows for k, t in tables.items()} == {"Logical": 4, "Scalars": 6}
    # a range holding one type needs no --message
    assert streamproto.read_table(mixed, seq="1:2").num_rows == 2


def test_other_msgid_beside_the_only_scheme_message(tmp_path):
    """A one-message scheme is used without a pre-pass; another msgid in the data still stops it."""
    sch = golden_dir() / "scheme" / "transaction.yaml"
    m = tllschema.load(f"yaml://{sch}").message("Transaction")
    path = tmp_path / "two.dat"
    with FileWriter(path, scheme=f"yaml://{sch}") as w:
        for i in range(5):
            w.post(10, i, m.encode({"id": i}))
        w.post(99, 5, b"x")
    res = run("export", path, tmp_path / "o.parquet")
    assert_clean_error(res, "several message types", "Transaction (msgid 10): 5",
                       "msgid 99 (not in the scheme): 1", "seq 0..5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.dat"]
    assert streamproto.read_table(path, message="Transaction").num_rows == 5
    assert streamproto.read_table(path, seq=":4").num_rows == 5
    with pytest.raises(streamproto.StreamprotoError, match="unknown message 99"):
        streamproto.read_table(path, message=99)     # read_tables() gives such records raw
    assert streamproto.read_tables(path)[None].column("msgid").to_pylist() == [99]


def test_unknown_message(tmp_path):
    res = run("export", SOURCES["transaction"], tmp_path / "o.arrow", "--message", "Nope")
    assert_clean_error(res, "unknown message 'Nope'", "Transaction (10)")
    res = run("export", SOURCES["transaction"], tmp_path / "o.arrow", "--message", "77")
    assert_clean_error(res, "unknown message 77")


def test_unknown_extension_and_format(tmp_path):
    assert_clean_error(run("export", SOURCES["transaction"], tmp_path / "o.xlsx"),
                       "cannot tell the format", ".xlsx", "--format parquet|arrow|csv")
    assert_clean_error(run("export", SOURCES["transaction"], tmp_path / "noext"), "(none)")
    assert_clean_error(run("export", SOURCES["transaction"], tmp_path / "o.parquet", "--format", "xls"),
                       "'xls' is not one of", code=2)
    res = run("export", SOURCES["transaction"], tmp_path / "o.data", "--format", "csv")
    assert res.exit_code == 0 and (tmp_path / "o.data").read_text().startswith('"seq","time"')


def test_output_directory_missing(tmp_path):
    assert_clean_error(run("export", SOURCES["transaction"], tmp_path / "no" / "o.parquet"),
                       "directory", "does not exist")
    assert_clean_error(run("export", SOURCES["transaction"], tmp_path), "is a directory")


def test_bad_source_and_range(tmp_path):
    assert_clean_error(run("export", tmp_path / "nothing", tmp_path / "o.csv"), "no such file")
    assert_clean_error(run("export", SOURCES["transaction"], tmp_path / "o.csv", "--seq", "x:y"),
                       "invalid seq range")


def test_corrupt_record_is_reported(tmp_path, golden):
    """A bad frame in the middle: the reader's error (file and offset), nothing written."""
    data = bytearray((golden / "storage/file/transaction.dat").read_bytes())
    data[4096 * 2 + 5 + 43 * 3:4096 * 2 + 5 + 43 * 3 + 4] = (9).to_bytes(4, "little")
    bad = tmp_path / "bad.dat"
    bad.write_bytes(bytes(data))
    res = run("read", bad)
    assert res.exit_code == 1
    want = res.output.strip().splitlines()[-1]
    assert "8326" in want and "too short" in want
    res = run("export", bad, tmp_path / "o.parquet")
    assert_clean_error(res, want.replace("Error: ", ""))
    assert not (tmp_path / "o.parquet").exists()


def test_seq_going_back_is_reported(tmp_path, golden):
    data = bytearray((golden / "storage/file/transaction.dat").read_bytes())
    rec = 253 + 43 * 5                       # the 6th record of block 0: seq 5 -> 1
    data[rec + 8:rec + 16] = (1).to_bytes(8, "little")
    bad = tmp_path / "back.dat"
    bad.write_bytes(bytes(data))
    with pytest.raises(streamproto.StreamprotoError, match="seq 1 does not follow the previous seq 4"):
        streamproto.read_table(bad)


def test_uint64_time_beyond_arrow(tmp_path):
    sch = tmp_path / "t.yaml"
    sch.write_text("- name: T\n  id: 1\n  fields:\n"
                   "    - {name: t, type: uint64, options.type: time_point, options.resolution: ns}\n")
    m = tllschema.load(f"yaml://{sch}").message("T")
    path = tmp_path / "t.dat"
    with FileWriter(path, scheme=f"yaml://{sch}") as w:
        w.post(1, 0, m.encode({"t": 5}))
        w.post(1, 1, m.encode({"t": (1 << 64) - 1}))
    res = run("export", path, tmp_path / "o.arrow")
    assert_clean_error(res, "t.dat: seq 1 msgid 1", "outside Arrow's int64 timestamp range")


# -- pyarrow missing ---------------------------------------------------------------------------
def test_missing_pyarrow_in_process(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pyarrow", None)      # `import pyarrow` now fails
    with pytest.raises(streamproto.StreamprotoError, match=r"pyarrow is not installed.*streamproto\[arrow\]"):
        streamproto.read_table(SOURCES["transaction"])
    with pytest.raises(ImportError, match=r"streamproto\[arrow\]"):
        streamproto.read_tables(SOURCES["transaction"])
    msg = tllschema.load(f"yaml://{ALLTYPES}").message("Scalars")
    with pytest.raises(tllschema.SchemeError, match=r"pip install 'streamproto\[arrow\]'"):
        msg.arrow_schema()
    res = run("export", SOURCES["transaction"], tmp_path / "o.parquet")
    assert_clean_error(res, "pyarrow is not installed", HINT)
    assert not list(tmp_path.iterdir())


BLOCKER = textwrap.dedent("""
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("pyarrow", "numpy"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, Block())
    from streamproto.cli.cli import main
    main(sys.argv[1:])
""")


def test_core_works_without_the_extra(tmp_path):
    """A process where pyarrow and numpy cannot be imported: read works, export explains."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    read = subprocess.run([sys.executable, "-c", BLOCKER, "read", str(SOURCES["transaction"]), "--seq", "3"],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert read.returncode == 0, read.stderr
    assert "seq: 3" in read.stdout
    exp = subprocess.run([sys.executable, "-c", BLOCKER, "export", str(SOURCES["transaction"]),
                          str(tmp_path / "o.parquet")], capture_output=True, text=True, env=env, timeout=60,
                         check=False)
    assert exp.returncode == 1
    assert "Traceback" not in exp.stderr
    assert HINT in exp.stderr and "is not installed" in exp.stderr
