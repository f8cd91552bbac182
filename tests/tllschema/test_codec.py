"""The construct reference codec (tllschema.codec): golden vectors, layout, errors.

The last section holds tests of bugs found in the fast path (compile.py/runtime.py/values.py);
they fail until the fast path is fixed.
"""
from __future__ import annotations

import struct
import time
from decimal import Decimal

import construct
import pytest

import tllschema
from tests.tllschema.golden_vectors import case_id, golden_scheme, load_vectors
from tllschema import Duration, TimePoint, codec

VECTORS = load_vectors()
SPEC_35 = """yamls://
- name: Msg
  id: 10
  fields:
    - {name: a, type: int32}
    - {name: s, type: string}
    - {name: l, type: '*int16'}
"""


def alltypes(name: str) -> tllschema.Message:
    return golden_scheme("alltypes.yaml").message(name)


@pytest.mark.parametrize("case", VECTORS, ids=[case_id(c) for c in VECTORS])
def test_vector_encodes_to_reference_hex(case):
    msg = golden_scheme(case["scheme"]).message(case["message"])
    assert codec.encode(msg, case["input"]).hex() == case["hex"]


@pytest.mark.parametrize("case", VECTORS, ids=[case_id(c) for c in VECTORS])
def test_vector_decodes_to_reference_fields(case):
    msg = golden_scheme(case["scheme"]).message(case["message"])
    rec = codec.decode(msg, bytes.fromhex(case["hex"]))
    assert isinstance(rec, tllschema.Record) and rec.NAME == msg.name  # its own record class (issue 9)
    assert tllschema.plain(rec, raw=True) == case["fields"]
    assert rec == msg.decode(bytes.fromhex(case["hex"]))
    assert codec.encode(msg, rec).hex() == case["hex"]


def test_codec_is_a_cached_construct_of_the_fixed_size():
    msg = alltypes("Nested")
    c = codec.codec_for(msg)
    assert isinstance(c, construct.Construct) and codec.codec_for(msg) is c
    assert c.sizeof() == msg.size == 78


def test_spec_worked_example_and_unset_vs_empty():
    msg = tllschema.load(SPEC_35).message("Msg")
    assert codec.encode(msg, a=1, s="abc", l=[1, 2]).hex() == "0100000010000000040000010c0000000200000261626300" "01000200"
    assert codec.encode(msg, {"s": "", "l": []}).hex() == "00000000100000000100000109000000000000020" "0"
    unset = codec.encode(msg, {})
    assert unset.hex() == "00000000" "0000000000000000" "0800000000000002"
    assert codec.decode(msg, unset).s is None and codec.decode(msg, bytes.fromhex("00000000100000000100000109000000000000020" "0")).s == ""


def test_logical_values_are_typed_and_exact():
    msg = alltypes("Logical")
    case = next(c for c in VECTORS if c["message"] == "Logical")
    rec = codec.decode(msg, bytes.fromhex(case["hex"]))
    assert rec.side.name == "Sell" and rec.qty == Decimal("-1.50") and str(rec.qty) == "-1.50"
    assert rec.ts_ns == TimePoint(1725890781038702405, "ns") and rec.ts_ns.isoformat() == "2024-09-09T14:06:21.038702405Z"
    assert rec.dur_ms == Duration(1500, "ms") and rec.flags.get("b") == 5


def test_unknown_enum_value_decodes_as_int():
    msg = alltypes("Logical")
    body = bytearray(msg.size)
    body[0] = 7  # Side has 1 and 2 only
    assert codec.decode(msg, bytes(body)).side == 7 and not hasattr(codec.decode(msg, bytes(body)).side, "name")


