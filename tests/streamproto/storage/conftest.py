"""Fixtures for storage tests: golden listings and copies of golden files."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import golden_dir

FILES = ["file/transaction.dat", "file/transaction-mmap-v1.dat", "file/transaction-lz4.dat",
         "file/raw-noscheme.dat", "file/raw-lz4.dat", "file/empty.dat"]


@pytest.fixture(scope="session")
def listings() -> dict:
    return yaml.safe_load((golden_dir() / "storage" / "expected" / "listings.yaml").read_text())


@pytest.fixture
def gcopy(tmp_path: Path, golden: Path):
    """Copy a golden storage file (relative to golden/storage) into tmp_path, writable."""
    def copy(rel: str) -> Path:
        dst = tmp_path / Path(rel).name
        shutil.copyfile(golden / "storage" / rel, dst)
        dst.chmod(0o644)
        return dst
    return copy
