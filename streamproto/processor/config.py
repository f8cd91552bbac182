"""TLL's configuration tree: string values at dotted paths, links, YAML files read as TLL reads them.

A :class:`Config` node holds an optional value — a string, a callable returning one (TLL's value
callbacks: ``info["seq"] = lambda: str(self.seq)``) or a :class:`Link` to another node — and
ordered children. Paths are dotted (``processor.objects.logic.init``); a YAML key with dots expands
to nested keys anywhere (``input.url: X`` is ``input: {url: X}``), as the reference's loader does.

:func:`load` reads a YAML file the reference's way (``src/config/yaml.cc``): every scalar stays the
string it was written as (``yes``, ``0100``, ``2024-04-24T11:04:05.123456789``, ``113.90`` are not
reinterpreted, so time stamps are exact), sequences become keys ``0000``, ``0001``, ...; anchors,
aliases and ``<<`` merges work; ``!link /abs/path`` or ``!link ../rel`` makes a node a link; a
scalar set twice is an error naming the line. A node may hold a value and children at once
(``levels: {tll: info, tll.channel.x: debug}``): the reference's loader accepts that and logs an
error line (logger ``tll.config.yaml``) naming the keys, and so does this one.

Links use ``/`` paths from the root (``/sys/logic/info/x``) or relative ones starting with ``..``
(from the link itself), and are followed when read. The same class is the ``tll.config.Config``
that Python logic modules use.
"""
from __future__ import annotations

import base64
import binascii
import logging
import os
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Self

import yaml

from streamproto.errors import ConfigError

__all__ = ["Config", "Link", "load", "load_text", "LinkError", "parse_defines", "parse_ns"]


class LinkError(ConfigError):
    """A ``!link`` that cannot be followed (missing target, loop, or a ``/sys`` link outside ``run``)."""


@dataclass(frozen=True)
class Link:
    """A link value: ``/``-separated path, absolute (from the root) or relative (``../x``)."""

    path: str

    def __str__(self) -> str:
        return f"!link {self.path}"


