"""Shared fixtures: the reference's golden data beside the checkout (`../shared/golden`)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN = (REPO / ".." / "shared" / "golden").resolve()


def golden_dir() -> Path:
    """The golden folder, or a pytest skip naming where it was looked for."""
    if not GOLDEN.is_dir():
        pytest.skip(f"golden data not found at {GOLDEN} (expected ../shared/golden beside the checkout)")
    return GOLDEN


@pytest.fixture
def golden() -> Path:
    """Path of ../shared/golden; skips with the reason when the folder is absent."""
    return golden_dir()
