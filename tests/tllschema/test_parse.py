"""Scheme parsing: layout, config-tree rules, scopes, aliases, imports, logical types."""
from __future__ import annotations

import pytest

import tllschema
from tllschema.model import Array, Bytes, MessageRef, Pointer, SubType, UnionRef
from tests.tllschema.golden_vectors import golden_scheme


def load_text(text: str) -> tllschema.Scheme:
    return tllschema.load("yamls://" + text)


def test_alltypes_layout(golden):
    s = golden_scheme("alltypes.yaml")
    assert [m.name for m in s.messages] == ["Sub", "Big", "Scalars", "Bytes", "Arrays", "Pointers", "Unions", "Logical", "Nested"]
    arrays = s.message("Arrays")
    a_i32, a_sub = arrays.fields
    assert isinstance(a_i32.type, Array) and a_i32.type.count_type == "int8" and a_i32.size == 17
    assert a_sub.type.count_type == "int16" and a_sub.offset == 17 and a_sub.size == 2 + 2 * 12
    p = s.message("Pointers")
    assert [(f.name, f.offset) for f in p.fields] == [("p_i16", 0), ("p_str", 8), ("p_sub", 16), ("pp", 24), ("big", 32)]
    assert isinstance(p.field("pp").type.elem, Pointer) and isinstance(p.field("big").type.elem, MessageRef)
    u = s.message("Unions").field("v").type
    assert isinstance(u, UnionRef) and u.union.union_size == 12 and u.size == 13
    lic = s.message("Bytes").field("lic").type
    assert isinstance(lic, Bytes) and lic.n == 16 and lic.string


def test_logical_types(golden):
    logical = golden_scheme("alltypes.yaml").message("Logical")
    t = {f.name: f.type for f in logical.fields}
    assert t["side"].sub is SubType.ENUM and t["side"].enum.name == "Side"
    assert t["inl"].enum.inline and t["inl"].enum.values == {"X": 10, "Y": 20}
    assert [(b.name, b.offset, b.size) for b in t["flags"].bits.bits] == [("a", 0, 1), ("b", 2, 3), ("c", 5, 1)]
    assert t["price"].precision == 3 and t["qty"].precision == 2
    assert t["ts_us"].resolution == "us" and t["ts_d"].name == "double"
    assert t["dur_ms"].sub is SubType.DURATION and t["dur_ms"].resolution == "ms"


def test_dotted_and_nested_option_forms_are_equal():
    a = load_text("- name: M\n  fields:\n    - {name: t, type: int64, options.type: time_point, options.resolution: us}\n")
    b = load_text("- name: M\n  fields:\n    - {name: t, type: int64, options: {type: time_point, resolution: us}}\n")
    c = load_text("- name: M\n  fields:\n    - {name: t, type: int64, options.type: time_point, options: {resolution: us}}\n")
    assert a.dump() == b.dump() == c.dump()
    assert a.messages[0].fields[0].type.resolution == "us"


@pytest.mark.parametrize("spelling, canonical", [
    ("ns", "ns"), ("nanosecond", "ns"), ("us", "us"), ("microsecond", "us"), ("ms", "ms"), ("millisecond", "ms"),
    ("s", "s"), ("second", "s"), ("m", "m"), ("minute", "m"), ("h", "h"), ("hour", "h"), ("d", "d"), ("day", "d"),
])
def test_every_resolution_name(spelling, canonical):
    s = load_text(f"- name: M\n  fields:\n    - {{name: t, type: int32, options.type: duration, options.resolution: {spelling}}}\n")
    f = s.messages[0].fields[0]
    assert f.type.resolution == canonical
    assert f.options["resolution"] == spelling  # kept as written, as the reference dumps it


def test_enum_values_sorted_by_name_and_hex_ids():
    s = load_text("- name: M\n  id: 0x10\n  enums:\n    E: {type: int16, enum: {Z: 5, A: 0x10, M: -1}}\n"
                  "  fields:\n    - {name: e, type: E}\n")
    m = s.message(16)
    assert list(m.enums["E"].values) == ["A", "M", "Z"] and m.enums["E"].values["A"] == 16
    assert m.decode(m.encode(e="M")).e.name == "M"


def test_local_type_shadows_global():
    s = load_text("- name: ''\n  enums:\n    E: {type: int8, enum: {A: 1}}\n"
                  "- name: M\n  enums:\n    E: {type: int32, enum: {B: 2}}\n  fields:\n    - {name: e, type: E}\n")
    assert s.message("M").size == 4


