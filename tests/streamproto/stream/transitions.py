"""Test helper: record the transitions a protocol core takes."""
from __future__ import annotations

from typing import Any


def record(core: Any) -> list[tuple[Any, Any, Any]]:
    """Instrument ``core._transition``: every ``(before, input, after)`` it takes, in order."""
    log: list[tuple[Any, Any, Any]] = []
    take = core._transition

    def recording(inp: Any) -> Any:
        before = core.state
        new = take(inp)
        log.append((before, inp, new))
        return new

    core._transition = recording
    return log
