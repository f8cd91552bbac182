"""Reference text formats: the hex dump of bodies without a scheme, tll-read's listing."""
from decimal import Decimal

import yaml
from hypothesis import given, settings, strategies as st

from streamproto.cli.dumpfmt import format_message_yaml, hexdump
from tllschema.values import Duration, TimePoint


def test_hexdump_lines_like_the_reference():
    out = hexdump(bytes(range(20)) + b"ok")
    assert out.splitlines() == [
        "  00000000:  00 01 02 03  04 05 06 07  08 09 0a 0b  0c 0d 0e 0f  ................",
        "  00000010:  10 11 12 13  6f 6b" + " " * 34 + "....ok",
    ]
    assert hexdump(b"") == ""


# --- the tll-read listing: the fast writer makes PyYAML's choices --------------------------------

def tll_read(seq, name, data):
    """What tll-read prints for one message (its representers, yaml.dump, print)."""
    class Dumper(yaml.Dumper):
        pass

    def text(dumper, value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", str(value))

    def binary(dumper, value):
        if all(x < 0x80 for x in value):
            return dumper.represent_scalar("tag:yaml.org,2002:str", value.decode("ascii"))
        return dumper.represent_binary(bytes(value))

    for t in (Decimal, TimePoint, Duration):
        Dumper.add_representer(t, text)
    Dumper.add_representer(bytearray, binary)
    Dumper.ignore_aliases = lambda *a: True
    def fields(v):                 # byte fields unpack as bytearray in TLL's binding
        if isinstance(v, bytes):
            return bytearray(v)
        if isinstance(v, dict):
            return {k: fields(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fields(x) for x in v]
        return v

    data = fields(data)
    return yaml.dump([{"seq": seq, "name": name, "data": data}], Dumper=Dumper,
                     sort_keys=False, allow_unicode=True) + "\n"


def test_listing_is_tll_reads_text():
    tp = TimePoint(0, "ns")
    data = {"time": tp, "t2": TimePoint(1_700_000_000_120, "ms"), "value": Decimal("4.56"),
            "tiny": Decimal("1E-8"), "delay": Duration(1500, "ms"), "side": "Sell",
            "word": "yes", "empty": "", "quote": "it's", "arr": [1, 2], "nested": [[1], []],
            "ptr": [{"x": 1, "s": "one"}], "sub": {"x": 0}, "none": {}, "f": 1e17, "g": 0.5,
            "raw": b"ab\x00", "bin": b"\xff", "long": "word " * 30, "uni": "привет"}
    plain = {k: str(v) if isinstance(v, (TimePoint, Duration, Decimal)) else v
             for k, v in data.items()}
    assert format_message_yaml(7, "Order", plain) == tll_read(7, "Order", data)
    assert format_message_yaml(0, "Tick", {"time": str(tp)}) == \
        "- seq: 0\n  name: Tick\n  data:\n    time: '1970-01-01T00:00:00Z'\n\n"


_scalars = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(),
                     st.text(max_size=90), st.binary(max_size=8),
                     st.decimals(allow_nan=False, allow_infinity=False).map(str))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.from_regex(r"[a-z][a-z_0-9]{0,8}", fullmatch=True), inner, max_size=3)),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z][a-z_0-9]{0,8}", fullmatch=True), _values,
                       max_size=5))
def test_listing_matches_pyyaml_for_any_shape(data):
    assert format_message_yaml(1, "M", data) == tll_read(1, "M", data)