def test_alias_options_merge_and_wrappers():
    s = load_text("- name: ''\n  aliases:\n    - {name: lic, type: byte8, options.type: string}\n"
                  "    - {name: lics, type: '*lic'}\n    - {name: a3, type: 'int16[3]'}\n"
                  "- name: M\n  fields:\n    - {name: l, type: lic}\n    - {name: ls, type: lics}\n"
                  "    - {name: pa, type: '*a3'}\n")
    m = s.message("M")
    assert isinstance(m.field("l").type, Bytes) and m.field("l").type.string
    assert isinstance(m.field("ls").type, Pointer) and m.field("ls").type.elem.string
    pa = m.field("pa").type
    assert isinstance(pa, Pointer) and isinstance(pa.elem, Array) and pa.elem.capacity == 3
    body = m.encode(l="abc", ls=["x", "yz"], pa=[[1, 2], [3]])
    back = m.decode(body)
    assert back.l == "abc" and back.ls == ["x", "yz"] and back.pa == [[1, 2], [3]]


def test_imports_relative_and_options_first_writer_wins(tmp_path):
    (tmp_path / "base.yaml").write_text("- name: ''\n  options: {o: base, only_base: 1}\n"
                                        "  aliases:\n    - {name: px, type: int64, options.type: fixed2}\n"
                                        "- name: Base\n  id: 1\n  fields:\n    - {name: p, type: px}\n")
    (tmp_path / "top.yaml").write_text("- name: ''\n  options: {o: top}\n  import: ['yaml://./base.yaml']\n"
                                       "- name: Top\n  id: 2\n  fields:\n    - {name: b, type: Base}\n    - {name: q, type: px}\n")
    s = tllschema.load(str(tmp_path / "top.yaml"))
    assert [m.name for m in s.messages] == ["Base", "Top"]
    assert s.options == {"o": "top", "only_base": "1"}
    assert s.message("Top").decode(s.message("Top").encode(b={"p": "1.25"}, q=3)).b.p == tllschema_decimal("1.25")
    # the dump is self-contained: imports flattened, no import list
    again = tllschema.load(s.dump("yamls+gz"))
    assert [m.name for m in again.messages] == ["Base", "Top"] and "import" not in s.dump()


def tllschema_decimal(text):
    from decimal import Decimal
    return Decimal(text)


def test_top_level_mapping_is_read_in_key_order():
    s = load_text("b: {name: B, fields: [{name: a, type: A}]}\na: {name: A, fields: [{name: x, type: int8}]}\n")
    assert [m.name for m in s.messages] == ["A", "B"]


def test_inline_union_and_string_arrays():
    s = load_text("- name: M\n  fields:\n    - {name: u, type: union, union: [{name: i, type: int8}, {name: s, type: string}]}\n"
                  "    - {name: sa, type: 'string[2]'}\n")
    m = s.message("M")
    assert m.field("u").size == 9 and m.field("sa").size == 1 + 16
    rec = m.decode(m.encode(u=("s", "hi"), sa=["a", "b"]))
    assert rec.u == ("s", "hi") and rec.u.type == "s" and rec.sa == ["a", "b"]
    assert "union: [{name: 'i', type: 'int8'}, {name: 's', type: 'string'}]" in s.dump()


def test_legacy_pointer_versions_round_trip():
    s = load_text("- name: Big\n  fields:\n    - {name: b, type: byte300}\n"
                  "- name: M\n  fields:\n"
                  "    - {name: ls, type: '*int16', list-options.offset-ptr-type: legacy-short}\n"
                  "    - {name: ll, type: '*int16', list-options.offset-ptr-type: legacy-long}\n"
                  "    - {name: s, type: string, list-options.offset-ptr-type: legacy-short}\n"
                  "    - {name: big, type: '*Big', list-options.offset-ptr-type: legacy-long}\n")
    m = s.message("M")
    assert m.size == 24
    body = m.encode(ls=[1, 2], ll=[3], s="xy", big=[{"b": b"z"}])
    # fixed part of these values: the example in docs/scheme-format.md#pointer-layouts
    assert body[:24].hex() == "18000200" "1800000001000200" "12000300" "110000000100" "2c01"
    rec = m.decode(body)
    assert rec.ls == [1, 2] and rec.ll == [3] and rec.s == "xy" and rec.big[0].b[:1] == b"z"
    assert tllschema.load(s.dump()).dump() == s.dump()


def test_spec_worked_example_tail_order():
    s = load_text("- name: Msg\n  id: 10\n  fields:\n    - {name: a, type: int32}\n    - {name: s, type: string}\n"
                  "    - {name: l, type: '*int16'}\n")
    m = s.message("Msg")
    assert m.encode(a=1, s="abc", l=[1, 2]).hex() == "0100000010000000040000010c0000000200000261626300" "01000200"
    # the C++ encoder's order (l before s) decodes the same: decoders follow offsets
    cpp = bytes.fromhex("01000000140000000400000108000000020000020100020061626300")
    assert m.decode(cpp) == m.decode(m.encode(a=1, s="abc", l=[1, 2]))
    assert m.encode(a=1).hex() == "01000000" "0000000000000000" "0800000000000002"
    assert m.encode(a=1, s="", l=[]).hex() == "01000000" "1000000001000001" "0900000000000002" "00"