class Config:
    """One node of a config tree: an optional value and ordered children (see module doc)."""

    __slots__ = ("_value", "_kids", "_parent", "_key", "readonly")

    def __init__(self, value: Any = None) -> None:
        self._value: Any = None
        self._kids: dict[str, Config] = {}
        self._parent: Config | None = None
        self._key = ""
        self.readonly = False
        if isinstance(value, Mapping):
            for k, v in value.items():
                self.set(str(k), v)
        elif value is not None:
            self._value = _coerce(value)

    # --- structure ------------------------------------------------------------------------
    @property
    def parent(self) -> "Config | None":
        return self._parent

    @property
    def root(self) -> "Config":
        node = self
        while node._parent is not None:
            node = node._parent
        return node

    @property
    def path(self) -> str:
        """Dotted path of this node from its root ('' for the root)."""
        parts = []
        node: Config | None = self
        while node is not None and node._parent is not None:
            parts.append(node._key)
            node = node._parent
        return ".".join(reversed(parts))

    def keys(self) -> list[str]:
        """Names of the direct children (through a link: the target's)."""
        return list(self._target()._kids)

    def items(self) -> list[tuple[str, "Config"]]:
        return list(self._target()._kids.items())

    def children(self) -> list["Config"]:
        """The direct children in order, each followed through links (what ``sub`` gives)."""
        return [k._target() for k in self._target()._kids.values()]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._target()._kids)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key) is not None

    def _child(self, key: str, create: bool, origin: "Config | None" = None) -> "Config | None":
        node = self._target()
        kid = node._kids.get(key)
        if kid is None and create:
            node._check_writable(origin, key)
            kid = Config()
            kid._parent, kid._key = node, key
            node._kids[key] = kid
        return kid

    def _find(self, path: str, create: bool = False) -> "Config | None":
        node: Config | None = self
        for part in _split(path):
            assert node is not None
            node = node._child(part, create, self)
            if node is None:
                return None
        return node

    def _check_writable(self, origin: "Config | None", what: str = "") -> None:
        """Refuse a change below a read-only node between this node and ``origin`` (the node
        the write went through): ``/sys`` is read-only from the root, writable from inside."""
        node: Config | None = self
        while node is not None:
            if node.readonly:
                where = ".".join(p for p in (self.path, what) if p)
                raise ConfigError(f"{where or 'config'}: read-only")
            if node is origin:
                break
            node = node._parent

    # --- values ---------------------------------------------------------------------------
    @property
    def link(self) -> Link | None:
        """The link this node holds, or None."""
        return self._value if isinstance(self._value, Link) else None

    def _target(self, seen: frozenset[int] = frozenset()) -> "Config":
        if not isinstance(self._value, Link):
            return self
        if id(self) in seen:
            raise LinkError(f"{self.path}: link loop through {self._value.path}")
        target = self._resolve(self._value)
        if target is None:
            raise LinkError(f"{self.path or 'config'}: link {self._value.path} points to a "
                            "missing key")
        return target._target(seen | {id(self)})

    def _resolve(self, link: Link) -> "Config | None":
        parts = [p for p in link.path.split("/") if p not in ("", ".")]
        if link.path.startswith("/"):
            node: Config | None = self.root
        else:
            node = self
            while parts and parts[0] == "..":
                parts.pop(0)
                node = node._parent if node is not None else None
                if node is None:
                    return None
        for part in parts:
            if node is None:
                return None
            node = node._target()._kids.get(part)
        return node

    def value(self) -> str | None:
        """This node's value as a string (a callback is called, a link followed), or None."""
        v = self._target()._value
        if v is None:
            return None
        if callable(v):
            r = v()
            return None if r is None else _coerce(r)
        return v

    def get(self, key: str | None = None, default: Any = None) -> Any:
        """Value at dotted ``key`` (or this node's), ``default`` when unset."""
        node = self if key is None else self._find(key)
        if node is None:
            return default
        v = node.value()
        return default if v is None else v

    def getT(self, key: str, default: Any) -> Any:   # noqa: N802 - TLL's spelling
        """Value at ``key`` converted to the type of ``default`` (bool, int, float, str)."""
        from streamproto.config import parse_bool, parse_int
        raw = self.get(key)
        if raw is None:
            return default
        if isinstance(default, bool):
            return parse_bool(raw, key)
        if isinstance(default, int):
            return parse_int(raw, key)
        if isinstance(default, float):
            try:
                return float(raw)
            except ValueError:
                raise ConfigError(f"{key}: invalid number {raw!r}") from None
        return raw

    def __getitem__(self, key: str) -> Any:
        node = self._find(key)
        if node is None:
            raise KeyError(key)
        v = node.value()
        if v is None:
            raise KeyError(key)
        return v

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def __delitem__(self, key: str) -> None:
        self.unlink(key)

    def set(self, key: str, value: Any = None) -> None:
        """Set ``key`` to a string (other scalars are converted, bools as ``true``/``false``),
        a callable returning one, a :class:`Link`, or a copy of a Config/mapping subtree."""
        node = self._find(key, create=True)
        assert node is not None
        node._check_writable(self)
        if isinstance(value, Config):
            node._value = value._value
            node._kids = {}
            for k, kid in value._kids.items():
                c = kid.copy()
                c._parent, c._key = node, k
                node._kids[k] = c
            return
        if isinstance(value, Mapping):
            for k, v in value.items():
                node.set(str(k), v)
            return
        node._value = value if isinstance(value, Link) or callable(value) or value is None \
            else _coerce(value)

    def set_link(self, key: str, path: str) -> None:
        """Make ``key`` a link to ``path``."""
        self.set(key, Link(path))

    def sub(self, key: str, create: bool = False, throw: bool = True) -> "Config | None":
        """The subtree at ``key`` (followed through links); KeyError (or None) when missing."""
        node = self._find(key, create=create)
        if node is None:
            if throw:
                raise KeyError(key)
            return None
        return node._target()

    def unlink(self, key: str) -> None:
        """Remove ``key`` and its subtree (a link is removed, not its target)."""
        parts = _split(key)
        parent = self._find(".".join(parts[:-1])) if len(parts) > 1 else self
        if parent is None:
            raise KeyError(key)
        parent = parent._target()
        if parts[-1] not in parent._kids:
            raise KeyError(key)
        parent._check_writable(self, parts[-1])
        del parent._kids[parts[-1]]

    remove = unlink

    def has(self, key: str) -> bool:
        return key in self

    # --- walking --------------------------------------------------------------------------
    def browse(self, mask: str = "**", cb: bool = False) -> list[tuple[str, Any]]:
        """``(dotted path, value)`` of nodes under this one matching ``mask`` (``*`` one level,
        ``**`` any depth); with ``cb=True`` the values are the nodes themselves."""
        out: list[tuple[str, Any]] = []
        self._target()._browse(_split(mask) if mask else [], [], out, cb)
        return out

    def _browse(self, mask: list[str], prefix: list[str], out: list, cb: bool) -> None:
        if not mask:
            v = self.value()
            if cb:
                out.append((".".join(prefix), self))
            elif v is not None:
                out.append((".".join(prefix), v))
            return
        head, rest = mask[0], mask[1:]
        for k, kid in self._target()._kids.items():
            try:
                t = kid._target()
            except LinkError:
                continue
            if head == "**":
                t._browse([], prefix + [k], out, cb)
                t._browse(["**"], prefix + [k], out, cb)
            elif head == "*" or head == k:
                t._browse(rest, prefix + [k], out, cb)

    def walk(self) -> Iterator[tuple[str, "Config"]]:
        """Every node under this one (links not followed), depth first: ``(dotted path, node)``."""
        for k, kid in self._kids.items():
            yield k, kid
            for p, n in kid.walk():
                yield f"{k}.{p}", n

    def copy(self) -> "Self":
        """Deep copy (of the same class); links stay links, callbacks stay callbacks."""
        c = type(self)()
        c._value = self._value
        for k, kid in self._kids.items():
            kc = kid.copy()
            kc._parent, kc._key = c, k
            c._kids[k] = kc
        return c

    def as_dict(self) -> Any:
        """Plain nested dict of string values (links followed, callbacks called); a node with
        both a value and children gives the children."""
        node = self._target()
        if not node._kids:
            return node.value()
        return {k: kid.as_dict() for k, kid in node._kids.items()}

    def flat(self) -> dict[str, str]:
        """``{'a.b': value}`` for every node with a value (links followed)."""
        return dict(self.browse("**"))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Config):
            return self.as_dict() == other.as_dict()
        if isinstance(other, dict):
            return self.as_dict() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # unhashable: __eq__ compares values

    def __repr__(self) -> str:
        v = self._value
        return f"<Config {self.path or '/'}{' = ' + repr(v) if v is not None else ''} [{', '.join(self._kids)}]>"

    # --- TLL python API names -------------------------------------------------------------
    @staticmethod
    def load(url: str) -> "Config":
        """``yaml://FILE`` (or a plain path) or ``yamls://TEXT`` as a Config."""
        if url.startswith("yamls://"):
            return load_text(url[len("yamls://"):], "yamls")
        if url.startswith("yaml://"):
            url = url[len("yaml://"):]
        return load(url)

    @staticmethod
    def load_data(proto: str, data: str) -> "Config":
        if proto not in ("yaml", "yamls"):
            raise ConfigError(f"unsupported config format {proto!r} (expected yaml)")
        return load_text(data, "data")


