"""The vendored golden copy (tests/golden) is identical to ../shared/golden when that exists."""
from __future__ import annotations

import pytest

from tests.conftest import GOLDEN, SHARED_GOLDEN

_OWN = {"VENDORED.md"}


def _files(root):
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_vendored_copy_matches_shared():
    if not SHARED_GOLDEN.is_dir():
        pytest.skip(f"{SHARED_GOLDEN} is absent (bare clone): nothing to compare the copy with")
    shared = _files(SHARED_GOLDEN)
    ours = _files(GOLDEN) - _OWN
    assert ours == shared, f"files differ: only here {sorted(ours - shared)}, only shared {sorted(shared - ours)}"
    changed = [n for n in sorted(shared) if (GOLDEN / n).read_bytes() != (SHARED_GOLDEN / n).read_bytes()]
    assert not changed, f"vendored golden files differ from ../shared/golden: {changed}"


def test_vendored_copy_is_complete():
    names = _files(GOLDEN)
    for need in ("scheme/vectors.yaml", "scheme/alltypes.yaml", "storage/expected/listings.yaml",
                 "wire/seq-new.log", "storage/file/transaction-lz4.dat"):
        assert need in names
