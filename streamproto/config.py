"""TLL channel URL strings and parameter values: ``proto://host;key=value;...``.

Generic helpers shared by storage and network channels (keep this module small and additive):

* :func:`parse_url` splits ``PROTO://HOST;k=v;k=v`` into a :class:`Url` (duplicate keys are an
  error; ``;`` cannot be escaped; whitespace around keys and values is dropped).
* :meth:`Url.get` looks a parameter up as ``PREFIX.name`` first, then ``name``, and converts it.
* :func:`parse_size` (``4kb``, ``1mb``: powers of 1024), :func:`format_size`,
  :func:`parse_bool` (TLL's true/yes/1, false/no/0), :func:`parse_duration` (``10ms``, ``1.5s``),
  :func:`parse_int`.

Every failure raises :class:`~streamproto.errors.ConfigError` naming the key and the bad value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from tllschema import tree as _tree

from streamproto.errors import ConfigError

__all__ = [
    "Url", "parse_url", "parse_size", "format_size", "parse_bool", "parse_duration", "parse_int",
]

_SIZE_UNITS = {"": 1, "b": 1, "kb": 1024, "mb": 1024 ** 2, "gb": 1024 ** 3, "tb": 1024 ** 4,
               "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3, "tib": 1024 ** 4}
_SIZE_RE = re.compile(r"\s*(\d+)\s*([a-zA-Z]*)\s*$")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
                   "d": 86400.0}
_DURATION_RE = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*([a-z]*)\s*$")


def _where(key: str | None) -> str:
    return f"parameter {key!r}: " if key else ""


def parse_size(text: str | int, key: str | None = None) -> int:
    """``'4kb'`` -> 4096. Suffixes b, kb, mb, gb, tb (and kib...) are powers of 1024; no suffix = bytes."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ConfigError(f"{_where(key)}size {text} is negative")
        return text
    m = _SIZE_RE.match(str(text))
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _SIZE_UNITS:
        raise ConfigError(f"{_where(key)}invalid size {text!r} (expected e.g. 512, 4kb, 1mb)")
    return int(m.group(1)) * _SIZE_UNITS[unit]


def format_size(n: int) -> str:
    """Size with the largest exact suffix, as TLL prints it: 1024 -> '1kb', 1000 -> '1000b'."""
    for suffix, mul in (("gb", 1024 ** 3), ("mb", 1024 ** 2), ("kb", 1024)):
        if n and n % mul == 0:
            return f"{n // mul}{suffix}"
    return f"{n}b"


def parse_bool(text: str | bool | int, key: str | None = None) -> bool:
    """TLL's booleans: true/yes/1 -> True, false/no/0 -> False (`tllschema.tree.parse_bool`)."""
    return _tree.parse_bool(text, f"parameter {key!r}" if key else "", ConfigError)


def parse_duration(text: str | float | int, key: str | None = None,
                   default_unit: str | None = None) -> float:
    """``'10ms'`` -> 0.01 seconds. Units ns us ms s m h d; a bare number needs ``default_unit``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if default_unit is None:
            raise ConfigError(f"{_where(key)}duration {text!r} has no unit")
        return float(text) * _DURATION_UNITS[default_unit]
    m = _DURATION_RE.match(str(text))
    unit = (m.group(2) or default_unit) if m else None
    if m is None or unit not in _DURATION_UNITS:
        raise ConfigError(f"{_where(key)}invalid duration {text!r} (expected e.g. 10ms, 1.5s)")
    return float(m.group(1)) * _DURATION_UNITS[unit]


def parse_int(text: str | int, key: str | None = None) -> int:
    """TLL's integers: decimal or ``0x`` hex, no octal (`tllschema.tree.parse_int`)."""
    return _tree.parse_int(text, f"parameter {key!r}" if key else "", ConfigError)


@dataclass
class Url:
    """A parsed channel URL: ``proto`` (e.g. ``rotate+file``), ``host`` and flat string ``params``.

    Dotted keys stay flat (``file.block``); :meth:`get` does the prefix lookup, :meth:`sub`
    extracts a sub-tree.
    """

    proto: str
    host: str = ""
    params: dict[str, str] = field(default_factory=dict)
    #: Context defaults (a processor's ``processor.defaults``, flat): ``PREFIX.name`` there is
    #: used when neither ``PREFIX.name`` nor ``name`` is a parameter, as TLL's props chain does.
    defaults: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def get(self, name: str, default: Any = None, conv: Callable[..., Any] | None = None,
            prefixes: Iterable[str] = ()) -> Any:
        """Value of ``PREFIX.name`` (first prefix found) or ``name``, converted by ``conv(value, key)``."""
        prefixes = tuple(prefixes)
        for key in [f"{p}.{name}" for p in prefixes] + [name]:
            if key in self.params:
                value = self.params[key]
                return conv(value, key) if conv is not None else value
        if self.defaults:
            for key in [f"{p}.{name}" for p in prefixes]:
                if key in self.defaults:
                    value = self.defaults[key]
                    return conv(value, key) if conv is not None else value
        return default

    def choice(self, name: str, choices: Mapping[str, Any], default: Any,
               prefixes: Iterable[str] = ()) -> Any:
        """Value mapped through ``choices`` (keys are the accepted spellings)."""
        raw = self.get(name, None, prefixes=prefixes)
        if raw is None:
            return default
        if raw not in choices:
            raise ConfigError(f"parameter {name!r}: invalid value {raw!r} "
                              f"(expected one of {', '.join(sorted(choices))})")
        return choices[raw]

    def sub(self, prefix: str) -> dict[str, str]:
        """Parameters under ``prefix.`` with the prefix removed."""
        p = prefix + "."
        return {k[len(p):]: v for k, v in self.params.items() if k.startswith(p)}

    def __str__(self) -> str:
        tail = "".join(f";{k}={v}" for k, v in self.params.items())
        return f"{self.proto}://{self.host}{tail}"


