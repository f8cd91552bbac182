"""The reference's config-tree rules, which a scheme's YAML goes through before it is a scheme.

Dotted keys are paths, every scalar is a string (TLL's own integer and boolean syntax applies),
maps come out sorted by key, and a duplicate leaf is an error.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from tllschema.errors import ParseError
from tllschema.yamlload import load_tree

__all__ = ["parse_int", "parse_bool", "flatten", "load_yaml", "to_tree", "sorted_map", "leaves"]

_INT_RE = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|[0-9]+)\Z")
_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")


def _prefix(what: str) -> str:
    return f"{what}: " if what else ""


def parse_int(text: Any, what: str = "", error: type[Exception] = ParseError) -> int:
    """TLL integer syntax: optional sign, then decimal digits or `0x` hex (`010` is ten: no octal).

    An int (not a bool) passes through. `error(message)` is raised otherwise, the message
    starting with `what` (the key or entry being read).
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    if isinstance(text, str):
        t = text.strip()
        if _INT_RE.match(t):
            return int(t, 16 if "x" in t.lower() else 10)
    raise error(f"{_prefix(what)}invalid integer {text!r} (expected decimal or 0x hex digits)")


def parse_bool(text: Any, what: str = "", error: type[Exception] = ParseError) -> bool:
    """TLL boolean syntax: exactly true/yes/1 or false/no/0 (a bool passes through)."""
    if isinstance(text, bool):
        return text
    if isinstance(text, str):
        t = text.strip()
        if t in _TRUE:
            return True
        if t in _FALSE:
            return False
    raise error(f"{_prefix(what)}invalid boolean {text!r} (expected true/yes/1/false/no/0)")


def load_yaml(text: str, where: str) -> Any:
    """YAML text -> nested dicts/lists of strings (every scalar a string, as TLL's config does)."""
    return load_tree(text, where)


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


def flatten(node: Any, where: str = "", error: type[Exception] = ParseError) -> dict[str, str]:
    """A YAML tree -> flat dotted keys, sorted, as TLL's config holds it.

    Lists become keys `0000`, `0001`... (as TLL's YAML reader numbers them), None is '',
    bools are 'yes'/'no', numbers their text. Keys must be strings (or ints); a value of any
    other type is an error naming its key. A scalar at the top has no key: {}.
    """
    out: dict[str, str] = {}
    _flatten(node, "", out, where, error)
    return dict(sorted(out.items()))


def _flatten(node: Any, key: str, out: dict[str, str], where: str, error: type[Exception]) -> None:
    items: Any
    if isinstance(node, Mapping):
        items = node.items()
    elif isinstance(node, (list, tuple)):
        items = ((f"{i:04d}", v) for i, v in enumerate(node))
    else:
        if not key:
            return
        if node is None:
            out[key] = ""
        elif isinstance(node, bool):
            out[key] = "yes" if node else "no"
        elif isinstance(node, (str, int, float)):
            out[key] = str(node)
        else:
            raise error(f"{_prefix(where)}key {key!r} has a {type(node).__name__} value {node!r}; "
                        "expected a scalar, a list or a mapping")
        return
    for k, v in items:
        if k is None:
            k = ""
        elif isinstance(k, bool) or not isinstance(k, (str, int)):
            raise error(f"{_prefix(where)}key {k!r} under {key or 'top level'!r} is not a string")
        _flatten(v, f"{key}.{k}" if key else str(k), out, where, error)


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
