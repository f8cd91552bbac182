"""Text formats of the reference tools: ``tll-read``'s YAML listing of decoded messages.

(Message dumps as channels log them — ``Recv message: ...`` — live in :mod:`streamproto.dump`.)

Minimal version written for ``streamproto read``; extend as needed (keep the output stable:
checks compare it).

``format_message_yaml(0, "Transaction", {...})`` gives::

    - seq: 0
      name: Transaction
      data:
        time: '2024-09-02T15:57:53.492443617Z'
        id: 1
"""
from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from streamproto.dump import hexdump  # noqa: F401  (the reference's hex dump, one implementation)


def format_scalar(value: Any) -> str:
    """One YAML scalar as the reference prints it: strings single-quoted, numbers bare."""
    if value is None:
        return "~"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return "'" + str(value) + "'"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "!!binary " + base64.b64encode(bytes(value)).decode("ascii")
    return "'" + str(value).replace("'", "''") + "'"


def format_yaml_body(value: Any, indent: int = 0) -> str:
    """Block YAML for a plain dict/list value, each line indented by ``indent`` spaces."""
    lines: list[str] = []
    _emit(value, indent, lines)
    return "".join(line + "\n" for line in lines)


def _emit(value: Any, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict) and v:
                lines.append(f"{pad}{k}:")
                _emit(v, indent + 2, lines)
            elif isinstance(v, list) and v:
                lines.append(f"{pad}{k}:")
                _emit(v, indent + 2, lines)
            else:
                lines.append(f"{pad}{k}: {_inline(v)}")
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, (dict, list)) and v:
                sub: list[str] = []
                _emit(v, indent + 2, sub)
                first = sub[0][indent + 2:]
                lines.append(f"{pad}- {first}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {_inline(v)}")
    else:
        lines.append(pad + _inline(value))


def _inline(v: Any) -> str:
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return format_scalar(v)


def format_message_yaml(seq: int, name: str, plain: dict[str, Any] | None,
                        extra: dict[str, Any] | None = None) -> str:
    """One ``tll-read`` list entry: seq, name, then ``data`` (or ``extra`` keys, e.g. hex)."""
    out = f"- seq: {seq}\n  name: {name}\n"
    for k, v in (extra or {}).items():
        out += f"  {k}: {_inline(v)}\n"
    if plain is not None:
        out += "  data:\n" + format_yaml_body(plain, 4) if plain else "  data: {}\n"
    return out
