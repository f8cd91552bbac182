"""The one YAML reader of the project: message values, configs and schemes.

TLL reads YAML into a config tree where every scalar is text, converted later by whoever uses it
(a field's type, a parameter's parser). Two entry points follow that:

* `load(text)`: typed values for message input and configs: null, `true`/`false`, integers by
  TLL's syntax (decimal, `0x` hex; `010` is ten, not octal) and plain floats. Everything else
  stays a string for its user to parse: timestamps (`2024-04-24T11:04:05.123456789` keeps its
  nanoseconds for the codec), `yes`/`no`/`on`/`off`, `12:30`, `1_000`, `0b1`. `!!binary` gives
  bytes; an explicit `!!timestamp` gives its text. Every scalar it types is one PyYAML's dumper
  quotes when it is a string, so `yaml.safe_dump` output (the CLI's) reads back unchanged.
* `load_tree(text, where)`: every scalar a string (TLL's config tree), errors as ParseError.
  Schemes are read this way.

Both use PyYAML's C parser when it is available.
"""
from __future__ import annotations

import re
from typing import IO, Any

import yaml

from tllschema.errors import ParseError

_CSafe: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CBase: type = getattr(yaml, "CBaseLoader", yaml.BaseLoader)

# Subsets of PyYAML's (YAML 1.1) resolvers, without sexagesimal numbers and underscores.
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*|0[0-7]+|0x[0-9a-fA-F]+)\Z")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?|\.[0-9]+(?:[eE][-+][0-9]+)?)\Z"
                    r"|[-+]?\.(?:inf|Inf|INF)\Z|\.(?:nan|NaN|NAN)\Z")
_BOOL = re.compile(r"(?:true|True|TRUE|false|False|FALSE)\Z")
_NULL = re.compile(r"(?:~|null|Null|NULL|)\Z")


class Loader(_CSafe):
    """SafeLoader typing only null, true/false, TLL integers and plain floats (no timestamps)."""


Loader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", _BOOL, list("tTfF")),
    ("tag:yaml.org,2002:int", _INT, list("-+0123456789")),
    ("tag:yaml.org,2002:float", _FLOAT, list("-+.0123456789")),
    ("tag:yaml.org,2002:merge", re.compile(r"<<\Z"), ["<"]),
):
    Loader.add_implicit_resolver(_tag, _regexp, _first)


def _construct_int(loader: Any, node: yaml.ScalarNode) -> int:
    from tllschema.tree import parse_int

    text = str(loader.construct_scalar(node))
    try:
        return parse_int(text, "", ValueError)
    except ValueError as e:
        raise yaml.constructor.ConstructorError(None, None, str(e), node.start_mark) from None


def _construct_float(loader: Any, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).strip().lower()
    try:
        return float(text.replace(".inf", "inf").replace(".nan", "nan"))
    except ValueError:
        raise yaml.constructor.ConstructorError(None, None, f"invalid float {text!r}", node.start_mark) from None


def _construct_text(loader: Any, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_text)


def load(stream: str | bytes | IO[str] | IO[bytes]) -> Any:
    """YAML (or JSON) text or stream -> Python values (see the module docstring); yaml.YAMLError on bad input."""
    return yaml.load(stream, Loader=Loader)


def load_tree(text: str, where: str) -> Any:
    """YAML text -> nested dicts/lists of strings (TLL's config tree); ParseError naming `where`."""
    try:
        return yaml.load(text, Loader=_CBase)
    except yaml.YAMLError as e:
        raise ParseError(f"{where}: invalid YAML: {e}") from None
