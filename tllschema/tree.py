"""The reference's config-tree rules, which a scheme's YAML goes through before it is a scheme.

Dotted keys are paths, every scalar is a string (TLL's own integer and boolean syntax applies),
maps come out sorted by key, and a duplicate leaf is an error.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from tllschema.errors import ParseError

_Loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)


_INT_RE = re.compile(r"[+-]?(0[xX][0-9a-fA-F]+|[0-9]+)\Z")


def parse_int(text: Any, what: str) -> int:
    """TLL integer syntax: optional sign, decimal or 0x hex (no octal)."""
    if not isinstance(text, str) or not _INT_RE.match(text.strip()):
        raise ParseError(f"{what}: invalid integer {text!r}")
    return int(text.strip(), 0) if "x" in text.lower() else int(text.strip(), 10)


def parse_bool(text: Any, what: str) -> bool:
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise ParseError(f"{what}: invalid boolean {text!r} (expected true/yes/1/false/no/0)")


def load_yaml(text: str, where: str) -> Any:
    """YAML text -> nested dicts/lists of strings (every scalar a string, as TLL's config does)."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise ParseError(f"{where}: invalid YAML: {e}") from None


def to_tree(node: Any, where: str = "") -> Any:
    """Apply the config rules: dotted keys become nested maps, duplicate leaves are errors."""
    if isinstance(node, list):
        return [to_tree(v, where) for v in node]
    if not isinstance(node, dict):
        return "" if node is None else node
    out: dict = {}
    for key, value in node.items():
        key = "" if key is None else str(key)
        parts = key.split(".")
        value = to_tree(value, where)
        cur = out
        for p in parts[:-1]:
            nxt = cur.get(p)
            if nxt is None:
                nxt = cur[p] = {}
            elif not isinstance(nxt, dict):
                raise ParseError(f"{where}: failed to set value {key}: duplicate entry")
            cur = nxt
        last = parts[-1]
        if last in cur:
            if isinstance(cur[last], dict) and isinstance(value, dict):
                _merge(cur[last], value, key, where)
                continue
            raise ParseError(f"{where}: failed to set value {key}: duplicate entry")
        cur[last] = value
    return out


def _merge(dst: dict, src: dict, key: str, where: str) -> None:
    for k, v in src.items():
        if k in dst:
            if isinstance(dst[k], dict) and isinstance(v, dict):
                _merge(dst[k], v, f"{key}.{k}", where)
                continue
            raise ParseError(f"{where}: failed to set value {key}.{k}: duplicate entry")
        dst[k] = v


def flatten(node: Any, prefix: str = "") -> dict[str, str]:
    """Options map -> flat dotted keys (lists become .0000, .0001 ...), sorted by key."""
    out: dict[str, str] = {}
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = ((f"{i:04d}", v) for i, v in enumerate(node))
    else:
        return {prefix: str(node)} if prefix else {}
    for k, v in items:
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, (dict, list)):
            out.update(flatten(v, key))
        else:
            out[key] = "" if v is None else str(v)
    return dict(sorted(out.items()))


def sorted_map(node: Any, what: str) -> dict:
    if node in ("", None):
        return {}
    if not isinstance(node, dict):
        raise ParseError(f"{what}: expected a mapping")
    return dict(sorted(node.items()))


def leaves(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [x for k in sorted(node) for x in leaves(node[k])]
    if isinstance(node, list):
        return [x for v in node for x in leaves(v)]
    return [node] if node else []
