"""`streamproto schema ...`: the CLI contract of issue 2, checked against the golden vectors."""
from __future__ import annotations

import base64
import importlib.util
import json

import pytest
import yaml
from click.testing import CliRunner

from tests.tllschema.golden_vectors import case_id, load_vectors
from streamproto.cli.cli import main

VECTORS = load_vectors()


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def _json_fields(fields):
    """Golden fields as JSON shows them: bytes as base64 text."""
    if isinstance(fields, dict):
        return {k: _json_fields(v) for k, v in fields.items()}
    if isinstance(fields, list):
        return [_json_fields(v) for v in fields]
    if isinstance(fields, bytes):
        return base64.b64encode(fields).decode()
    return fields


@pytest.mark.parametrize("case", VECTORS, ids=[case_id(c) for c in VECTORS])
def test_encode_and_decode_vectors(golden, case):
    scheme = str(golden / "scheme" / case["scheme"])
    value = yaml.safe_dump(case["input"], allow_unicode=True)
    r = run("schema", "encode", scheme, case["message"], value)
    assert r.exit_code == 0, r.output
    assert r.output.strip() == case["hex"]
    r = run("schema", "decode", scheme, case["message"], case["hex"], "--raw")
    assert r.exit_code == 0, r.output
    assert yaml.safe_load(r.output) == case["fields"]
    r = run("schema", "decode", scheme, case["message"], case["hex"], "--raw", "--format", "json")
    assert json.loads(r.output) == _json_fields(case["fields"])


def test_encode_reads_json_from_stdin(golden):
    r = run("schema", "encode", str(golden / "scheme" / "transaction.yaml"), "Transaction", "-",
            input='{"time": 1725890781038702405, "id": 11, "price": "97.21", "count": 45}')
    assert r.output.strip() == "45efee6c8598f3170b00000000000000f9250000000000002d00"


def test_human_decode_shows_iso_time(golden):
    r = run("schema", "decode", str(golden / "scheme" / "transaction.yaml"), "Transaction",
            "45efee6c8598f3170b00000000000000f9250000000000002d00")
    assert r.output.splitlines() == ["time: '2024-09-09T14:06:21.038702405Z'", "id: 11", "price: '97.21'", "count: 45"]


def test_check_prints_table(golden):
    r = run("schema", "check", str(golden / "scheme" / "alltypes.yaml"))
    assert r.exit_code == 0
    rows = [line.split() for line in r.output.splitlines()]
    assert rows[0] == ["name", "msgid", "size"]
    assert ["Logical", "6", "58"] in rows and ["Nested", "7", "78"] in rows


def test_check_fails_on_bad_scheme(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- name: M\n  fields:\n    - {name: a, type: nope}\n")
    r = CliRunner().invoke(main, ["schema", "check", str(bad)])
    assert r.exit_code != 0
    assert "message or enum 'nope' not found" in r.output


def test_errors_are_reported_not_raised(golden):
    scheme = str(golden / "scheme" / "alltypes.yaml")
    r = CliRunner().invoke(main, ["schema", "decode", scheme, "Bytes", "0102"])
    assert r.exit_code == 1 and "Bytes: truncated" in r.output
    r = CliRunner().invoke(main, ["schema", "encode", scheme, "Scalars", "{u8: 300}"])
    assert r.exit_code == 1 and "Scalars.u8: 300 does not fit uint8" in r.output
    r = CliRunner().invoke(main, ["schema", "decode", scheme, "Nope", "00"])
    assert r.exit_code == 1 and "no message 'Nope'" in r.output


def test_dump_round_trips(golden):
    scheme = str(golden / "scheme" / "alltypes.yaml")
    dumps = yaml.safe_load((golden / "scheme" / "dumps.yaml").read_text())
    for fmt in ("yamls", "yamls+gz"):
        r = run("schema", "dump", scheme, "--format", fmt)
        assert r.output.strip() == dumps["alltypes.yaml"][fmt].strip()


def test_compile_writes_importable_module(golden, tmp_path):
    out = tmp_path / "alltypes_codec.py"
    r = run("schema", "compile", str(golden / "scheme" / "alltypes.yaml"), "-o", str(out))
    assert r.exit_code == 0
    spec = importlib.util.spec_from_file_location("alltypes_codec", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for case in VECTORS:
        if case["scheme"] != "alltypes.yaml":
            continue
        cls = mod.MESSAGES[case["message"]]
        assert cls.MSGID == case["msgid"] and cls.SIZE == case["fixed_size"]
        assert hasattr(cls, "__slots__")
        rec = cls.decode(bytes.fromhex(case["hex"]))
        assert rec.encode().hex() == case["hex"]
        assert cls(case["input"]).encode().hex() == case["hex"]
