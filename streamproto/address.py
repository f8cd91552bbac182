"""Socket addresses of ``tcp://`` style channels (``docs/network-format.md#addresses``).

* Unix socket when ``af=unix`` or the address contains ``/``: relative or absolute path; a path
  starting with ``@`` is an abstract socket (``@/name`` -> ``"\\0/name"``).
* Otherwise ``host:port`` split at the **last** colon, IPv6 literals without brackets
  (``::1:5555``); host ``*`` is the wildcard; port 0 asks the server for an ephemeral port.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, Mapping, Union

from streamproto.errors import ConfigError

__all__ = ["UnixAddress", "InetAddress", "Address", "AF_CHOICES", "parse_address",
           "address_from_params", "resolve", "format_sockaddr"]

AF_CHOICES = ("any", "ipv4", "ipv6", "unix")


@dataclass(frozen=True)
class UnixAddress:
    """A Unix stream socket path as written (``@name`` = abstract)."""

    path: str

    @property
    def abstract(self) -> bool:
        return self.path.startswith("@")

    @property
    def sockaddr(self) -> str:
        """What ``socket.bind``/``connect`` take: the path, or ``"\\0name"`` when abstract."""
        return "\0" + self.path[1:] if self.abstract else self.path

    def __str__(self) -> str:
        return self.path


@dataclass(frozen=True)
class InetAddress:
    """``host:port``; ``af`` is ``any``, ``ipv4`` or ``ipv6``."""

    host: str
    port: int
    af: str = "any"

    @property
    def wildcard(self) -> bool:
        return self.host == "*"

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


Address = Union[UnixAddress, InetAddress]


def parse_address(text: str, af: str = "any") -> Address:
    """Parse the host part of a channel URL; ConfigError names what is wrong."""
    if af not in AF_CHOICES:
        raise ConfigError(f"parameter 'af': invalid value {af!r} (expected one of "
                          f"{', '.join(AF_CHOICES)})")
    if not isinstance(text, str) or not text:
        raise ConfigError("empty address: expected a Unix socket path or host:port")
    if af == "unix" or (af == "any" and "/" in text):
        if text in ("@", ""):
            raise ConfigError(f"invalid Unix socket address {text!r}: empty name")
        return UnixAddress(text)
    if "/" in text:
        raise ConfigError(f"address {text!r} looks like a Unix socket path, but af={af}")
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ConfigError(f"invalid address {text!r}: expected host:port (IPv6 without brackets, "
                          "e.g. ::1:5555) or a Unix socket path containing '/'")
    if not host:
        raise ConfigError(f"invalid address {text!r}: empty host")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"invalid address {text!r}: port {port_text!r} is not a number 0..65535")
    if af == "ipv4" and ":" in host:
        raise ConfigError(f"address {text!r}: IPv6 host {host!r} but af=ipv4")
    return InetAddress(host, int(port_text), af)


def address_from_params(host: str | None, params: Mapping[str, str]) -> Address:
    """Address from a URL host and its parameters (``af``; or ``tll.host.host/port/path``)."""
    af = params.get("af", "any") or "any"
    if not host:
        path = params.get("tll.host.path")
        if path:
            return parse_address(path, "unix" if af == "any" else af)
        h, p = params.get("tll.host.host"), params.get("tll.host.port")
        if h is not None and p is not None:
            if af == "any" and ":" in h:
                af = "ipv6"
            return parse_address(f"{h}:{p}", af)
        raise ConfigError("no address: set the URL host (tll.host) to a Unix socket path or "
                          "host:port")
    return parse_address(host, af)


def _family(addr: InetAddress) -> int:
    return {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}.get(addr.af, socket.AF_UNSPEC)


def resolve(addr: Address, *, server: bool) -> list[tuple[int, Any]]:
    """``[(family, sockaddr), ...]`` for bind (server: all of them) or connect (first one).

    Wildcard ``*`` gives ``::`` (dual-stack) unless ``af=ipv4``. Raises ConfigError when the
    name does not resolve.
    """
    if isinstance(addr, UnixAddress):
        return [(socket.AF_UNIX, addr.sockaddr)]
    host = addr.host
    if host == "*":
        if addr.af == "ipv4" or not socket.has_ipv6:
            return [(socket.AF_INET, ("0.0.0.0", addr.port))]
        return [(socket.AF_INET6, ("::", addr.port, 0, 0))]
    try:
        infos = socket.getaddrinfo(host, addr.port, _family(addr), socket.SOCK_STREAM,
                                   0, socket.AI_PASSIVE if server else 0)
    except socket.gaierror as e:
        raise ConfigError(f"cannot resolve address {addr}: {e.strerror}") from None
    out: list[tuple[int, Any]] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if (family, sockaddr) not in out:
            out.append((family, sockaddr))
    if not out:
        raise ConfigError(f"address {addr} resolved to nothing")
    return out if server else out[:1]


def format_sockaddr(family: int, sockaddr: object) -> str:
    """``host:port`` (IPv6 unbracketed, as TLL writes it) or the Unix path (abstract as ``@``)."""
    if family == socket.AF_UNIX:
        s = sockaddr.decode() if isinstance(sockaddr, bytes) else str(sockaddr)
        return "@" + s[1:] if s.startswith("\0") else s
    return f"{sockaddr[0]}:{sockaddr[1]}"  # type: ignore[index]  # inet: a (host, port, ...) tuple
