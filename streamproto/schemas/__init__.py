"""Scheme files shipped with streamproto (installed as the package `streamproto.schemas`)."""
from __future__ import annotations

from pathlib import Path

DIR = Path(__file__).resolve().parent


def path(name: str) -> Path:
    """Path of a shipped scheme file, e.g. ``path("transaction.yaml")``."""
    p = DIR / name
    if not p.is_file():
        raise FileNotFoundError(f"no shipped scheme {name!r} in {DIR}")
    return p


def url(name: str) -> str:
    """`yaml://` URL of a shipped scheme file."""
    return "yaml://" + str(path(name))
