"""TLL's config value rules, one implementation (tllschema.tree) for schemes and channel configs:
integers (src/tll/conv/integer.h), booleans (src/tll/conv/base.h), flattened YAML trees
(src/config/yaml.cc)."""
from __future__ import annotations

import pytest

import tllschema
from streamproto import config
from streamproto.errors import ConfigError
from tllschema.tree import flatten, parse_bool, parse_int


@pytest.mark.parametrize("text,value", [
    ("0", 0), ("10", 10), ("010", 10), ("-7", -7), ("+7", 7), ("0x1F", 31), ("0X1f", 31), ("-0x10", -16),
    (" 12 ", 12), (12, 12), (2 ** 70, 2 ** 70),
])
def test_integers(text, value):
    assert parse_int(text, "k") == value == config.parse_int(text, "k")


@pytest.mark.parametrize("text", ["", "0x", "0o17", "0b1", "1_000", "1.0", "1e3", "--1", "ten", True, None, 1.0])
def test_bad_integers_name_the_key(text):
    with pytest.raises(tllschema.ParseError, match=r"^id: invalid integer"):
        parse_int(text, "id")
    with pytest.raises(ConfigError, match=r"^parameter 'seq': invalid integer"):
        config.parse_int(text, "seq")


@pytest.mark.parametrize("text,value", [("true", True), ("yes", True), ("1", True), ("false", False),
                                        ("no", False), ("0", False), (True, True), (False, False)])
def test_booleans(text, value):
    assert parse_bool(text, "k") is value and config.parse_bool(text, "k") is value


@pytest.mark.parametrize("text", ["on", "off", "True", "YES", "y", "2", "", None, 1])
def test_bad_booleans_name_the_key(text):
    with pytest.raises(tllschema.ParseError, match=r"^pmap: invalid boolean"):
        parse_bool(text, "pmap")
    with pytest.raises(ConfigError, match=r"^parameter 'hello': invalid boolean"):
        config.parse_bool(text, "hello")


def test_flatten_numbers_lists_like_tll_and_sorts():
    tree = {"b": {"y": [1, {"z": None}], "x": True}, "a": 1.5, 3: "n"}
    want = {"3": "n", "a": "1.5", "b.x": "yes", "b.y.0000": "1", "b.y.0001.z": ""}
    assert flatten(tree) == want == config.flatten(tree)
    assert list(flatten(tree)) == sorted(want)
    with pytest.raises(ConfigError, match=r"^init: key 'b.c' has a bytes value"):
        config.flatten({"b": {"c": b"x"}}, "init")
    with pytest.raises(tllschema.ParseError, match=r"key \(1, 2\) under 'b' is not a string"):
        flatten({"b": {(1, 2): "x"}}, "options")


def test_scheme_entries_use_the_same_rules():
    m = tllschema.load("yamls://- name: M\n  id: 010\n  options.defaults.optional: yes\n  fields:\n"
                       "    - {name: a, type: int8}\n").message("M")
    assert m.msgid == 10 and m.fields[0].index == 0
    with pytest.raises(tllschema.ParseError, match="defaults.optional: invalid boolean 'on'"):
        tllschema.load("yamls://- name: M\n  options.defaults.optional: on\n")
