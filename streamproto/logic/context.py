"""The context logic code runs in: the objects it can look up by name and their config nodes.

TLL's channel context knows every channel by name and holds each channel's config (``state``,
``init``, ``open``, ``info``); the processor shows that tree as ``/sys``. :class:`Context` is that:
:meth:`add` registers a channel (the processor does it for every object), :meth:`get` returns
its :class:`~streamproto.logic.handle.ChannelHandle`, :meth:`object_config` its config node.
While the processor creates objects, :data:`current` holds the context so ``python://`` channels
find it.
"""
from __future__ import annotations

import contextvars
from typing import Any

from streamproto.errors import ConfigError
from streamproto.logic.handle import ChannelHandle, SchemeView
from streamproto.processor.config import Config

__all__ = ["Context", "current", "get_context"]

current: contextvars.ContextVar["Context | None"] = contextvars.ContextVar(
    "streamproto_logic_context", default=None)


class Context:
    """Objects by name, their config nodes (``sys``), a scheme cache (see module doc)."""

    def __init__(self, sys: Config | None = None) -> None:
        self.sys = sys if sys is not None else Config()
        self._handles: dict[str, ChannelHandle] = {}
        self._schemes: dict[str, Any] = {}

    def add(self, channel: Any, init: Config | None = None) -> ChannelHandle:
        """Register ``channel`` under its name; its config node gets ``state``, ``init``, ``info``."""
        name = channel.name
        if name in self._handles:
            raise ConfigError(f"duplicate object name {name!r}")
        handle = ChannelHandle(channel, self)
        self._handles[name] = handle
        cfg = self.object_config(name)
        cfg.set("state", lambda: channel.state)
        if init is not None:
            cfg.set("init", init)
        info = cfg.sub("info", create=True)
        assert info is not None
        if hasattr(channel, "last_seq") and "seq" not in info:
            info.set("seq", lambda: str(getattr(channel, "last_seq", -1)))
        return handle

    def get(self, name: str) -> ChannelHandle | None:
        """The handle of object ``name``, or None."""
        return self._handles.get(name)

    def handle(self, channel: Any) -> ChannelHandle:
        """The handle of a registered channel (registering it when it is new)."""
        h = self._handles.get(channel.name)
        if h is None or h.channel is not channel:
            return ChannelHandle(channel, self)
        return h

    def names(self) -> list[str]:
        return list(self._handles)

    def object_config(self, name: str) -> Config:
        """The config node of object ``name`` (``/sys/NAME``), created when missing."""
        node = self.sys._kids.get(name)   # noqa: SLF001 - the sys root is read-only from above
        if node is None:
            node = Config()
            node._parent, node._key = self.sys, name   # noqa: SLF001
            self.sys._kids[name] = node                # noqa: SLF001
        return node

    def scheme_load(self, url: str, cache: bool = True) -> SchemeView:
        """A scheme by URL (``yaml://``, ``yamls://``, ``channel://NAME``), as a SchemeView."""
        if url.startswith("channel://"):
            name = url[len("channel://"):].split(":", 1)[0]
            h = self.get(name)
            if h is None:
                raise ConfigError(f"scheme {url}: no channel {name!r}")
            scheme = h.channel.scheme
            if scheme is None:
                raise ConfigError(f"scheme {url}: channel {name!r} has no scheme")
            return SchemeView(scheme)
        scheme = self._schemes.get(url) if cache else None
        if scheme is None:
            import tllschema
            try:
                scheme = tllschema.load(url)
            except tllschema.SchemeError as e:
                raise ConfigError(f"scheme {url}: {e}") from None
            self._schemes[url] = scheme
        return SchemeView(scheme)


def get_context() -> Context:
    """The current context, or a new standalone one (channels created outside a processor)."""
    ctx = current.get()
    if ctx is None:
        ctx = Context()
        current.set(ctx)
    return ctx
