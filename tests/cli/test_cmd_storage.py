"""`streamproto read` and `convert` against the golden storage files."""
from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from streamproto.cli.cli import main

FILES = ["file/transaction.dat", "file/transaction-mmap-v1.dat", "file/transaction-lz4.dat",
         "file/raw-noscheme.dat", "file/raw-lz4.dat", "file/empty.dat", "rotate/output"]


@pytest.fixture(scope="module")
def listings():
    from tests.conftest import golden_dir
    return yaml.safe_load((golden_dir() / "storage/expected/listings.yaml").read_text())


def run(*args):
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return r


def jsonl(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("rel", FILES)
def test_read_jsonl_raw_matches_listing(golden, listings, rel):
    r = run("read", golden / "storage" / rel, "--format", "jsonl", "--raw")
    assert r.exit_code == 0, r.output
    got = jsonl(r.stdout)
    exp = listings[rel]
    assert [(g["seq"], g["msgid"], g["size"]) for g in got] == [(e["seq"], e["msgid"], e["size"]) for e in exp]
    for g, e in zip(got, exp):
        if "hex" in e:
            assert g["hex"] == e["hex"] and g["name"] is None
        else:
            assert g["data"] == e["fields"] and g["name"] == "Transaction"


@pytest.mark.parametrize("rel", ["file/transaction.dat", "file/raw-lz4.dat", "rotate/output"])
@pytest.mark.parametrize("rng", ["0:10", "105:360", "199:201", "3000:", ":120", "361:359"])
def test_seq_range_and_dump_seq(golden, listings, rel, rng):
    exp = listings[rel]
    a, b = rng.split(":")
    lo, hi = int(a or -1), int(b or 10 ** 9)
    got = jsonl(run("read", golden / "storage" / rel, "--seq", rng, "--format", "jsonl").stdout)
    assert [g["seq"] for g in got] == [e["seq"] for e in exp if lo <= e["seq"] <= hi]
    out = run("read", golden / "storage" / rel, "--dump-seq").stdout
    assert out == f"First seq: {exp[0]['seq']}\nLast seq: {exp[-1]['seq']}\n"


def test_default_yaml_output(golden):
    # as tll-read prints it: one yaml.dump per message, then an empty line (print's newline)
    out = run("read", golden / "storage/file/transaction.dat", "--seq", "0:1").stdout
    assert out.startswith("- seq: 0\n  name: Transaction\n  data:\n"
                          "    time: '2024-09-09T14:06:11.037913943Z'\n    id: 1\n"
                          "    price: '421.24'\n    count: 50\n\n- seq: 1\n")
    assert out.endswith("    count: 40\n\n")
    doc = yaml.safe_load(out)
    assert [d["seq"] for d in doc] == [0, 1] and doc[1]["data"]["price"] == "332.96"


def test_controls_only_on_request(golden):
    plain = jsonl(run("read", golden / "storage/rotate/output", "--format", "jsonl").stdout)
    assert all(g["msgid"] == 10 for g in plain)
    with_ctl = jsonl(run("read", golden / "storage/rotate/output", "--format", "jsonl", "--controls").stdout)
    assert [g["seq"] for g in with_ctl if g.get("name") == "Rotate"] == [0, 0]
    assert len(with_ctl) == len(plain) + 2


@pytest.mark.parametrize("rel,url", [
    ("file/transaction.dat", "file://{out};io=posix;block=4kb"),
    ("file/raw-noscheme.dat", "file://{out};io=posix;block=1kb"),
    ("file/transaction-mmap-v1.dat", "file://{out};block=4kb;version=1"),
])
def test_convert_is_byte_identical(golden, tmp_path, rel, url):
    out = tmp_path / "out.dat"
    r = run("convert", golden / "storage" / rel, url.format(out=out))
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == (golden / "storage" / rel).read_bytes()


@pytest.mark.parametrize("rel", ["file/transaction.dat", "file/raw-noscheme.dat", "rotate/output"])
def test_convert_to_lz4_reads_back(golden, tmp_path, listings, rel):
    out = tmp_path / "z.dat"
    assert run("convert", golden / "storage" / rel, f"file://{out};compression=lz4;version=1;block=1kb").exit_code == 0
    got = jsonl(run("read", out, "--format", "jsonl", "--raw").stdout)
    exp = listings[rel]
    assert [(g["seq"], g["msgid"], g["size"]) for g in got] == [(e["seq"], e["msgid"], e["size"]) for e in exp]
    assert [g.get("hex") or g.get("data") for g in got] == [e.get("hex") or e.get("fields") for e in exp]


def test_convert_rotate_to_rotate(golden, tmp_path):
    assert run("convert", golden / "storage/rotate/output", f"rotate+file://{tmp_path}/copy;block=4kb").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.0.dat", "copy.200.dat", "copy.current.dat"]


def test_read_errors_are_clear(tmp_path):
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"not a storage file at all........")
    r = run("read", bad)
    assert r.exit_code != 0 and "not a TLL data file" in r.output
    r = run("read", tmp_path / "missing")
    assert r.exit_code != 0 and "no such file" in r.output
