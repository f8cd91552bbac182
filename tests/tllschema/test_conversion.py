"""Issue 8, "Compatibility with TLL's value conversion": fixed-point rounding, time values finer
than a field's resolution, YAML timestamps kept exact, element options of aliased lists in
`dump()`, and time points outside datetime's range."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import tllschema
from streamproto.cli.cli import main
from streamproto.config import load_processor_object
from tllschema import codec, yamlload
from tllschema.values import Duration, TimePoint

SCHEME = """yamls://
- name: M
  id: 1
  fields:
    - {name: price, type: int64, options.type: fixed2}
    - {name: small, type: int8, options.type: fixed2}
    - {name: u, type: uint64, options.type: fixed4}
    - {name: ns, type: int64, options.type: time_point, options.resolution: ns}
    - {name: us, type: int64, options.type: time_point, options.resolution: us}
    - {name: ms, type: int64, options.type: time_point, options.resolution: ms}
    - {name: s, type: int32, options.type: time_point, options.resolution: s}
    - {name: dms, type: int32, options.type: duration, options.resolution: ms}
    - {name: dns, type: int64, options.type: duration, options.resolution: ns}
    - {name: fts, type: double, options.type: time_point, options.resolution: s}
"""


@pytest.fixture(scope="module")
def msg() -> tllschema.Message:
    return tllschema.load(SCHEME).message("M")


def both(msg: tllschema.Message, **fields) -> tllschema.Record:
    """Encode with both codecs (they must agree), decode with the fast path."""
    fast = msg.encode(fields)
    assert codec.encode(msg, fields) == fast
    return msg.decode(fast)


# -- fixed point ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value,want", [
    (Decimal("4.5560"), "4.56"), (Decimal("4.555"), "4.56"), (Decimal("4.545"), "4.54"),
    (Decimal("-4.555"), "-4.56"), (Decimal("-4.545"), "-4.54"), (Decimal("0.005"), "0.00"),
    (Decimal("0.015"), "0.02"), (Decimal("4.5450000000000000000000000000000000001"), "4.55"),
    ("4.555", "4.56"), ("4.545", "4.54"), ("-4.545", "-4.54"), ("4.54500001", "4.55"), ("1e-3", "0.00"),
    (4.555, "4.56"), (4.545, "4.54"),  # a float is its shortest repr: the decimal that was written
    (Decimal("97.21") * 45 * Decimal("0.01"), "43.74"),  # the tutorial's price * count * 0.01
])
def test_fixed_point_rounds_half_even(msg, value, want):
    assert str(both(msg, price=value).price) == want


def test_fixed_point_overflow_names_field_and_value(msg):
    for value, text in ((Decimal("1.28"), "1.28"), ("1e30", "1e30"), (Decimal("1E+999999"), "1E+999999")):
        for encode in (msg.encode, lambda v: codec.encode(msg, v)):
            with pytest.raises(tllschema.EncodeError) as e:
                encode({"small": value})
            assert str(e.value) == f"M.small: {text} does not fit int8 (fixed2)"
    assert str(both(msg, small="1.274").small) == "1.27"  # rounds into range
    with pytest.raises(tllschema.EncodeError, match=r"M.u: -1 does not fit uint64 \(fixed4\)"):
        msg.encode(u=-1)


# -- time values finer than the resolution: truncated toward zero ---------------------------------
@pytest.mark.parametrize("field,value,raw", [
    ("us", "2024-04-24T11:04:05.123456789", 1713956645123456),
    ("ms", "2024-04-24T11:04:05.123999Z", 1713956645123),
    ("s", "1969-12-31T23:59:59.5Z", 0),  # -0.5 s: toward zero, as TLL's int() and C++ division
    ("ms", Decimal("1.5"), 1), ("ms", Decimal("-1.5"), -1), ("ms", 2.9, 2), ("ms", -2.9, -2),
    ("ms", TimePoint(1999999, "ns"), 1), ("ms", TimePoint(-1999999, "ns"), -1),
    ("ms", dt.datetime(2024, 4, 24, 11, 4, 5, 123999), 1713956645123),
    ("dms", "1.9ms", 1), ("dms", "-1.9ms", -1), ("dms", "1500us", 1), ("dms", Duration(2500, "us"), 2),
    ("dms", dt.timedelta(microseconds=2999), 2), ("dns", "1.5ns", 1),
])
def test_time_values_finer_than_the_resolution_are_truncated(msg, field, value, raw):
    assert both(msg, **{field: value})[field].value == raw


def test_time_values_that_are_not_counts_are_refused(msg):
    for field, value, reason in (("ms", float("nan"), "nan is not a finite count"),
                                 ("ms", Decimal("Infinity"), "Infinity is not a finite count"),
                                 ("ms", Decimal("1E+30"), "1000000000000000000000000000000 does not fit int64"),
                                 ("ms", Decimal("1E+99"), "1E+99 is out of range"),
                                 ("dms", TimePoint(1, "s"), "expected a Duration, got TimePoint"),
                                 ("ms", "2024-02-30T00:00:00", "day 30 is not in 2024-02")):
        for encode in (msg.encode, lambda v: codec.encode(msg, v)):
            with pytest.raises(tllschema.EncodeError, match=f"M.{field}: ") as e:
                encode({field: value})
            assert reason in str(e.value)


# -- YAML timestamps stay exact ---------------------------------------------------------------------
@pytest.mark.parametrize("text", ["2024-04-24T11:04:05.123456789", "2024-04-24 11:04:05.123456789",
                                  "2024-04-24T11:04:05.123456789Z", "2024-04-24 13:04:05.123456789+02:00"])
def test_yaml_timestamps_are_read_exactly(msg, text):
    doc = yamlload.load(f"ns: {text}\n")
    assert doc == {"ns": text}  # left as text, for the codec to parse
    assert both(msg, **doc).ns.value == 1713956645123456789  # no zone: UTC, as TLL reads it


def test_yaml_loader_types_only_what_tll_would_agree_on():
    doc = yamlload.load("a: 010\nb: 0x1F\nc: 1.5\nd: yes\ne: true\nf: 12:30\ng: 1_000\nh: ~\ni: 1E+10\n"
                        "j: !!binary aGk=\nk: !!timestamp 2024-01-01 00:00:00.5\nl: {<<: {x: 1}, y: 2}\n")
    assert doc == {"a": 10, "b": 31, "c": 1.5, "d": "yes", "e": True, "f": "12:30", "g": "1_000", "h": None,
                   "i": "1E+10", "j": b"hi", "k": "2024-01-01 00:00:00.5", "l": {"x": 1, "y": 2}}


def test_cli_encode_keeps_yaml_timestamps_exact():
    r = CliRunner().invoke(main, ["schema", "encode", SCHEME, "M", "{ns: 2024-04-24 11:04:05.123456789}"])
    assert r.exit_code == 0, r.output
    body = bytes.fromhex(r.output.strip())
    assert tllschema.load(SCHEME).message("M").decode(body).ns.value == 1713956645123456789


def test_processor_config_keeps_timestamps_and_tll_integers(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("processor.objects:\n  s:\n    init: tcp://./s.sock\n"
                    "    open: {time: 2024-04-24T11:04:05.123456789, seq: 010}\n")
    _, params = load_processor_object(str(path), "s")
    # open parameters stay the text written, as in TLL's config; 010 is ten when read as an int
    assert params == {"seq": "010", "time": "2024-04-24T11:04:05.123456789"}
    from streamproto.config import parse_int
    assert parse_int(params["seq"], "seq") == 10


# -- dump: element options of an alias of a list of an alias -----------------------------------------
ALIASES = """yamls://
- name: ''
  aliases:
    - {name: license, type: byte32, options.type: string}
    - {name: license_list, type: '*license'}
    - {name: license_lists, type: '*license_list'}
    - {name: license_array, type: 'license[4]'}
    - {name: short_list, type: '*license', list-options.offset-ptr-type: legacy-short, options.x: y}
