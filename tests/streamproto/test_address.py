"""Addresses (docs/network-format.md#addresses): Unix paths, abstract names, host:port v4/v6, wildcard."""
from __future__ import annotations

import socket

import pytest

from streamproto.address import (InetAddress, UnixAddress, address_from_params, format_sockaddr,
                                 parse_address, resolve)
from streamproto.errors import ConfigError


@pytest.mark.parametrize("text,path,abstract", [
    ("./pub.socket", "./pub.socket", False),
    ("/run/x.sock", "/run/x.sock", False),
    ("dir/x.sock", "dir/x.sock", False),
    ("@/name", "@/name", True),
])
def test_unix_paths(text, path, abstract):
    a = parse_address(text)
    assert a == UnixAddress(path) and a.abstract is abstract
    assert a.sockaddr == ("\0/name" if abstract else path)


def test_abstract_without_slash_needs_af_unix():
    assert parse_address("@name", af="unix").sockaddr == "\0name"
    with pytest.raises(ConfigError, match="expected host:port"):
        parse_address("@name")


@pytest.mark.parametrize("text,host,port", [
    ("127.0.0.1:5555", "127.0.0.1", 5555),
    ("::1:5555", "::1", 5555),                 # IPv6 without brackets, split at the last colon
    ("fe80::1:2:0", "fe80::1:2", 0),
    ("localhost:80", "localhost", 80),
    ("*:0", "*", 0),
    ("[::1]:7", "::1", 7),
])
def test_host_port(text, host, port):
    assert parse_address(text) == InetAddress(host, port)


@pytest.mark.parametrize("text,af,message", [
    ("localhost", "any", "expected host:port"),
    ("host:http", "any", "port 'http' is not a number"),
    ("host:70000", "any", "port '70000' is not a number"),
    (":5555", "any", "empty host"),
    ("::1:5555", "ipv4", "IPv6 host '::1' but af=ipv4"),
    ("./x.sock", "ipv4", "looks like a Unix socket path, but af=ipv4"),
    ("x:1", "ipx", "parameter 'af'"),
    ("", "any", "empty address"),
])
def test_bad_addresses(text, af, message):
    with pytest.raises(ConfigError, match=message):
        parse_address(text, af)


def test_config_tree_forms():
    assert address_from_params("", {"tll.host.path": "./s"}) == UnixAddress("./s")
    assert address_from_params(None, {"tll.host.host": "::1", "tll.host.port": "5"}) == \
        InetAddress("::1", 5, "ipv6")
    assert address_from_params("", {"tll.host.host": "127.0.0.1", "tll.host.port": "5"}) == \
        InetAddress("127.0.0.1", 5)
    with pytest.raises(ConfigError, match="no address"):
        address_from_params("", {})


def test_resolve_wildcard_and_literals():
    assert resolve(InetAddress("*", 0, "ipv4"), server=True) == [(socket.AF_INET, ("0.0.0.0", 0))]
    if socket.has_ipv6:
        assert resolve(InetAddress("*", 0), server=True)[0][0] == socket.AF_INET6
    fam, sa = resolve(InetAddress("127.0.0.1", 9), server=False)[0]
    assert fam == socket.AF_INET and sa == ("127.0.0.1", 9)
    assert resolve(UnixAddress("@x"), server=True) == [(socket.AF_UNIX, "\0x")]
    with pytest.raises(ConfigError, match="cannot resolve"):
        resolve(InetAddress("no-such-host.invalid", 1), server=False)


def test_format_sockaddr():
    assert format_sockaddr(socket.AF_UNIX, "\0abc") == "@abc"
    assert format_sockaddr(socket.AF_UNIX, "./x") == "./x"
    assert format_sockaddr(socket.AF_INET6, ("::1", 5, 0, 0)) == "::1:5"
