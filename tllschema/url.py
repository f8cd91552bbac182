"""Scheme URLs: `yaml://PATH`, `yamls://TEXT`, `yamls+gz://BASE64` in, and `dump` text out."""
from __future__ import annotations

import base64
import binascii
import os
import zlib
from pathlib import Path

from tllschema.errors import ParseError


def fetch(url: str, importer: str | None = None) -> tuple[str, str, str | None]:
    """Resolve a scheme URL -> (canonical url, YAML text, filename or None).

    A string without `://` is taken as a file path. `importer` is the file doing the import,
    against which `./` and `../` paths resolve.
    """
    if not isinstance(url, str):
        raise ParseError(f"scheme URL must be a string, got {type(url).__name__}")
    if "://" not in url:
        url = "yaml://" + url
    proto, _, body = url.partition("://")
    if proto == "yaml":
        path = body.split(";", 1)[0]
        if not path:
            raise ParseError(f"zero length filename in scheme URL {url!r}")
        p = resolve_path(path, importer)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            raise ParseError(f"cannot read scheme file {p}: {e.strerror}") from None
        except UnicodeDecodeError as e:
            raise ParseError(f"scheme file {p} is not UTF-8 (byte offset {e.start})") from None
        canonical = url if (not Path(path).is_absolute() and p == Path(path)) else "yaml://" + str(p.resolve())
        return canonical, text, str(p)
    if proto == "yamls":
        return url, body, None
    if proto == "yamls+gz":
        return url, decompress_text(body, url), None
    raise ParseError(f"unsupported scheme URL {url[:80]!r}: expected yaml://, yamls:// or yamls+gz://")


def decompress_text(body: str, url: str = "") -> str:
    """base64 of a zlib or gzip stream -> text."""
    body = body.strip()
    if not body:
        return ""
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ParseError(f"yamls+gz scheme: invalid base64: {e}") from None
    try:
        data = zlib.decompress(raw, wbits=47)  # 32 + 15: zlib or gzip header, detected
    except zlib.error as e:
        raise ParseError(f"yamls+gz scheme: invalid compressed data: {e}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ParseError(f"yamls+gz scheme: text is not UTF-8 (byte offset {e.start})") from None


def compress_text(text: str) -> str:
    """Text -> base64 of a zlib stream at the default level, as the reference writes it."""
    if not text:
        return ""
    return base64.b64encode(zlib.compress(text.encode("utf-8"))).decode("ascii")

def default_search_path() -> list[str]:
    env = os.environ.get("TLL_SCHEME_PATH", "")
    return [p for p in env.split(":") if p] + ["/usr/share/tll/scheme"]


def resolve_path(path: str, importer: str | None) -> Path:
    """Find a `yaml://` file the way the reference does (relative, cwd, then the search path)."""
    p = Path(path)
    if p.is_absolute():
        return p
    first = p.parts[0] if p.parts else ""
    if first in (".", ".."):
        base = Path(importer).parent if importer else Path.cwd()
        q = base / p
        if not q.exists():
            raise ParseError(f"relative import not found: {path}")
        return q
    if p.exists():
        return p
    if importer:
        q = Path(importer).parent / p
        if q.exists():
            return q
    for d in default_search_path():
        q = Path(d) / p
        if q.exists():
            return q
    raise ParseError(f"scheme file not found: {path}")