- name: M
  id: 1
  fields:
    - {name: f0, type: license}
    - {name: f1, type: license_list}
    - {name: f2, type: '*license'}
    - {name: f3, type: license_lists}
    - {name: f4, type: license_array}
    - {name: f5, type: '*license_list'}
    - {name: f6, type: short_list, options.z: w}
"""


def test_dump_keeps_element_options_of_aliased_lists():
    """The reference's rule (src/scheme.cc, dump_options): the outermost list/array wrapper's
    options are `list-options`, the innermost element's are `options`, whatever the nesting."""
    text = tllschema.load(ALIASES).dump()
    fields = [line.strip() for line in text.splitlines() if line.strip().startswith("- {name: 'f")]
    assert fields == [
        "- {name: 'f0', type: 'byte32', options: {'type': 'string'}}",
        "- {name: 'f1', type: '*byte32', options: {'type': 'string'}}",
        "- {name: 'f2', type: '*byte32', options: {'type': 'string'}}",
        "- {name: 'f3', type: '**byte32', options: {'type': 'string'}}",
        "- {name: 'f4', type: 'byte32[4]', options: {'type': 'string'}}",
        "- {name: 'f5', type: '**byte32', options: {'type': 'string'}}",
        "- {name: 'f6', type: '*byte32', list-options: {'offset-ptr-type': 'legacy-short'}, "
        "options: {'type': 'string', 'x': 'y', 'z': 'w'}}",
    ]