def _split(path: str) -> list[str]:
    parts = path.split(".")
    if any(p == "" for p in parts):
        raise ConfigError(f"invalid config key {path!r}: empty path component")
    return parts


def _coerce(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    return str(value)


# --- YAML, the reference's way ---------------------------------------------------------------

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_yaml_log = logging.getLogger("tll.config.yaml")


def load(path: str | os.PathLike[str]) -> Config:
    """Read a YAML config file (see module doc); ConfigError naming the file and line."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read config {os.fspath(path)}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{os.fspath(path)}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return load_text(text, os.fspath(path))


def load_text(text: str, where: str = "config") -> Config:
    """A YAML document (text) as a Config; ``where`` names it in errors."""
    root = Config()
    try:
        events = list(yaml.parse(text, Loader=_Loader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{where}{at}: invalid YAML: {problem}") from None
    _Builder(events, where).document(root)
    return root


class _Builder:
    """Builds a Config from PyYAML events, mirroring the reference's event handler."""

    def __init__(self, events: list[Any], where: str) -> None:
        self.events = events
        self.pos = 0
        self.where = where
        self.anchors: dict[str, Config] = {}

    def _next(self) -> Any:
        ev = self.events[self.pos]
        self.pos += 1
        return ev

    def _err(self, ev: Any, text: str) -> ConfigError:
        mark = getattr(ev, "start_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        return ConfigError(f"{self.where}{at}: {text}")

    def document(self, root: Config) -> None:
        ev = self._next()                       # StreamStart
        ev = self._next()
        if isinstance(ev, yaml.StreamEndEvent):
            return
        if not isinstance(ev, yaml.DocumentStartEvent):
            raise self._err(ev, "expected a YAML document")
        ev = self._next()
        if isinstance(ev, yaml.MappingStartEvent):
            self._anchor(ev, root)
            self._mapping(root)
        elif isinstance(ev, yaml.SequenceStartEvent):
            self._anchor(ev, root)
            self._sequence(root)
        elif isinstance(ev, yaml.ScalarEvent) and ev.value == "" and not ev.tag:
            pass                                # an empty document
        else:
            raise self._err(ev, "expected a mapping or a list at the top level")
        ev = self._next()
        if not isinstance(ev, yaml.DocumentEndEvent):
            raise self._err(ev, "expected one YAML document")
        ev = self._next()
        if not isinstance(ev, yaml.StreamEndEvent):
            raise self._err(ev, "more than one YAML document")

    def _anchor(self, ev: Any, node: Config) -> None:
        if getattr(ev, "anchor", None):
            self.anchors[ev.anchor] = node

    def _mapping(self, node: Config) -> None:
        merges: list[Config] = []
        while True:
            ev = self._next()
            if isinstance(ev, yaml.MappingEndEvent):
                break
            if not isinstance(ev, yaml.ScalarEvent):
                raise self._err(ev, "mapping keys must be plain strings")
            key = ev.value
            if key == "<<" or ev.tag == "tag:yaml.org,2002:merge":
                merges.extend(self._merge_sources())
                continue
            self._value(node, key)
        for src in merges:                      # keys written in the mapping win
            _merge(node, src)

    def _sequence(self, node: Config) -> None:
        index = 0
        while True:
            ev = self.events[self.pos]
            if isinstance(ev, yaml.SequenceEndEvent):
                self.pos += 1
                break
            self._value(node, f"{index:04d}")
            index += 1

    def _merge_sources(self) -> list[Config]:
        ev = self._next()
        if isinstance(ev, yaml.AliasEvent):
            return [self._alias(ev)]
        if isinstance(ev, yaml.MappingStartEvent):
            tmp = Config()
            self._anchor(ev, tmp)
            self._mapping(tmp)
            return [tmp]
        if isinstance(ev, yaml.SequenceStartEvent):
            out: list[Config] = []
            while True:
                ev = self._next()
                if isinstance(ev, yaml.SequenceEndEvent):
                    return out
                if isinstance(ev, yaml.AliasEvent):
                    out.append(self._alias(ev))
                elif isinstance(ev, yaml.MappingStartEvent):
                    tmp = Config()
                    self._mapping(tmp)
                    out.append(tmp)
                else:
                    raise self._err(ev, "'<<' merges mappings only")
        raise self._err(ev, "'<<' merges mappings only")

    def _alias(self, ev: Any) -> Config:
        src = self.anchors.get(ev.anchor)
        if src is None:
            raise self._err(ev, f"unknown anchor *{ev.anchor}")
        return src

    def _value(self, node: Config, key: str) -> None:
        """Read the value event(s) for ``key`` (after a key scalar, or a list item)."""
        ev = self._next()
        try:
            _split(key)
        except ConfigError:
            raise self._err(ev, f"invalid key {key!r}") from None
        full = ".".join(p for p in (node.path, key) if p)
        if isinstance(ev, yaml.AliasEvent):
            src = self._alias(ev)
            target = node._find(key, create=True)
            assert target is not None
            if target._value is not None or target._kids:
                raise self._err(ev, f"'{full}': duplicate entry")
            _assign(target, src)
            return
        created = node._find(key) is None
        target = node._find(key, create=True)
        assert target is not None
        if isinstance(ev, yaml.MappingStartEvent):
            if ev.tag not in (None, "!", "tag:yaml.org,2002:map"):
                raise self._err(ev, f"'{full}': unknown tag {ev.tag}")
            self._anchor(ev, target)
            self._mapping(target)
            return
        if isinstance(ev, yaml.SequenceStartEvent):
            if ev.tag not in (None, "!", "tag:yaml.org,2002:seq"):
                raise self._err(ev, f"'{full}': unknown tag {ev.tag}")
            self._anchor(ev, target)
            self._sequence(target)
            return
        if not isinstance(ev, yaml.ScalarEvent):
            raise self._err(ev, f"'{full}': unexpected {type(ev).__name__}")
        if target._value is not None:
            raise self._err(ev, f"'{full}': duplicate entry")
        line = ev.start_mark.line + 1
        if created:         # a parent holding a value now has a child too: logged, as TLL does
            probe = target._parent
            while probe is not None:
                if probe._value is not None and not isinstance(probe._value, Link):
                    _yaml_log.error("Parent '%s' with value conflicts with new node '%s' at "
                                    "line %d", probe._key, full, line)
                    break
                probe = probe._parent
        elif target._kids:
            _yaml_log.error("Conflicting value at '%s', node has children [%s] at line %d",
                            full, ", ".join(target._kids), line)
        tag = ev.tag
        if tag in (None, "!", "tag:yaml.org,2002:str"):
            target._value = ev.value
        elif tag == "!link":
            path = ev.value.strip()
            if not path:
                raise self._err(ev, f"'{full}': empty !link")
            target._value = Link(path)
        elif tag == "tag:yaml.org,2002:binary":
            try:
                target._value = _coerce(base64.b64decode("".join(ev.value.split()), validate=True))
            except (binascii.Error, ValueError):
                raise self._err(ev, f"'{full}': invalid !!binary data") from None
        else:
            raise self._err(ev, f"'{full}': unknown tag {tag} (supported: !link, !!binary)")
        self._anchor(ev, target)


def _assign(target: Config, src: Config) -> None:
    target._value = src._value
    for k, kid in src._kids.items():
        c = kid.copy()
        c._parent, c._key = target, k
        target._kids[k] = c


def _merge(node: Config, src: Config) -> None:
    """Copy keys of ``src`` missing in ``node`` (recursively), as a YAML ``<<`` merge does."""
    if node._value is None and src._value is not None:
        node._value = src._value
    for k, kid in src._kids.items():
        mine = node._kids.get(k)
        if mine is None:
            c = kid.copy()
            c._parent, c._key = node, k
            node._kids[k] = c
        else:
            _merge(mine, kid)


_UNITS = {"ns": 1, "us": 1000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
          "h": 3_600_000_000_000, "d": 86_400_000_000_000}


def parse_ns(text: str, key: str) -> int:
    """A duration as the reference writes one (``<number><suffix>``, the suffix mandatory:
    ns, us, ms, s, m, h, d) -> whole nanoseconds; ConfigError naming ``key`` otherwise."""
    from decimal import Decimal, InvalidOperation
    t = str(text).strip()
    i = len(t)
    while i and t[i - 1].isalpha():
        i -= 1
    number, unit = t[:i].strip(), t[i:]
    if unit not in _UNITS or not number:
        raise ConfigError(f"{key}: invalid duration {text!r} (expected a number with a unit "
                          "ns, us, ms, s, m, h or d, e.g. 100ms)")
    try:
        ns = Decimal(number) * _UNITS[unit]
    except InvalidOperation:
        raise ConfigError(f"{key}: invalid duration {text!r}") from None
    if not ns.is_finite() or ns != ns.to_integral_value() or ns < 0:
        raise ConfigError(f"{key}: duration {text!r} is not a whole number of nanoseconds")
    return int(ns)


def parse_defines(defines: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """``-D KEY=VALUE`` arguments as pairs; ConfigError for one without ``=`` or with an empty key."""
    out = []
    for d in defines:
        key, sep, value = d.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"-D {d!r}: expected KEY=VALUE")
        try:
            _split(key.strip())
        except ConfigError:
            raise ConfigError(f"-D {d!r}: invalid key {key.strip()!r}") from None
        out.append((key.strip(), value))
    return out


class ConfigUrl(Config):
    """A channel URL as a config tree (TLL's ``tll.config.Url``): ``tll.proto``, ``tll.host``
    and the parameters, dotted keys nested."""

    __slots__ = ()

    @property
    def proto(self) -> str:
        return self.get("tll.proto", "")

    @proto.setter
    def proto(self, value: str) -> None:
        self.set("tll.proto", value)

    @property
    def host(self) -> str:
        return self.get("tll.host", "")

    @host.setter
    def host(self, value: str) -> None:
        self.set("tll.host", value)

    @classmethod
    def parse(cls, text: str) -> "ConfigUrl":
        """``proto://host;key=value;...`` as a ConfigUrl; ConfigError when malformed."""
        from streamproto.config import parse_url
        u = parse_url(text)
        return cls.from_params(u.proto, u.host, u.params)

    @classmethod
    def from_params(cls, proto: str, host: str, params: Mapping[str, str]) -> "ConfigUrl":
        url = cls()
        url.set("tll.proto", proto)
        url.set("tll.host", host)
        for k, v in params.items():
            url.set(k, v)
        return url

    def __str__(self) -> str:
        params = [(k, v) for k, v in self.browse("**") if k not in ("tll.proto", "tll.host")]
        return f"{self.proto}://{self.host}" + "".join(f";{k}={v}" for k, v in params)


__all__ += ["ConfigUrl"]
