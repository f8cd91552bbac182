"""Access to the scheme files shipped with streamproto, installed or from a source checkout."""
from __future__ import annotations

from pathlib import Path

try:
    from streamproto.schemas import path as _installed_path
except ImportError:  # running from a source tree without an install
    _installed_path = None


def path(name: str) -> Path:
    """Path of a shipped scheme file such as ``transaction.yaml`` or ``stream.yaml``."""
    if _installed_path is not None:
        return _installed_path(name)
    p = Path(__file__).resolve().parent.parent / "schemas" / name
    if not p.is_file():
        raise FileNotFoundError(f"no shipped scheme {name!r} at {p}")
    return p


def url(name: str) -> str:
    """`yaml://` URL of a shipped scheme file."""
    return "yaml://" + str(path(name))