def test_dump_round_trip_keeps_the_string_sub_type():
    scheme = tllschema.load(ALIASES)
    again = tllschema.load(scheme.dump("yamls+gz"))  # as a storage file embeds it
    assert again.dump() == scheme.dump()
    m = again.message("M")
    rec = m.decode(m.encode(f1=["GPL", "MIT"], f3=[["BSD"]], f4=["X"]))
    assert rec.f1 == ["GPL", "MIT"] and rec.f3 == [["BSD"]] and rec.f4 == ["X"]  # text, not bytes


def test_alias_of_a_list_of_messages_refers_to_the_message():
    """Was a KeyError traceback: the alias held a private copy of the message."""
    scheme = tllschema.load("yamls://- name: Sub\n  fields: [{name: a, type: int8}]\n"
                            "- name: ''\n  aliases: [{name: subs, type: '*Sub'}]\n"
                            "- name: M\n  fields: [{name: l, type: subs}]\n")
    m = scheme.message("M")
    assert m.fields[0].type.elem.message is scheme.message("Sub")
    assert m.decode(m.encode(l=[{"a": 1}, {"a": 2}])).l == [{"a": 1}, {"a": 2}]
    assert "{name: 'l', type: '*Sub'}" in scheme.dump()


# -- time points outside datetime's range ------------------------------------------------------------
@pytest.mark.parametrize("value,res,text", [
    (253402300800, "s", "+10000-01-01T00:00:00Z"),
    (-62135596801, "s", "0000-12-31T23:59:59Z"),
    (-62167219201, "s", "-0001-12-31T23:59:59Z"),
    (2 ** 63 - 1, "ms", "+292278994-08-17T07:12:55.807Z"),
    (-(2 ** 63), "us", "-290308-12-21T19:59:05.224192Z"),
    (10 ** 6, "d", "4707-11-29T00:00:00Z"),
    (float("nan"), "s", "nan"), (float("-inf"), "ms", "-inf"),
])
def test_isoformat_has_no_range_limit(value, res, text):
    tp = TimePoint(value, res)
    assert tp.isoformat() == text == str(tp)
    if isinstance(value, int):
        assert TimePoint.parse(text, res).value == value


@settings(max_examples=300, deadline=5000)
@given(ns=st.integers(-(2 ** 90), 2 ** 90))
def test_isoformat_and_parse_are_inverse(ns):
    assert TimePoint.parse(TimePoint(ns, "ns").isoformat()).value == ns


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@settings(max_examples=300, deadline=5000)
@given(us=st.integers(-62135596800 * 10 ** 6, 253402300799 * 10 ** 6 + 999999))
def test_isoformat_agrees_with_datetime_in_its_range(us):
    d = _EPOCH + dt.timedelta(microseconds=us)
    want = f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}.{d.microsecond:06d}Z"
    assert TimePoint(us, "us").isoformat() == want


def test_datetime_outside_its_range_names_the_value():
    with pytest.raises(OverflowError, match=r"TimePoint\(253402300800, 's'\) is outside the range of datetime"):
        TimePoint(253402300800, "s").datetime


def test_cli_decodes_a_time_point_outside_datetime():
    msg = tllschema.load(SCHEME).message("M")
    body = msg.encode(ms=2 ** 63 - 1).hex()
    r = CliRunner().invoke(main, ["schema", "decode", SCHEME, "M", body])
    assert r.exit_code == 0, r.output
    assert "+292278994-08-17T07:12:55.807Z" in r.output
    assert msg.decode(msg.encode(ms="+292278994-08-17T07:12:55.807Z")).ms.value == 2 ** 63 - 1


def test_a_field_named_value_can_be_given_by_keyword():
    """`Message.encode(value=...)` sets the field `value`, not the positional mapping."""
    msg = tllschema.load("yamls://[{name: M, id: 1, fields: [{name: value, type: int32}]}]").message("M")
    assert msg.encode(value=7) == (7).to_bytes(4, "little")
    assert msg.new(value=7).value == 7
    from tllschema import codec
    assert codec.encode(msg, value=7) == (7).to_bytes(4, "little")