def parse_url(url: str, defaults: Mapping[str, Any] | None = None) -> Url:
    """Split ``PROTO://HOST;k=v;...`` into a :class:`Url`; ``defaults`` fill missing keys."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"invalid channel URL {url!r}: expected PROTO://HOST;key=value;...")
    proto, rest = url.split("://", 1)
    proto = proto.strip()
    if not proto:
        raise ConfigError(f"invalid channel URL {url!r}: empty protocol")
    host, *items = rest.split(";")
    params: dict[str, str] = {}
    for item in items:
        if not item.strip():
            continue
        if "=" not in item:
            raise ConfigError(f"invalid channel URL {url!r}: parameter {item.strip()!r} has no '='")
        k, v = item.split("=", 1)
        k, v = k.strip(), v.strip()
        if not k:
            raise ConfigError(f"invalid channel URL {url!r}: empty parameter name in {item!r}")
        if k in params:
            raise ConfigError(f"invalid channel URL {url!r}: duplicate parameter {k!r}")
        params[k] = v
    for k, v in (defaults or {}).items():
        params.setdefault(k, str(v))
    return Url(proto, host.strip(), params)


# --- YAML init trees, nested children, open parameters (network helper; additive) -------------

def flatten(mapping: Mapping[str, Any], where: str = "config") -> dict[str, str]:
    """Nested YAML mapping -> flat ``{'a.b': 'value'}`` by TLL's config rules (`tllschema.tree.flatten`)."""
    return _tree.flatten(mapping, where, ConfigError)


def url_from_mapping(mapping: Mapping[str, Any], where: str = "config") -> Url:
    """A YAML init mapping (``tll.proto``, ``tll.host``, ...) or ``{url: ..., extra keys}`` as a :class:`Url`.

    ``tll.host`` may be a string or ``{host, port}`` / ``{path}``.
    """
    flat = flatten(mapping, where)
    if "url" in flat:
        if "tll.proto" in flat:
            raise ConfigError(f"{where}: both 'url' and 'tll.proto' are set")
        base = parse_url(flat.pop("url"))
        for k, v in flat.items():
            if k in base.params:
                raise ConfigError(f"{where}: parameter {k!r} is set both in 'url' and as a key")
            base.params[k] = v
        return base
    proto = flat.pop("tll.proto", None)
    if not proto:
        raise ConfigError(f"{where}: no protocol: set 'tll.proto' (or 'url')")
    host = flat.pop("tll.host", "")
    path = flat.pop("tll.host.path", None)
    h, p = flat.pop("tll.host.host", None), flat.pop("tll.host.port", None)
    if path is not None:
        host = path
    elif h is not None or p is not None:
        if h is None or p is None:
            raise ConfigError(f"{where}: 'tll.host' needs both 'host' and 'port' (or 'path')")
        host = f"{h}:{p}"
    return Url(proto, host, flat)


def load_url(value: "str | Mapping[str, Any] | Url", where: str = "config") -> Url:
    """A channel URL string, YAML init mapping or :class:`Url` (copied) as a :class:`Url`."""
    if isinstance(value, Url):
        return Url(value.proto, value.host, dict(value.params), dict(value.defaults))
    if isinstance(value, Mapping):
        return url_from_mapping(value, where)
    if isinstance(value, str):
        return parse_url(value)
    raise ConfigError(f"{where}: expected a channel URL string or mapping, got {value!r}")


