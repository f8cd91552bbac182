"""TLL URL strings and YAML init mappings (docs/network-format.md#urls-and-child-channels)."""
from __future__ import annotations

import pytest
import yaml

from streamproto.config import (Url, child_url, load_url, parse_bool, parse_duration,
                                parse_params, parse_size, parse_url, url_from_mapping)
from streamproto.errors import ConfigError
from streamproto.registry import create_channel


def test_url_string():
    u = parse_url("pub+tcp://./pub.socket; mode=server;size=1mb")
    assert (u.proto, u.host) == ("pub+tcp", "./pub.socket")
    assert u.params == {"mode": "server", "size": "1mb"}
    assert u.get("size", conv=parse_size) == 1 << 20


def test_url_absolute_path_and_empty_host():
    assert parse_url("tcp:///run/x.sock").host == "/run/x.sock"
    assert parse_url("null://").host == ""


@pytest.mark.parametrize("text,message", [
    ("tcp:/x", "expected PROTO://HOST"),
    ("://x", "empty protocol"),
    ("tcp://x;a=1;a=2", "duplicate parameter 'a'"),
    ("tcp://x;novalue", "has no '='"),
])
def test_bad_url(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_url(text)


def test_prefix_lookup():
    u = parse_url("pub+tcp://x;size=1kb;pub.size=4mb;stream.size=2mb")
    assert u.get("size", conv=parse_size, prefixes=("pub",)) == 4 << 20
    assert u.get("size", conv=parse_size, prefixes=("stream",)) == 2 << 20
    assert u.get("size", conv=parse_size) == 1024
    assert u.get("missing", 7, prefixes=("pub",)) == 7


@pytest.mark.parametrize("text,value", [("64kb", 65536), ("1mb", 1 << 20), ("512", 512),
                                        ("2gb", 2 << 30), ("10b", 10)])
def test_sizes(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "kb", "1xb", "-1kb", "1.5mb"])
def test_bad_sizes(text):
    with pytest.raises(ConfigError, match=r"parameter 'pub.size': invalid size"):
        parse_size(text, "pub.size")


@pytest.mark.parametrize("text,value", [("yes", True), ("no", False), ("true", True),
                                        ("false", False), ("1", True), ("0", False)])
def test_booleans(text, value):
    assert parse_bool(text) is value


def test_bad_boolean_names_key():
    with pytest.raises(ConfigError, match="parameter 'hello': invalid boolean 'maybe'"):
        parse_bool("maybe", "hello")


@pytest.mark.parametrize("text,seconds", [("10ms", 0.01), ("1.5s", 1.5), ("100us", 1e-4),
                                          ("2m", 120.0), ("5ns", 5e-9)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_bad_duration():
    with pytest.raises(ConfigError, match="parameter 'timeout': invalid duration '10 parsecs'"):
        parse_duration("10 parsecs", "timeout")


YAML = """
server:
  tll.proto: stream+pub+tcp
  tll.host: '::1:5555'
  mode: server
  request: 'tcp://::1:5556'
  storage: rotate+file:///data/s/storage
  pub: {size: 4mb}
  autoseq: yes
client:
  tll.proto: stream+pub+tcp
  tll.host: {host: '::1', port: 5555}
  request: {url: 'tcp://::1:5556', dump: frame}
  peer: c0
  stream.protocol: new
unix:
  tll: {proto: pub+tcp, host: {path: ./p.sock}}
  frame: std
"""


def test_yaml_init_mappings():
    tree = yaml.safe_load(YAML)
    srv = url_from_mapping(tree["server"])
    assert (srv.proto, srv.host) == ("stream+pub+tcp", "::1:5555")
    assert srv.params["pub.size"] == "4mb" and srv.params["autoseq"] == "yes"
    assert srv.get("size", conv=parse_size, prefixes=("pub",)) == 4 << 20
    cli = url_from_mapping(tree["client"])
    assert cli.host == "::1:5555" and cli.params["stream.protocol"] == "new"
    req = child_url(cli, "request")
    assert (req.proto, req.host, req.params) == ("tcp", "::1:5556", {"dump": "frame"})
    assert child_url(srv, "storage") == Url("rotate+file", "/data/s/storage", {})
    assert child_url(srv, "blocks") is None
    u = url_from_mapping(tree["unix"])
    assert (u.proto, u.host, u.params) == ("pub+tcp", "./p.sock", {"frame": "std"})


def test_yaml_errors_name_the_problem():
    with pytest.raises(ConfigError, match="no protocol"):
        url_from_mapping({"tll.host": "x"})
    with pytest.raises(ConfigError, match="needs both 'host' and 'port'"):
        url_from_mapping({"tll.proto": "tcp", "tll.host": {"host": "::1"}})
    with pytest.raises(ConfigError, match="key 'x' has a bytes value"):
        url_from_mapping({"tll.proto": "tcp", "x": b"12"})
    # lists are numbered keys, as TLL's YAML reader makes them
    assert url_from_mapping({"tll.proto": "tcp", "x": [1, 2]}).params == {"x.0000": "1", "x.0001": "2"}
    with pytest.raises(ConfigError, match="expected a channel URL string or mapping"):
        load_url(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [
    "stream+pub+tcp://./s;request.tll.proto=tcp;request.tll.host=./r.sock;request.dump=frame",
    "stream+pub+tcp://./s;request.url=tcp://./r.sock;request.dump=frame",
    "stream+pub+tcp://./s;request=tcp://./r.sock;request.dump=frame",
])
def test_three_child_forms_are_equivalent(text):
    assert child_url(parse_url(text), "request") == Url("tcp", "./r.sock", {"dump": "frame"})


def test_child_form_conflicts():
    with pytest.raises(ConfigError, match="both request= and request.url="):
        child_url(parse_url("s://x;request=tcp://a;request.url=tcp://b"), "request")
    with pytest.raises(ConfigError, match="request.\\* keys given but no request URL"):
        child_url(parse_url("s://x;request.dump=frame"), "request")


def test_open_params():
    assert parse_params("mode=seq;seq=20") == {"mode": "seq", "seq": "20"}
    assert parse_params({"mode": "seq", "seq": 20, "request": {"x": True}}) == \
        {"mode": "seq", "seq": "20", "request.x": "yes"}
    assert parse_params(None) == {}
    with pytest.raises(ConfigError, match="duplicate parameter 'seq'"):
        parse_params("seq=1;seq=2")


def test_factory_errors():
    with pytest.raises(ConfigError, match="unknown protocol 'udp'"):
        create_channel("udp://x:1")
    with pytest.raises(ConfigError, match="parameter 'mode': invalid value 'both'"):
        create_channel("pub+tcp://./x;mode=both")
    with pytest.raises(ConfigError, match="invalid size"):
        create_channel("pub+tcp://./x;mode=server;pub.size=big")
    with pytest.raises(ConfigError, match="pub ring size 512 is too small"):
        create_channel("pub+tcp://./x;mode=server;size=512b")
    with pytest.raises(ConfigError, match="unknown frame"):
        create_channel("tcp://./x;frame=huge")