def test_spec_nested_pointers_example():
    s = load_text("- name: sub\n  fields:\n    - {name: s0, type: int32}\n"
                  "- name: msg\n  fields:\n    - {name: f0, type: sub}\n    - {name: f1, type: 'sub[2]'}\n"
                  "    - {name: f2, type: '*sub'}\n    - {name: f3, type: '**sub'}\n")
    m = s.message("msg")
    assert m.size == 29 and [f.offset for f in m.fields] == [0, 4, 13, 21]
    body = m.encode(f0={"s0": 10}, f1=[{"s0": 20}, {"s0": 30}], f2=[{"s0": 40}, {"s0": 50}],
                    f3=[[{"s0": 60}], [], [{"s0": 70}, {"s0": 80}]])
    assert body.hex() == (
        "0a00000002140000" "001e000000100000" "0002000004100000" "0003000008280000"
        "0032000000180000" "0001000004140000" "0000000004" "0c0000" "0002000004" "3c0000" "00460000" "0050000000")
    assert tllschema.plain(m.decode(body), raw=True)["f3"] == [[{"s0": 60}], [], [{"s0": 70}, {"s0": 80}]]


def test_spec_large_element_example():
    s = load_text("- name: Item\n  fields:\n    - {name: body, type: byte266, options.type: string}\n"
                  "- name: Data\n  fields:\n    - {name: list, type: '*Item'}\n")
    m = s.message("Data")
    body = m.encode(list=[{"body": "0"}, {"body": "1"}])
    assert len(body) == 544 and body[:14].hex() == "08000000020000ff0a0100003000"
    assert m.encode(list=[]).hex() == "08000000000000ff0a010000"
    assert [i.body for i in m.decode(body).list] == ["0", "1"]


def test_presence_map_and_optional_fields():
    s = load_text("- name: M\n  options.defaults.optional: yes\n  fields:\n    - {name: f0, type: int32}\n"
                  "    - {name: f1, type: string}\n    - {name: pmap, type: uint8, options.pmap: yes}\n"
                  "    - {name: f2, type: int64, options.type: fixed2}\n    - {name: f3, type: int8, options.optional: no}\n")
    m = s.message("M")
    assert [(f.name, f.index) for f in m.fields] == [("f0", 0), ("f1", 1), ("pmap", -1), ("f2", 2), ("f3", -1)]
    body = m.encode(f0=5, f2="1.5")
    assert body[12] == 0b101  # bits of f0 and f2
    rec = m.decode(body)
    assert rec.f0 == 5 and rec.f1 is None and str(rec.f2) == "1.50" and rec.f3 == 0
    assert "pmap" not in rec.FIELDS
    body = m.encode(f1="x")
    assert body[12] == 0b010 and m.decode(body).f1 == "x" and m.decode(body).f0 is None
    assert m.encode(m.decode(body)) == body
    with pytest.raises(tllschema.ParseError, match="duplicate pmap"):
        load_text("- name: M\n  fields:\n    - {name: a, type: uint8, options.pmap: yes}\n"
                  "    - {name: b, type: uint8, options.pmap: yes}\n")


def test_message_without_fields():
    s = load_text("- name: Empty\n  id: 10\n- name: Holder\n  fields:\n    - {name: e, type: Empty}\n    - {name: x, type: int8}\n")
    e = s.message("Empty")
    assert e.size == 0 and e.encode() == b"" and e.decode(b"").FIELDS == ()
    assert s.message("Holder").encode(x=1) == b"\x01"


def test_pointer_to_int8_with_string_sub_type_is_a_string():
    """As the reference parses it (src/scheme.cc, parse_sub_type and finalize): the innermost
    pointer of `*int8` with `options.type: string` is the string itself, like `string`."""
    def message(t: str) -> tllschema.Message:
        return tllschema.load(f"yamls://[{{name: M, id: 1, fields: [{t}]}}]").message("M")
    ptr = message("{name: a, type: '*int8', options.type: string}")
    assert ptr.encode(a="xy") == message("{name: a, type: string}").encode(a="xy")
    assert ptr.decode(ptr.encode(a="xy")).a == "xy"
    lst = message("{name: c, type: '**int8', options.type: string}")
    assert lst.encode(c=["xy", "z"]) == message("{name: c, type: '*string'}").encode(c=["xy", "z"])
    with pytest.raises(tllschema.ParseError, match="pointer"):
        tllschema.load("yamls://[{name: M, id: 1, fields: [{name: a, type: 'int8[4]', options.type: string}]}]")