def parse_params(value: "str | Mapping[str, Any] | None", where: str = "open parameters") -> dict[str, str]:
    """Open parameters ``'mode=seq;seq=20'`` or ``{mode: seq, seq: 20}`` as a flat dict."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return flatten(value, where)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected 'k=v;k=v' text or a mapping, got {value!r}")
    out: dict[str, str] = {}
    for item in value.split(";"):
        if not item.strip():
            continue
        if "=" not in item:
            raise ConfigError(f"{where}: {item.strip()!r} has no '=' (expected key=value)")
        k, v = (s.strip() for s in item.split("=", 1))
        if k in out:
            raise ConfigError(f"{where}: duplicate parameter {k!r}")
        out[k] = v
    return out


def child_url(url: Url, name: str) -> Url | None:
    """The nested child channel ``name`` (``request``, ``storage``, ...) of ``url``, or None.

    Accepts the three forms (``docs/network-format.md#urls-and-child-channels``):
    ``name.tll.proto=...;name.tll.host=...``,
    ``name.url=URL`` and ``name=URL``, each plus extra ``name.key=value`` parameters.
    """
    sub = url.sub(name)
    inline = url.params.get(name)
    if "tll.proto" in sub:
        if inline or "url" in sub:
            raise ConfigError(f"parameter {name!r}: both {name}.tll.proto and a URL are set")
        return url_from_mapping(sub, f"parameter {name!r}")
    if inline and "url" in sub:
        raise ConfigError(f"parameter {name!r}: both {name}= and {name}.url= are set")
    text = inline or sub.pop("url", None)
    if not text:
        if sub:
            raise ConfigError(f"parameter {name!r}: {name}.* keys given but no {name} URL")
        return None
    child = parse_url(text)
    for k, v in sub.items():
        if k in child.params:
            raise ConfigError(f"parameter {name}.{k}: also set inside the {name} URL")
        child.params[k] = v
    return child


__all__ += ["flatten", "url_from_mapping", "load_url", "parse_params", "child_url"]



def required_child(url: Url, name: str, what: str, example: str | None = None) -> Url:
    """`child_url` that must exist: ConfigError naming the parameter and what it is for."""
    child = child_url(url, name)
    if child is None:
        raise ConfigError(f"{url.proto}: parameter {name!r} is mandatory ({what}), e.g. "
                          f"{name}={example or f'tcp://./{name}.sock'}")
    return child


def load_processor_object(path: str, name: str) -> tuple[Url, dict[str, str]]:
    """``init`` (as a :class:`Url`) and ``open`` parameters of ``processor.objects.NAME`` in a TLL
    processor YAML file, read by the processor's loader (:mod:`streamproto.processor`): aliases,
    defaults, dotted keys and links as ``streamproto run`` reads them; a ``/sys`` link is an
    error here (there is no running processor)."""
    from streamproto.processor import load_config          # local: the processor imports us
    from streamproto.processor.spec import build, channel_url, check_no_sys_links, materialize

    try:
        spec = build(load_config(path), source=path, allow_sys=False, only=name)
        obj = spec.object(name)
        url = channel_url(obj, spec)
        params: dict[str, str] = {}
        node = obj.open_node
        if node is not None:
            check_no_sys_links(node, f"{obj.where}.open")
            opened = materialize(node, f"{obj.where}.open")
            params = opened.flat()
    except ConfigError as e:
        text = str(e)
        raise ConfigError(text if text.startswith(path) else f"{path}: {text}") from None
    return url, params


__all__ += ["load_processor_object"]


# --- parameter tables: every known init parameter checked when a channel is created ----------

#: A parameter converter: ``conv(value, key)`` returns the value or raises ConfigError.
Conv = Callable[[Any, str], Any]
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def int_range(lo: int | None = None, hi: int | None = None) -> Conv:
    """Converter of an integer parameter within ``lo..hi`` (ConfigError naming key and value)."""
    def conv(text: Any, key: str | None = None) -> int:
        v = parse_int(text, key)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = f"{'' if lo is None else lo}..{'' if hi is None else hi}"
            raise ConfigError(f"{_where(key)}{v} is out of range {rng}")
        return v
    return conv


def size_range(lo: int = 0, hi: int | None = None) -> Conv:
    """Converter of a size parameter (``4kb``) within ``lo..hi`` bytes."""
    def conv(text: Any, key: str | None = None) -> int:
        v = parse_size(text, key)
        if v < lo or (hi is not None and v > hi):
            raise ConfigError(f"{_where(key)}size {text!r} is out of range "
                              f"{format_size(lo)}..{'' if hi is None else format_size(hi)}")
        return v
    return conv


def one_of(*choices: str) -> Conv:
    """Converter of an enumerated parameter."""
    def conv(text: Any, key: str | None = None) -> str:
        if text not in choices:
            raise ConfigError(f"{_where(key)}invalid value {text!r} (expected one of "
                              f"{', '.join(choices)})")
        return str(text)
    return conv


def duration_seconds(text: Any, key: str | None = None) -> float:
    """Converter of a duration parameter; a bare number is seconds."""
    v = parse_duration(text, key, "s")
    if not v >= 0 or v == float("inf"):
        raise ConfigError(f"{_where(key)}invalid duration {text!r} (expected e.g. 10ms, 1.5s)")
    return v


def check_params(url: Url, table: Mapping[str, Conv], prefixes: Iterable[str] = ()) -> None:
    """Convert every parameter of ``table`` present in ``url`` (``PREFIX.name`` or ``name``):
    a bad value raises ConfigError naming the key and the value before anything is opened."""
    prefixes = tuple(prefixes)
    for name, conv in table.items():
        url.get(name, None, conv, prefixes)


__all__ += ["Conv", "int_range", "size_range", "one_of", "duration_seconds", "check_params",
            "INT64_MIN", "INT64_MAX"]
