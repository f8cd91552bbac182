"""Bad schemes and bad values end in tllschema's own errors naming where the problem is."""
from __future__ import annotations

import pytest

import tllschema
from tests.tllschema.golden_vectors import golden_scheme


def load_text(text: str) -> tllschema.Scheme:
    return tllschema.load("yamls://" + text)


@pytest.mark.parametrize("text, expected", [
    ("- name: M\n  fields:\n    - {name: a, type: foo}\n", "message M: field a: message or enum 'foo' not found"),
    ("- name: M\n  fields:\n    - {name: a, type: int8}\n    - {name: a, type: int8}\n", "duplicate field name a"),
    ("- name: M\n- name: M\n", "duplicate message 'M'"),
    ("- name: M\n  fields:\n    - {name: a, type: 'int8[3][2]'}\n", "nested arrays are not supported"),
    ("- name: M\n  fields:\n    - {name: a, type: 'int8[x]'}\n", "invalid array size 'x'"),
    ("- name: M\n  fields:\n    - {name: a, type: int64, options.type: time_point}\n", "missing resolution"),
    ("- name: M\n  fields:\n    - {name: a, type: int64, options.type: duration, options.resolution: week}\n",
     "unknown resolution 'week'"),
    ("- name: M\n  enums:\n    E: {type: int8, enum: {A: 300}}\n", "value A=300 does not fit int8"),
    ("- name: M\n  fields:\n    - {name: a, type: N}\n- name: N\n", "message or enum 'N' not found"),
    ("- name: M\n  fields:\n    - {name: a, type: int8, options.x: 1, options: {x: 2}}\n", "duplicate entry"),
    ("- name: M\n  fields: [\n", "invalid YAML"),
    ("- name: M\n  fields:\n    - {name: a, type: bytes}\n", "invalid bytes count"),
    ("- name: ''\n- name: ''\n", "duplicate meta block"),
    ("- name: M\n  fields:\n    - {name: a}\n", "type not found"),
    ("- name: M\n  fields:\n    - {name: a, type: double, options.type: enum, enum: {A: 1}}\n", "invalid type double"),
    ("- name: M\n  fields:\n    - {name: a, type: int8, options.type: string}\n", "needs a pointer"),
    ("- name: M\n  fields:\n    - {name: a, type: '*int8', list-options.offset-ptr-type: huge}\n", "unknown offset-ptr-type"),
    ("- name: M\n  fields:\n    - {name: a, type: 'int8[4]', list-options.count-type: float}\n", "invalid option count-type"),
    ("- name: M\n  id: 0x1zz\n", "invalid integer"),
])
def test_bad_scheme_is_a_parse_error(text, expected):
    with pytest.raises(tllschema.ParseError) as e:
        load_text(text)
    assert expected in str(e.value)


def test_unknown_url_and_missing_file(tmp_path):
    with pytest.raises(tllschema.ParseError, match="unsupported scheme URL"):
        tllschema.load("http://example/x.yaml")
    with pytest.raises(tllschema.ParseError, match="missing.yaml: No such file"):
        tllschema.load(f"yaml://{tmp_path}/missing.yaml")
    with pytest.raises(tllschema.ParseError, match="invalid base64"):
        tllschema.load("yamls+gz://@@@")
    with pytest.raises(tllschema.ParseError, match="invalid compressed data"):
        tllschema.load("yamls+gz://AAAA")


@pytest.mark.parametrize("message, value, expected", [
    ("Nested", {"items": [{}, {"p_sub": [{"name": 5}]}]}, "Nested.items[1].p_sub[0].name: expected a string, got int"),
    ("Nested", {"logical": {"side": "Foo"}}, "Nested.logical.side: unknown Side name 'Foo'"),
    ("Nested", {"logical": {"price": "1e30"}}, "Nested.logical.price: 1e30 does not fit int64 (fixed3)"),
    ("Nested", {"header": {"s0": 2 ** 40}}, "Nested.header.s0: 1099511627776 does not fit int32"),
    ("Nested", {"logical": {"qty": "1.2.3"}}, "Nested.logical.qty: invalid decimal '1.2.3' (fixed2)"),
    ("Nested", {"bogus": 1}, "Nested: no field 'bogus'"),
    ("Bytes", {"text": "x" * 17}, "Bytes.text: 17 bytes do not fit byte16"),
    ("Scalars", {"u8": -1}, "Scalars.u8: -1 does not fit uint8"),
    ("Scalars", {"i64": "12"}, "Scalars.i64: expected an integer"),
    ("Scalars", {"dec": "1e7000"}, "Scalars.dec: '1e7000' does not fit decimal128"),
    ("Arrays", {"a_i32": [1, 2, 3, 4, 5]}, "Arrays.a_i32: 5 elements do not fit an array of 4"),
    ("Unions", {"v": {"zz": 1}}, "Unions.v: unknown union member 'zz'"),
    ("Logical", {"flags": {"q": True}}, "Logical.flags: Flags has no bit 'q'"),
    ("Logical", {"ts_us": "2024-02-30T00:00:00Z"}, "Logical.ts_us: invalid time point '2024-02-30T00:00:00Z': day 30 is not in 2024-02"),
    ("Logical", {"ts_us": float("nan")}, "Logical.ts_us: nan is not a finite count"),
])
def test_bad_value_is_an_encode_error(golden, message, value, expected):
    msg = golden_scheme("alltypes.yaml").message(message)
    with pytest.raises(tllschema.EncodeError) as e:
        msg.encode(value)
    assert expected in str(e.value)


