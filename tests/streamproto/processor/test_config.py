"""The config tree and the YAML loader, read as the reference reads them (src/config/yaml.cc)."""
from __future__ import annotations

import logging

import pytest

from streamproto.errors import ConfigError
from streamproto.processor import load_config
from streamproto.processor.config import Config, ConfigUrl, Link, LinkError, load_text, parse_ns


def test_scalars_stay_the_text_written():
    c = load_text("""
a: yes
b: 0100
t: 2024-04-24T11:04:05.123456789
u: 2024-04-24 11:04:05.123456789
p: 113.90
n: ~
e:
q: 'quoted: yes'
""")
    assert c.flat() == {"a": "yes", "b": "0100", "t": "2024-04-24T11:04:05.123456789",
                        "u": "2024-04-24 11:04:05.123456789", "p": "113.90", "n": "~",
                        "e": "", "q": "quoted: yes"}


def test_dotted_keys_expand_anywhere_and_lists_number_their_items():
    c = load_text("""
processor.objects:
  logic:
    channels.input: a
    channels: {output: 'b, c'}
    list: [x, {y.z: 1}]
""")
    assert c.get("processor.objects.logic.channels.input") == "a"
    assert c.get("processor.objects.logic.channels.output") == "b, c"
    assert c.sub("processor.objects.logic.list").keys() == ["0000", "0001"]
    assert c.get("processor.objects.logic.list.0001.y.z") == "1"


def test_anchors_aliases_and_merge_keys():
    c = load_text("""
common: &common {dump: yes, autoseq: 'true'}
a:
  <<: *common
  dump: no
b: *common
""")
    assert c.sub("a").flat() == {"dump": "no", "autoseq": "true"}    # written keys win
    assert c.sub("b").flat() == {"dump": "yes", "autoseq": "true"}


@pytest.mark.parametrize("text, message", [
    ("a: 1\na: 2\n", r"config:2: 'a': duplicate entry"),
    ("a: !!int 5\n", r"'a': unknown tag tag:yaml.org,2002:int"),
    ("a: [1\n", r"config:2: invalid YAML"),
    ("a: *nope\n", r"unknown anchor|invalid YAML"),
    ("- a\n---\n- b\n", "more than one YAML document"),
])
def test_mistakes_name_the_key_and_line(text, message):
    with pytest.raises(ConfigError, match=message):
        load_text(text)


def test_a_node_may_hold_a_value_and_children_logged_as_the_reference_does(caplog):
    # TLL's loader keeps both and logs an error line (src/config/yaml.cc); logger levels are
    # written this way: `tll: info` next to `tll.channel.x: debug`
    with caplog.at_level(logging.ERROR, logger="tll.config.yaml"):
        c = load_text("levels:\n  tll: info\n  tll.channel.x: debug\nb.c: 1\nb: 2\n")
    assert c.get("levels.tll") == "info"
    assert c.get("levels.tll.channel.x") == "debug"
    assert (c.get("b"), c.get("b.c")) == ("2", "1")
    assert [r.getMessage() for r in caplog.records] == [
        "Parent 'tll' with value conflicts with new node 'levels.tll.channel.x' at line 3",
        "Conflicting value at 'b', node has children [c] at line 5",
    ]


def test_links_absolute_relative_and_loops():
    c = load_text("""
src: {mode: seq, seq: '0'}
obj:
  open: !link /src
  sibling: !link ../../src/mode
  missing: !link ../src/mode
loop1: !link /loop2
loop2: !link /loop1
""")
    assert c.sub("obj").get("open.mode") == "seq"
    assert c.get("obj.open.seq") == "0"
    assert c.get("obj.sibling") == "seq"         # relative to the link node, as in TLL
    with pytest.raises(LinkError, match="obj.missing: link ../src/mode points to a missing key"):
        c.get("obj.missing")
    assert c.sub("obj")._kids["open"].link == Link("/src")
    with pytest.raises(LinkError, match="link loop"):
        c.get("loop1")


def test_values_callbacks_copies_and_read_only_subtrees():
    c = Config()
    state = {"seq": 5}
    c["info.seq"] = lambda: str(state["seq"])
    c.set("info.mode", "seq")
    assert c.get("info.seq") == "5"
    state["seq"] = 6
    assert c["info.seq"] == "6" and c.sub("info").as_dict() == {"seq": "6", "mode": "seq"}
    sub = Config()
    sub["mode"] = "seq"
    sub["seq"] = 0
    c.set("open", sub)
    assert c.sub("open").flat() == {"mode": "seq", "seq": "0"}
    assert c.browse("info.*") == [("info.seq", "6"), ("info.mode", "seq")]
    ro = c.sub("info")
    ro.readonly = True
    with pytest.raises(ConfigError, match="read-only"):
        c.set("info.other", "x")                 # from above: refused
    inner = c.sub("info")
    assert inner is ro
    with pytest.raises(KeyError):
        c["missing"]
    assert c.getT("info.seq", 0) == 6 and c.getT("nope", True) is True


def test_url_config_round_trip():
    u = ConfigUrl.parse("python://;python=./commission:Commission;a.b=1")
    assert (u.proto, u.host, u.get("python"), u.get("a.b")) == \
        ("python", "", "./commission:Commission", "1")
    assert str(u) == "python://;python=./commission:Commission;a.b=1"


def test_defines_set_any_key_and_refuse_subtrees(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("processor.objects:\n  x:\n    init: null://\n    open: {mode: online}\n")
    c = load_config(str(path), ["processor.objects.x.open.mode=seq",
                                "processor.objects.x.open.seq=0", "extra.key=a=b"])
    assert c.sub("processor.objects.x.open").flat() == {"mode": "seq", "seq": "0"}
    assert c.get("extra.key") == "a=b"
    with pytest.raises(ConfigError, match=r"-D processor.objects.x=1: .*has keys"):
        load_config(str(path), ["processor.objects.x=1"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(str(path), ["novalue"])
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(str(tmp_path / "missing.yaml"))


def test_durations_need_a_unit():
    assert parse_ns("100ms", "k") == 100_000_000
    assert parse_ns("1.5s", "k") == 1_500_000_000
    for bad in ("100", "ms", "1.5ns", "-1s", "abc"):
        with pytest.raises(ConfigError, match="k: "):
            parse_ns(bad, "k")
