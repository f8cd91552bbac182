"""A processor config (``processor.objects`` and friends) read into object specs, checked.

What TLL's processor reads (``src/processor/processor.cc``, ``doc/processor.rst``), as it reads it:

* ``processor.objects.NAME``: ``init`` (a URL string or a subtree with ``tll.proto``,
  ``tll.host``, parameters and children), or the deprecated ``url``; ``open`` (a subtree, often a
  ``!link``); ``depends`` (comma-separated names: opened first, their closing closes this one);
  ``channels`` (``{tag: 'a, b'}``, passed to the object as ``tll.channel.TAG``; those objects are
  created first); ``worker``; ``disable``/``enable``; ``name``. YAML lists are accepted for
  ``depends`` and ``channels`` values as an extension.
* ``processor.alias.NAME``: a URL (``python://;python=./m:C``) that protocol ``NAME`` expands to,
  its parameters added to the object's (a parameter set in both is an error, as in TLL).
* ``processor.defaults``: parameters every channel reads as ``PREFIX.name`` defaults, and
  ``processor.*`` defaults for the object parameters below.
* ``processor.module`` (accepted: Python code loads through ``python://``), ``processor.include``
  (YAML files merged under the config), ``logger`` (see :mod:`streamproto.processor.logsetup`).
* Object parameters read from the init URL's ``processor.`` subtree, then the URL, then
  ``processor.defaults.processor``: ``shutdown-on`` (none | close | error), ``reopen-timeout``
  (1s), ``reopen-timeout-max`` (30s), ``open-timeout`` (300s), ``close-timeout`` (10s),
  ``reopen-active-min`` (100ms here, 1ms in the reference: see :data:`ACTIVE_MIN`),
  ``tll.processor-verbose``.

Every mistake is a :class:`~streamproto.errors.ConfigError` naming the key: unknown objects in
``depends``/``channels``, dependency cycles, links that point nowhere (``/sys`` links are
checked against the object names). Unknown keys under ``processor`` and in objects are logged
and ignored, as the reference ignores them.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streamproto.config import parse_bool
from streamproto.errors import ConfigError
from streamproto.processor.config import Config, ConfigUrl, Link, LinkError, load, parse_ns

if TYPE_CHECKING:
    from streamproto.config import Url

__all__ = ["channel_url", "ObjectSpec", "ProcessorSpec", "build", "materialize", "resolve_alias",
           "SYS_KEYS", "PROCESSOR_KEYS", "OBJECT_KEYS"]

#: Keys TLL's processor reads under ``processor``.
PROCESSOR_KEYS = ("objects", "alias", "defaults", "module", "include", "worker", "scheme-path",
                  "keyring", "stages", "format", "chain")
#: Keys of one object.
OBJECT_KEYS = ("init", "url", "open", "depends", "channels", "worker", "disable", "enable", "name")
#: What ``/sys/OBJECT`` holds.
SYS_KEYS = ("state", "init", "open", "info")
SHUTDOWN = ("none", "close", "error")
#: Default ``reopen-active-min``: an object that closes or fails sooner than this after becoming
#: Active is reopened with back-off, not at once. The reference uses 1ms; objects here run
#: 10-50x slower (a three-message ``yaml://`` input takes ~10ms to deliver and close), so the
#: same "closed right away" needs a wider window.
ACTIVE_MIN = 0.1

log = logging.getLogger("tll.processor")


@dataclass
class ObjectSpec:
    """One object of ``processor.objects``, checked."""

    name: str
    where: str                                # "processor.objects.NAME"
    node: Config                              # its config node (links resolve from here)
    init: Config                              # the init node (value or subtree)
    depends: list[str] = field(default_factory=list)
    channels: dict[str, list[str]] = field(default_factory=dict)
    worker: str = "default"
    proto: str = ""                           # after aliases
    deprecated_url: bool = False              # spelled ``url`` instead of ``init``

    @property
    def open_node(self) -> Config | None:
        """The ``open`` node (maybe a link, followed when the object opens)."""
        return self.node._kids.get("open")     # noqa: SLF001 - the link itself, not its target

    @property
    def init_depends(self) -> list[str]:
        out: list[str] = []
        for names in self.channels.values():
            out.extend(n for n in names if n not in out)
        return out


@dataclass
class ProcessorSpec:
    """A whole config: objects in config order and in init order, aliases, defaults."""

    root: Config
    objects: dict[str, ObjectSpec]
    init_order: list[str]
    aliases: dict[str, ConfigUrl]
    defaults: dict[str, str]
    source: str = "config"

    def object(self, name: str) -> ObjectSpec:
        spec = self.objects.get(name)
        if spec is None:
            raise ConfigError(f"{self.source}: no object {name!r} in processor.objects "
                              f"(have: {', '.join(self.objects) or 'none'})")
        return spec


def _names(node: Config, where: str) -> list[str]:
    """A comma-separated list (TLL's spelling) or a YAML list of names."""
    text = node.value()
    if node.keys():
        if text is not None:
            raise ConfigError(f"{where}: has both a value and keys")
        out = []
        for k in node.keys():
            sub = node.sub(k)
            assert sub is not None
            out.extend(_names(sub, f"{where}.{k}"))
        return out
    if text is None or not text.strip():
        return []
    out = []
    for part in text.split(","):
        n = part.strip()
        if not n:
            raise ConfigError(f"{where}: empty name in {text!r}")
        out.append(n)
    return out


def _check_keys(node: Config, known: tuple[str, ...], where: str) -> None:
    """Unknown keys are logged and ignored: the reference reads the keys it knows and ignores
    the rest, so a config it runs (the tutorial puts ``dump: yes`` beside ``init``) runs here."""
    for k in node.keys():
        if k not in known:
            log.warning("%s.%s: unknown key, ignored (known: %s)", where, k, ", ".join(known))


def materialize(node: Config, where: str) -> Config:
    """A copy of ``node`` with every link replaced by (a copy of) what it points to."""
    out = Config()
    try:
        target = node._target()                # noqa: SLF001
    except LinkError as e:
        raise ConfigError(f"{where}: {e}") from None
    v = target.value()
    if v is not None:
        out._value = v                         # noqa: SLF001
    for k, kid in target._kids.items():        # noqa: SLF001
        c = materialize(kid, f"{where}.{k}")
        c._parent, c._key = out, k             # noqa: SLF001
        out._kids[k] = c                       # noqa: SLF001
    return out


def url_of(node: Config, where: str) -> ConfigUrl:
    """An ``init`` node (URL string or subtree, links followed) as a ConfigUrl."""
    m = materialize(node, where)
    text = m.value()
    if m.keys():
        if text:
            raise ConfigError(f"{where}: has both a URL value and keys")
        url = ConfigUrl()
        for k in m.keys():
            kid = m.sub(k)
            assert kid is not None
            url.set(k, kid)
        host = url.sub("tll.host", throw=False)
        if host is not None and host.keys():   # tll.host: {host, port} or {path}
            h, p, path = host.get("host"), host.get("port"), host.get("path")
            if path is not None:
                value = path
            elif h is not None and p is not None:
                value = f"{h}:{p}"
            else:
                raise ConfigError(f"{where}.tll.host: expected a string, {{host, port}} or {{path}}")
            url.unlink("tll.host")
            url.set("tll.host", value)
        if not url.get("tll.proto"):
            raise ConfigError(f"{where}: no protocol: set tll.proto (or write the URL as a "
                              "string, proto://host;key=value)")
        return url
    if not text:
        raise ConfigError(f"{where}: empty channel URL")
    try:
        return ConfigUrl.parse(text)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def resolve_alias(url: ConfigUrl, aliases: dict[str, ConfigUrl], known: set[str],
                  where: str) -> ConfigUrl:
    """Expand ``url``'s protocol through ``aliases`` until it is a known one (TLL's lookup:
    exact name, then the ``prefix+`` part; alias parameters are added, a clash is an error)."""
    seen: list[str] = []
    proto = url.proto
    while proto not in known:
        alias = aliases.get(proto)
        name = proto
        if alias is None and "+" in proto:
            name = proto[:proto.index("+") + 1]
            alias = aliases.get(name)
        if alias is None:
            hint = ""
            if aliases:
                hint = f"; aliases: {', '.join(sorted(aliases))}"
            raise ConfigError(f"{where}: unknown protocol {proto!r} (known: "
                              f"{', '.join(sorted(known))}{hint})")
        if name in seen:
            raise ConfigError(f"{where}: alias loop {' -> '.join(seen + [name])}")
        seen.append(name)
        aproto = alias.proto
        if "+" in proto and aproto.endswith("+"):
            proto = aproto + proto[proto.index("+") + 1:]
        else:
            proto = aproto
        for k, v in alias.browse("**"):
            if k in ("tll.proto", "tll.host"):
                continue
            if k in url:
                raise ConfigError(f"{where}: parameter {k!r} is set both in alias {name!r} "
                                  "and in the object")
            url.set(k, v)
        url.set("tll.proto", proto)
    return url


def _aliases(proc: Config, known: set[str]) -> dict[str, ConfigUrl]:
    out: dict[str, ConfigUrl] = {}
    node = proc.sub("alias", throw=False)
    if node is None:
        return out
    for name in node.keys():
        where = f"processor.alias.{name}"
        kid = node.sub(name)
        assert kid is not None
        url = url_of(kid, where)
        for key in ("tll.host", "name"):
            if url.get(key):
                raise ConfigError(f"{where}: an alias cannot set {key!r}")
        out[name] = url
    for name, url in out.items():               # every alias must lead to a real protocol
        if url.proto.endswith("+") and any(k.startswith(url.proto) for k in known):
            continue                            # a prefix alias (stream+://)
        resolve_alias(url.copy(), {k: v for k, v in out.items() if k != name}, known,
                      f"processor.alias.{name}")
    return out


def _check_links(root: Config, objects: set[str], allow_sys: bool) -> None:
    for path, node in root.walk():
        link = node.link
        if link is None:
            continue
        target = link.path
        if target.startswith("/sys/") or target == "/sys":
            if not allow_sys:
                raise ConfigError(f"{path}: link {target}: /sys exists only inside "
                                  "'streamproto run'")
            parts = [p for p in target.split("/") if p]
            if len(parts) < 2 or parts[1] not in objects:
                raise ConfigError(f"{path}: link {target}: no object "
                                  f"{parts[1] if len(parts) > 1 else ''!r} in processor.objects")
            if len(parts) > 2 and parts[2] not in SYS_KEYS:
                raise ConfigError(f"{path}: link {target}: /sys/{parts[1]} has "
                                  f"{', '.join(SYS_KEYS)}, not {parts[2]!r}")
            continue
        try:
            node._target()                      # noqa: SLF001
        except LinkError:
            raise ConfigError(f"{path}: link {target} points to a missing key") from None


def _include(root: Config, source: str) -> None:
    """``processor.include``: YAML files (``yaml://`` or paths) merged under the config."""
    inc = root.sub("processor.include", throw=False)
    if inc is None:
        return
    base = os.path.dirname(source) if source and os.path.exists(source) else ""
    urls = [v for _, v in inc.browse("**")] if inc.keys() else [inc.value() or ""]
    for url in urls:
        path = url[len("yaml://"):] if url.startswith("yaml://") else url
        if not path:
            continue
        if not os.path.isabs(path) and not os.path.exists(path) and base:
            path = os.path.join(base, path)
        extra = load(path)
        _merge_under(root, extra)


def _merge_under(root: Config, extra: Config) -> None:
    for k, kid in extra.items():
        mine = root._kids.get(k)                # noqa: SLF001
        if mine is None:
            c = kid.copy()
            c._parent, c._key = root, k         # noqa: SLF001
            root._kids[k] = c                   # noqa: SLF001
        else:
            if mine._value is None:             # noqa: SLF001
                mine._value = kid._value        # noqa: SLF001
            _merge_under(mine, kid)


def build(root: Config, *, source: str = "config", allow_sys: bool = True,
          known: set[str] | None = None, only: str | None = None) -> ProcessorSpec:
    """Check a loaded config and read its objects (see module doc). With ``only``, protocols
    and object parameters are checked for that object alone (``serve --config --object``)."""
    if known is None:
        from streamproto.registry import protocols
        known = set(protocols())
    if "sys" in root.keys():
        raise ConfigError(f"{source}: key 'sys' is reserved for the processor's /sys tree")
    _include(root, source)
    proc = root.sub("processor", throw=False)
    if proc is None:
        raise ConfigError(f"{source}: no 'processor' section (expected processor.objects)")
    _check_keys(proc, PROCESSOR_KEYS, "processor")
    for k in ("format", "chain"):
        if k in proc.keys():
            raise ConfigError(f"processor.{k}: not supported (use processor.objects)")
    aliases = _aliases(proc, known)
    dnode = proc.sub("defaults", throw=False)
    defaults = materialize(dnode, "processor.defaults").flat() if dnode is not None else {}
    objs = proc.sub("objects", throw=False)
    if objs is None or not objs.keys():
        raise ConfigError(f"{source}: processor.objects is empty or missing")

    if only is not None and only not in objs.keys():
        named = {o.get("name", k) for k in objs.keys() if (o := objs.sub(k)) is not None}
        if only not in named:
            raise ConfigError(f"{source}: no object {only!r} in processor.objects "
                              f"(have: {', '.join(sorted(named))})")
    objects: dict[str, ObjectSpec] = {}
    for ext in objs.keys():
        where = f"processor.objects.{ext}"
        node = objs.sub(ext)
        assert node is not None
        if only is not None and node.get("name", ext) != only:
            continue                # serve/subscribe --object: the other objects are not run
        if node.value() is not None and not node.keys():
            raise ConfigError(f"{where}: expected a mapping with 'init', got {node.value()!r}")
        _check_keys(node, OBJECT_KEYS, where)
        enable = parse_bool(node.get("enable", "yes"), f"{where}.enable")
        enable = not parse_bool(node.get("disable", "no" if enable else "yes"), f"{where}.disable")
        if not enable:
            continue
        name = node.get("name", ext)
        if name in objects:
            raise ConfigError(f"{where}: duplicate object name {name!r}")
        if "init" not in node.keys():
            if "url" not in node.keys():
                raise ConfigError(f"{where}: no 'init' (the channel URL or its parameters)")
            init = node._kids["url"]           # noqa: SLF001 - deprecated spelling
        elif "url" in node.keys():
            raise ConfigError(f"{where}: both 'init' and the deprecated 'url' are set")
        else:
            init = node._kids["init"]          # noqa: SLF001 - keep a link as a link
        spec = ObjectSpec(name, where, node, init, worker=node.get("worker", "default"),
                          deprecated_url="init" not in node.keys())
        onode = node._kids.get("open")         # noqa: SLF001
        if onode is not None and onode.link is None and onode.value() not in (None, "") \
                and not onode.keys():
            raise ConfigError(f"{where}.open: open parameters in string form "
                              f"({onode.value()!r}); write them as a mapping, e.g. "
                              "open: {mode: seq, seq: 0}")
        if "depends" in node.keys():
            dnode_ = node.sub("depends")
            assert dnode_ is not None
            spec.depends = _names(dnode_, f"{where}.depends")
        if "channels" in node.keys():
            cnode = node.sub("channels")
            assert cnode is not None
            if cnode.value() not in (None, "") and not cnode.keys():
                raise ConfigError(f"{where}.channels: expected a mapping tag: names")
            for tag, kid in cnode.items():
                names = _names(kid, f"{where}.channels.{tag}")
                if names:
                    spec.channels[tag] = names
        objects[name] = spec

    if not objects:
        raise ConfigError(f"{source}: every object in processor.objects is disabled")
    if only is not None:        # one object run alone: its links to the others do not apply
        for spec in objects.values():
            spec.depends, spec.channels = [], {}
    for spec in objects.values():
        seen: set[str] = set()
        for d in spec.depends:
            if d == spec.name:
                raise ConfigError(f"{spec.where}.depends: an object cannot depend on itself")
            if d not in objects:
                raise ConfigError(f"{spec.where}.depends: unknown object {d!r} "
                                  f"(objects: {', '.join(objects)})")
            if d in seen:
                raise ConfigError(f"{spec.where}.depends: {d!r} listed twice")
            seen.add(d)
        for tag, names in spec.channels.items():
            for n in names:
                if n not in objects:
                    raise ConfigError(f"{spec.where}.channels.{tag}: unknown object {n!r} "
                                      f"(objects: {', '.join(objects)})")
        _cycles(objects, spec.name, "depends", lambda s: s.depends, [])
        _cycles(objects, spec.name, "channels", lambda s: s.init_depends, [])
    _check_links(root, set(objects), allow_sys)
    for spec in objects.values():               # the protocol (aliases expanded) must exist
        if only is not None and spec.name != only:
            continue
        url = url_of(spec.init, f"{spec.where}.init")
        if url.get("name") is not None:
            raise ConfigError(f"{spec.where}.init.name: the object's name comes from its key; "
                              "remove 'name'")
        spec.proto = resolve_alias(url, aliases, known, f"{spec.where}.init").proto
        read_object_params(spec, defaults)      # report bad values now
    order = init_order(objects)
    return ProcessorSpec(root, objects, order, aliases, defaults, source)


def _cycles(objects: dict[str, ObjectSpec], name: str, what: str, deps: Any,
            path: list[str]) -> None:
    if name in path:
        cycle = path[path.index(name):] + [name]
        raise ConfigError(f"processor.objects: {what} cycle: {' -> '.join(cycle)}")
    for d in deps(objects[name]):
        _cycles(objects, d, what, deps, path + [name])


def init_order(objects: dict[str, ObjectSpec]) -> list[str]:
    """Names in TLL's init order: by depth of ``channels`` dependencies, then config order."""
    depth: dict[str, int] = {}

    def d(name: str) -> int:
        if name not in depth:
            deps = objects[name].init_depends
            depth[name] = 1 + max((d(x) for x in deps), default=-1)
        return depth[name]

    for n in objects:
        d(n)
    return sorted(objects, key=lambda n: depth[n])     # stable: config order within a depth


@dataclass
class ObjectParams:
    """Processor parameters of one object (seconds)."""

    shutdown: str = "none"
    reopen_min: float = 1.0
    reopen_max: float = 30.0
    open_timeout: float = 300.0
    close_timeout: float = 10.0
    active_min: float = ACTIVE_MIN
    verbose: bool = False


def read_object_params(spec: ObjectSpec, defaults: dict[str, str],
                       url: ConfigUrl | None = None) -> ObjectParams:
    """``shutdown-on``, ``reopen-timeout``, ... from the object's init (``processor.KEY``, then
    ``KEY``), then ``processor.defaults.processor.KEY``."""
    if url is None:
        url = url_of(spec.init, f"{spec.where}.init")
    where = f"{spec.where}.init"

    def get(key: str) -> tuple[str | None, str]:
        for k in (f"processor.{key}", key):
            v = url.get(k)
            if v is not None:
                return v, f"{where}.{k}"
        k = f"processor.{key}"
        return defaults.get(k), f"processor.defaults.{k}"

    p = ObjectParams()
    v, w = get("shutdown-on")
    if v is not None:
        if v not in SHUTDOWN:
            raise ConfigError(f"{w}: invalid value {v!r} (expected none, close or error)")
        p.shutdown = v
    for key, attr in (("reopen-timeout", "reopen_min"), ("reopen-timeout-max", "reopen_max"),
                      ("open-timeout", "open_timeout"), ("close-timeout", "close_timeout"),
                      ("reopen-active-min", "active_min")):
        v, w = get(key)
        if v is not None:
            setattr(p, attr, parse_ns(v, w) / 1e9)
    v, w = get("tll.processor-verbose")
    if v is not None:
        p.verbose = parse_bool(v, w)
    return p


def channel_url(spec: ObjectSpec, processor: ProcessorSpec, known: set[str] | None = None) -> "Url":
    """The object's init as a streamproto :class:`~streamproto.config.Url`: aliases expanded,
    ``name`` and ``tll.channel.TAG`` added, ``processor.defaults`` attached."""
    from streamproto.config import Url
    if known is None:
        from streamproto.registry import protocols
        known = set(protocols())
    where = f"{spec.where}.init"
    url = url_of(spec.init, where)
    url = resolve_alias(url, processor.aliases, known, where)
    if url.get("name") is not None:
        raise ConfigError(f"{where}.name: the object's name comes from its key; remove 'name'")
    params = {k: v for k, v in url.browse("**") if k not in ("tll.proto", "tll.host")}
    params["name"] = spec.name
    for tag, names in spec.channels.items():
        key = f"tll.channel.{tag}"
        if key in params:
            raise ConfigError(f"{spec.where}.channels.{tag}: also set as {key} in init")
        params[key] = ",".join(names)
    return Url(url.proto, url.host, params, dict(processor.defaults))


def check_no_sys_links(node: Config, where: str) -> None:
    """ConfigError when a link under ``node`` points into ``/sys`` (outside ``run``)."""
    for path, kid in [("", node)] + list(node.walk()):
        link = kid.link
        if link is not None and link.path.startswith("/sys"):
            key = f"{where}.{path}" if path else where
            raise ConfigError(f"{key}: link {link.path}: /sys exists only inside "
                              "'streamproto run'")


__all__ += ["ObjectParams", "read_object_params", "init_order", "url_of", "check_no_sys_links",
            "Link"]
