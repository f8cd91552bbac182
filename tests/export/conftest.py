"""Fixtures for export tests: the `read --format jsonl --raw` oracle and golden sources."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from streamproto.cli.cli import main
from tests.conftest import golden_dir

STORAGE = golden_dir() / "storage"
#: Every golden storage source, as `read` and `export` take it.
SOURCES = {
    "transaction": STORAGE / "file" / "transaction.dat",
    "transaction-mmap-v1": STORAGE / "file" / "transaction-mmap-v1.dat",
    "transaction-lz4": STORAGE / "file" / "transaction-lz4.dat",
    "empty": STORAGE / "file" / "empty.dat",
    "raw-noscheme": STORAGE / "file" / "raw-noscheme.dat",
    "raw-lz4": STORAGE / "file" / "raw-lz4.dat",
    "rotate": STORAGE / "rotate" / "output",
}
WITH_SCHEME = ["transaction", "transaction-mmap-v1", "transaction-lz4", "empty", "rotate"]
WITHOUT_SCHEME = ["raw-noscheme", "raw-lz4"]


def read_jsonl(source: str | Path, *args: str) -> list[dict]:
    """`streamproto read SOURCE --format jsonl --raw ARGS` as parsed lines."""
    res = CliRunner().invoke(main, ["read", str(source), "--format", "jsonl", "--raw", *args])
    assert res.exit_code == 0, res.output
    return [json.loads(line) for line in res.output.splitlines() if line]


def run(*args: str) -> object:
    """Invoke the CLI; returns click's Result (output mixes stdout and stderr)."""
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def transaction_msg():
    import tllschema
    return tllschema.load(f"yaml://{golden_dir() / 'scheme' / 'transaction.yaml'}").message("Transaction")