def test_truncated_and_out_of_bounds_bodies(golden):
    nested = golden_scheme("alltypes.yaml").message("Nested")
    good = nested.encode({"items": [{}, {"p_sub": [{"name": "deep"}]}]})
    with pytest.raises(tllschema.DecodeError, match=r"Nested: truncated: 10 bytes, the fixed part needs 78 \(at byte offset 0\)"):
        nested.decode(good[:10])
    for cut in range(nested.size, len(good)):
        with pytest.raises(tllschema.DecodeError, match=r"Nested\.items"):
            nested.decode(good[:cut])
    bad = bytearray(good)
    bad[nested.size + 5 * 8 + 2] = 0x7F  # count of items[1].p_i16 far past the end
    with pytest.raises(tllschema.DecodeError, match=r"Nested\.items\[1\]\.p_i16: .*\(at byte offset \d+\)"):
        nested.decode(bytes(bad))


def test_invalid_union_tag_and_array_count(golden):
    s = golden_scheme("alltypes.yaml")
    with pytest.raises(tllschema.DecodeError, match=r"Unions\.v: union tag 9 is not one of 0\.\.3 \(at byte offset 0\)"):
        s.message("Unions").decode(bytes([9]) + bytes(20))
    with pytest.raises(tllschema.DecodeError, match=r"Arrays\.a_i32: array count 5 is outside 0\.\.4"):
        s.message("Arrays").decode(bytes([5]) + bytes(42))


def test_huge_count_does_not_allocate(golden):
    pointers = golden_scheme("alltypes.yaml").message("Pointers")
    body = bytearray(pointers.encode({}))
    body[0:8] = (8).to_bytes(4, "little") + (0xFFFFFF).to_bytes(3, "little") + b"\x02"
    with pytest.raises(tllschema.DecodeError, match="runs past the end"):
        pointers.decode(bytes(body))


def test_errors_share_one_root():
    assert issubclass(tllschema.ParseError, tllschema.SchemeError)
    assert issubclass(tllschema.EncodeError, tllschema.SchemeError)
    assert issubclass(tllschema.DecodeError, tllschema.SchemeError)


def test_aliased_lists_cannot_blow_up_decoding():
    """Every pointer of a forged `**int8` aims at one large block: decoding stops at the element
    budget (a few elements per byte) instead of producing n_outer x n_inner = 64M elements."""
    import struct

    from tllschema import codec

    m = tllschema.load("yamls://- name: M\n  fields:\n    - {name: ll, type: '**int8'}\n").message("M")
    n_outer, n_inner = 4000, 16000
    inner_at = 8 + n_outer * 8  # the shared block of int8 elements, after the outer element block
    body = bytearray(struct.pack("<IHBB", 8, n_outer & 0xFFFF, n_outer >> 16, 8))
    for i in range(n_outer):
        pos = 8 + i * 8
        off = inner_at - pos
        body += struct.pack("<IHBB", off, n_inner & 0xFFFF, n_inner >> 16, 1)
    body += bytes(n_inner)  # 48 kB of data that would decode to 6.4e7 elements
    for decode in (m.decode, lambda b: codec.decode(m, b)):
        with pytest.raises(tllschema.DecodeError, match="far more elements than its size allows"):
            decode(bytes(body))
    ok = m.encode(ll=[[1, 2], [], [3]])
    assert m.decode(ok).ll == [[1, 2], [], [3]] == codec.decode(m, ok).ll