def test_encode_accepts_time_objects_exactly():
    msg = alltypes("Logical")
    body = codec.encode(msg, ts_ns="2024-09-09T14:06:21.038702405Z", ts_us=TimePoint(1725890781038702405 // 1000, "us"),
                        ts_d=TimePoint(1e-12, "s"), dur_ms=Duration(1.5, "s"), dur_d="250ms")
    rec = codec.decode(msg, body)
    assert rec.ts_ns.value == 1725890781038702405 and rec.ts_us.value == 1725890781038702
    assert rec.ts_d.value == 1e-12 and rec.dur_ms.value == 1500 and rec.dur_d.value == 0.25


@pytest.mark.parametrize("value,path,reason", [
    ({"items": [{}, {"p_sub": [{"s0": 1, "name": 5}]}]}, "items[1].p_sub[0].name", "expected a string"),
    ({"logical": {"side": "Foo"}}, "logical.side", "unknown Side name 'Foo'"),
    ({"logical": {"inl": 70000}}, "logical.inl", "70000 does not fit int16"),
    ({"logical": {"price": "1e30"}}, "logical.price", "1e30 does not fit int64 (fixed3)"),
    ({"logical": {"ts_s": "2024-02-30T00:00:00Z"}}, "logical.ts_s", "day 30 is not in 2024-02"),
    ({"header": 5}, "header", "expected Sub as a mapping"),
    ({"items": 3}, "items", "expected a list"),
    ({"bogus": 1}, "", "no field 'bogus'"),
])
def test_encode_errors_name_message_and_path(value, path, reason):
    with pytest.raises(tllschema.EncodeError) as err:
        codec.encode(alltypes("Nested"), value)
    assert err.value.message == "Nested" and err.value.path == path and reason in err.value.reason


def test_encode_range_and_shape_errors():
    with pytest.raises(tllschema.EncodeError, match=r"Scalars\.u8: 256 does not fit uint8"):
        codec.encode(alltypes("Scalars"), u8=256)
    with pytest.raises(tllschema.EncodeError, match=r"Scalars\.i8: expected an integer, got str '1'"):
        codec.encode(alltypes("Scalars"), i8="1")
    # a bool is the integer it is, in both codecs (TLL's binding takes it too)
    assert codec.encode(alltypes("Scalars"), i8=True) == alltypes("Scalars").encode(i8=True) == \
        alltypes("Scalars").encode(i8=1)
    with pytest.raises(tllschema.EncodeError, match=r"Bytes\.raw: 9 bytes do not fit byte8"):
        codec.encode(alltypes("Bytes"), raw=b"123456789")
    with pytest.raises(tllschema.EncodeError, match=r"Arrays\.a_i32: 5 elements do not fit an array of 4"):
        codec.encode(alltypes("Arrays"), a_i32=[1, 2, 3, 4, 5])
    with pytest.raises(tllschema.EncodeError, match=r"Unions\.v: unknown union member 'x'"):
        codec.encode(alltypes("Unions"), v={"x": 1})
    with pytest.raises(tllschema.EncodeError, match=r"Unions\.lv\[1\]\.sub\.s0"):
        codec.encode(alltypes("Unions"), lv=[{"i": 1}, {"sub": {"s0": "x"}}])


NESTED = next(c for c in VECTORS if c["message"] == "Nested")["hex"] if VECTORS else ""


@pytest.mark.parametrize("mutate,path,offset,reason", [
    (lambda b: b[:10], "", 0, "truncated"),
    (lambda b: b[:150], "items", 70, "runs past the end"),
    (lambda b: b[:190], "items[1].p_sub", 139, "runs past the end"),
    (lambda b: b[:199], "items[1].big", 155, "element size header outside"),
])
def test_decode_errors_name_path_and_offset(mutate, path, offset, reason):
    msg = alltypes("Nested")
    with pytest.raises(tllschema.DecodeError) as err:
        codec.decode(msg, mutate(bytes.fromhex(NESTED)))
    e = err.value
    assert (e.message, e.path, e.offset) == ("Nested", path, offset) and reason in e.reason
    with pytest.raises(tllschema.DecodeError) as fast:
        msg.decode(mutate(bytes.fromhex(NESTED)))
    assert (fast.value.path, fast.value.offset) == (path, offset)


def test_decode_rejects_bad_tag_count_and_utf8():
    unions = alltypes("Unions")
    body = bytearray(unions.encode({"v": {"i": 1}}))
    body[0] = 4
    with pytest.raises(tllschema.DecodeError, match=r"Unions\.v: union tag 4 is not one of 0\.\.3 \(at byte offset 0\)"):
        codec.decode(unions, bytes(body))
    body[0] = 0xFF
    with pytest.raises(tllschema.DecodeError, match="union tag -1"):
        codec.decode(unions, bytes(body))
    arrays = alltypes("Arrays")
    body = bytearray(arrays.size)
    body[0] = 5
    with pytest.raises(tllschema.DecodeError, match=r"Arrays\.a_i32: array count 5 is outside 0\.\.4"):
        codec.decode(arrays, bytes(body))
    sub = golden_scheme("alltypes.yaml").message("Sub")
    body = bytearray(sub.encode({"name": "ab"}))
    body[-3] = 0xFF
    with pytest.raises(tllschema.DecodeError, match=r"Sub\.name: string is not valid UTF-8.*offset 12"):
        codec.decode(sub, bytes(body))


def test_wire_stride_is_used_for_elements():
    """A newer writer's wider elements (entity 6 for int16) are stepped over using the wire entity."""
    msg = tllschema.load(SPEC_35).message("Msg")
    body = bytes.fromhex("00000000" "0000000000000000" "0800000002000006" "010000000000" "020000000000")
    assert codec.decode(msg, body).l == [1, 2] == msg.decode(body).l


def test_lossy_bytestring_decodes_like_the_fast_path():
    msg = alltypes("Bytes")
    body = bytearray(msg.encode({}))
    body[8:24] = b"\xff" * 16  # 16 invalid bytes -> 16 replacement characters (48 UTF-8 bytes)
    assert codec.decode(msg, bytes(body)).text == "\ufffd" * 16 == msg.decode(bytes(body)).text


# -- regressions of bugs found in the fast path ----------------------------------------------------
def test_nested_message_type_error_path_names_the_field_once():
    """compile.py passes the field name as as_record's path and then wraps it again: 'header.header'."""
    with pytest.raises(tllschema.EncodeError) as err:
        alltypes("Nested").encode({"header": 5})
    assert err.value.path == "header"


def test_float_time_values_are_kept_exactly():
    """A float TimePoint/Duration is converted exactly, not through whole nanoseconds."""
    msg = alltypes("Logical")
    assert msg.decode(msg.encode({"ts_d": TimePoint(1e-12, "s")})).ts_d.value == 1e-12
    assert msg.decode(msg.encode({"dur_d": Duration(0.0078125, "s")})).dur_d.value == 0.0078125
    assert str(msg.decode(msg.encode({"dur_d": Duration(-0.0, "s")})).dur_d.value) == "-0.0"
    rec = msg.decode(msg.encode({"ts_d": 1e-12}))
    assert msg.encode(rec.as_dict()) == msg.encode(rec)


def test_time_equality_with_nan_and_inf():
    """values._Chrono.__eq__ goes through `nanoseconds`, which raises for NaN and infinities."""
    msg = alltypes("Logical")
    body = bytearray(msg.size)
    off = msg.field("ts_d").offset
    body[off:off + 8] = struct.pack("<d", float("inf"))
    rec = msg.decode(bytes(body))
    assert rec == msg.decode(bytes(body))
    assert TimePoint(float("nan"), "s") != TimePoint(0.0, "s")


def test_zero_size_elements_do_not_allocate_from_unchecked_count():
    """A list of empty messages with a 2^20-1 count from a 20-byte body builds 1M records (2^24-1: 16M)."""
    s = tllschema.load("yamls://\n- name: E\n- name: M\n  fields:\n    - {name: e, type: '*E'}\n    - {name: pad, type: byte12}\n")
    msg = s.message("M")
    body = struct.pack("<IHBB", 8, 0xFFFF, 0x0F, 0) + bytes(12)  # 2^20-1 elements
    started = time.perf_counter()
    with pytest.raises(tllschema.DecodeError):
        msg.decode(body)
    assert time.perf_counter() - started < 1.0
