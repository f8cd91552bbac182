"""Text formats of the reference tools: ``tll-read``'s YAML listing of decoded messages.

(Message dumps as channels log them — ``Recv message: ...`` — live in :mod:`streamproto.dump`.)

``tll-read`` (tll-lua) prints every message as ``yaml.dump([{'seq': ..., 'name': ..., 'data':
as_dict}], sort_keys=False, allow_unicode=True)`` and ``print`` adds an empty line; decimals,
time points and durations are written as their text, enums by name, byte fields as text when
they are ASCII. :func:`format_message_yaml` writes the same text: a fast writer that makes
PyYAML's choices (plain or quoted scalars, block style, sequences not indented under their key)
for the usual shapes, and PyYAML itself for a string it would fold or escape.

``format_message_yaml(0, "Transaction", {...})`` gives::

    - seq: 0
      name: Transaction
      data:
        time: '2024-09-02T15:57:53.492443617Z'
        id: 1
        price: '976.12'
        count: 69

"""
from __future__ import annotations

import functools
import math
from typing import Any

import yaml

from streamproto.dump import hexdump  # noqa: F401  (the reference's hex dump, one implementation)

__all__ = ["format_message_yaml", "format_scalar", "format_yaml_body"]

_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()
#: PyYAML folds a plain or quoted scalar at a space once the line passes this column.
_WIDTH = 80


class _Fallback(Exception):
    """A value the fast writer leaves to PyYAML."""


class _Analyzer(yaml.emitter.Emitter):
    """Only for :meth:`analyze_scalar` (which reads nothing but ``allow_unicode``)."""

    def __init__(self) -> None:            # noqa: D107 - no stream: never emits
        self.allow_unicode = True


_ANALYZER = _Analyzer()


@functools.lru_cache(maxsize=4096)
def _str_style(text: str, key: bool = False) -> str:
    """PyYAML's style for a str scalar in block context: ``''`` plain, ``"'"``, ``'"'``."""
    analysis = _ANALYZER.analyze_scalar(text)
    implicit = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR_TAG
    if implicit and analysis.allow_block_plain \
            and not (key and (analysis.empty or analysis.multiline)):
        return ""
    if analysis.allow_single_quoted and not (key and analysis.multiline):
        return "'"
    return '"'


_BREAKS = frozenset("\n\r\x85\u2028\u2029")     # what YAML counts as a line break


def _text(text: str, col: int) -> str:
    style = _str_style(text)
    if style == '"' or not _BREAKS.isdisjoint(text) or (" " in text and col + len(text) + 2 > _WIDTH):
        raise _Fallback
    if style == "":
        return text
    return "'" + text.replace("'", "''") + "'"


def _float(value: float) -> str:
    """PyYAML's float: ``.nan``, ``.inf``, ``1.0e+17``, else ``repr``."""
    if value != value:
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value).lower()
    if "." not in text and "e" in text:
        text = text.replace("e", ".0e", 1)
    return text


def _scalar(value: Any, col: int) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if not data.isascii():
            raise _Fallback                # !!binary, base64 in lines: PyYAML writes it
        return _text(data.decode("ascii"), col)
    return _text(str(value), col)


def format_scalar(value: Any) -> str:
    """One YAML scalar as ``tll-read`` prints it (``4.56`` quoted, ``Sell`` plain)."""
    try:
        return _scalar(value, 0)
    except _Fallback:
        return yaml.dump(_tll(value), Dumper=_Dumper, allow_unicode=True,
                         default_flow_style=False).removesuffix("\n...\n").rstrip("\n")


def _key(key: Any) -> str:
    text = str(key)
    if _str_style(text, key=True) != "" or len(text) > 128:
        raise _Fallback
    return text


def _mapping(value: dict, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for k, v in value.items():
        key = _key(k)
        if isinstance(v, dict) and v:
            lines.append(f"{pad}{key}:")
            _mapping(v, indent + 2, lines)
        elif isinstance(v, (list, tuple)) and v:
            lines.append(f"{pad}{key}:")
            _sequence(v, indent, lines)              # PyYAML: not indented under the key
        else:
            lines.append(f"{pad}{key}: {_inline(v, indent + len(key) + 2)}")


def _sequence(value: list | tuple, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for v in value:
        if isinstance(v, dict) and v:
            sub: list[str] = []
            _mapping(v, indent + 2, sub)
        elif isinstance(v, (list, tuple)) and v:
            sub = []
            _sequence(v, indent + 2, sub)
        else:
            lines.append(f"{pad}- {_inline(v, indent + 2)}")
            continue
        lines.append(f"{pad}- {sub[0][indent + 2:]}")
        lines.extend(sub[1:])


def _inline(value: Any, col: int) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    return _scalar(value, col)


def format_yaml_body(value: Any, indent: int = 0) -> str:
    """Block YAML for a plain dict/list value as PyYAML writes it, each line indented by
    ``indent`` spaces."""
    try:
        return _body(value, indent)
    except _Fallback:
        text = yaml.dump(_tll(value), Dumper=_Dumper, sort_keys=False, allow_unicode=True)
        pad = " " * indent
        return "".join(pad + line + "\n" for line in text.splitlines())


def _body(value: Any, indent: int) -> str:
    lines: list[str] = []
    if isinstance(value, dict):
        _mapping(value, indent, lines)
    elif isinstance(value, (list, tuple)):
        _sequence(value, indent, lines)
    else:
        lines.append(" " * indent + _scalar(value, indent))
    return "".join(line + "\n" for line in lines)


# --- PyYAML itself, for what the fast writer leaves to it --------------------------------------

class _Dumper(yaml.Dumper):
    """``yaml.Dumper`` with tll-read's representer for byte fields: text when ASCII."""

    def ignore_aliases(self, data: Any) -> bool:
        return True                                      # tll-read: no anchors or aliases


def _represent_bytes(dumper: yaml.Dumper, data: bytes) -> yaml.Node:
    if data.isascii():
        return dumper.represent_scalar(_STR_TAG, data.decode("ascii"))
    return dumper.represent_binary(data)


_Dumper.add_representer(bytes, _represent_bytes)


def _tll(value: Any) -> Any:
    """Plain values as tll-read hands them to PyYAML (other scalars as their text)."""
    if isinstance(value, dict):
        return {k: _tll(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tll(v) for v in value]
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    return str(value)


def format_message_yaml(seq: int, name: str, plain: dict[str, Any] | None,
                        extra: dict[str, Any] | None = None) -> str:
    """One ``tll-read`` list entry and the empty line after it: seq, name, then ``data`` (a
    message without a scheme: ``extra`` keys such as ``msgid``, ``size``, ``hex``)."""
    entry: dict[str, Any] = {"seq": seq, "name": name}
    entry.update(extra or {})
    if plain is not None:
        entry["data"] = plain
    try:
        return _body([entry], 0) + "\n"
    except _Fallback:
        return yaml.dump([_tll(entry)], Dumper=_Dumper, sort_keys=False,
                         allow_unicode=True) + "\n"
