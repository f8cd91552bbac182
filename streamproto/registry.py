"""Channel factory: a URL or YAML init mapping -> the channel object for its protocol.

``create_channel(url_or_config)`` picks the class by ``tll.proto`` (and ``mode`` for
client/server pairs); ``open_channel`` also opens it. Other modules add protocols with
:func:`register_protocol` (e.g. ``stream+pub+tcp``, ``file``).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from streamproto.channel import Channel, EventCallback
from streamproto.config import Url, load_url
from streamproto.errors import ConfigError

__all__ = ["register_protocol", "create_channel", "open_channel", "protocols"]

Factory = Callable[..., Channel]   # factory(url: Url, *, on_event=..., name=...) -> Channel
_PROTOCOLS: dict[str, Factory] = {}
_builtin_loaded = False


def register_protocol(proto: str, factory: Factory) -> None:
    """Make ``create_channel`` build ``factory(url, on_event=..., name=...)`` for ``proto``."""
    _PROTOCOLS[proto] = factory


def _by_mode(server: type[Channel], client: type[Channel], default: str = "client") -> Factory:
    def make(url: Url, **kw: Any) -> Channel:
        mode = url.params.get("mode", default) or default
        if mode not in ("server", "client"):
            raise ConfigError(f"{url.proto}: parameter 'mode': invalid value {mode!r} "
                              "(expected server or client)")
        return (server if mode == "server" else client)(url, **kw)
    return make


def _load_builtin() -> None:
    global _builtin_loaded
    if _builtin_loaded:
        return
    _builtin_loaded = True
    from streamproto.pub.channel import PubClient, PubServer
    from streamproto.tcp import TcpClient, TcpServer
    _PROTOCOLS.setdefault("tcp", _by_mode(TcpServer, TcpClient))
    _PROTOCOLS.setdefault("pub+tcp", _by_mode(PubServer, PubClient))
    for mod in ("streamproto.stream.channel", "streamproto.storage.channel",
                "streamproto.channels"):
        try:                        # optional protocol providers register themselves on import
            __import__(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:       # the module exists but is broken: say so
                raise


def protocols() -> list[str]:
    """Protocols ``create_channel`` knows."""
    _load_builtin()
    return sorted(_PROTOCOLS)


def create_channel(url_or_config: "str | Mapping[str, Any] | Url", *,
                   on_event: EventCallback | None = None, name: str | None = None) -> Channel:
    """The (not yet opened) channel for a URL string, YAML init mapping or :class:`Url`."""
    _load_builtin()
    url = load_url(url_or_config)
    factory = _PROTOCOLS.get(url.proto)
    if factory is None:
        raise ConfigError(f"unknown protocol {url.proto!r} in {url}; known: "
                          f"{', '.join(sorted(_PROTOCOLS))}")
    return factory(url, on_event=on_event, name=name)


async def open_channel(url_or_config: "str | Mapping[str, Any] | Url",
                       params: "str | Mapping[str, Any] | None" = None, *,
                       on_event: EventCallback | None = None, name: str | None = None) -> Channel:
    """:func:`create_channel` + ``await channel.open(params)``."""
    ch = create_channel(url_or_config, on_event=on_event, name=name)
    await ch.open(params)
    return ch
