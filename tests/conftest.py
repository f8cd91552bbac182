"""Shared fixtures: the reference's golden data, vendored in `tests/golden` (see its VENDORED.md)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The vendored copy every test reads.
GOLDEN = REPO / "tests" / "golden"
#: The shared original beside the checkout (absent in a bare clone); only the drift check reads it.
SHARED_GOLDEN = (REPO / ".." / "shared" / "golden").resolve()


def golden_dir() -> Path:
    """The vendored golden folder."""
    return GOLDEN


@pytest.fixture
def golden() -> Path:
    """Path of the vendored golden folder."""
    return GOLDEN
