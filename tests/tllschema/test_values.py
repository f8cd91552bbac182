"""Logical values: exact times, durations, bits, fixed point, decimal128, enums, unions."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

import tllschema
from tllschema.values import Duration, TimePoint, decimal128_decode, decimal128_encode
from tests.tllschema.golden_vectors import golden_scheme


def test_time_point_is_exact_to_the_nanosecond():
    tp = TimePoint(1725890781038702405, "ns")
    assert tp.isoformat() == "2024-09-09T14:06:21.038702405Z"
    assert TimePoint.parse("2024-09-09T14:06:21.038702405Z").value == 1725890781038702405
    # float64 cannot hold this count: going through float would change the last digits
    assert int(float(1725890781038702405)) != 1725890781038702405
    assert tp.datetime == dt.datetime(2024, 9, 9, 14, 6, 21, 38702, tzinfo=dt.timezone.utc)
    assert TimePoint(1725890781, "s").isoformat() == "2024-09-09T14:06:21Z"
    assert TimePoint(-1, "ns").isoformat() == "1969-12-31T23:59:59.999999999Z"
    assert TimePoint.parse("2024-09-09T16:06:21.5+02:00", "ms").value == 1725890781500


def test_time_fields_accept_iso_datetime_and_raw():
    logical = golden_scheme("alltypes.yaml").message("Logical")
    a = logical.encode(ts_ns="2024-09-09T14:06:21.038702405Z", ts_us=dt.datetime(2024, 9, 9, 14, 6, 21, 38702),
                       ts_s=TimePoint(1725890781000, "ms"), dur_ms="1.5s", dur_d=dt.timedelta(milliseconds=250))
    rec = logical.decode(a)
    assert rec.ts_ns.value == 1725890781038702405 and rec.ts_us.value == 1725890781038702
    assert rec.ts_s.value == 1725890781 and rec.dur_ms.value == 1500 and rec.dur_d.value == 0.25
    # finer than the field's resolution: truncated toward zero, as TLL does
    assert logical.decode(logical.encode(ts_s=TimePoint(1725890781500, "ms"))).ts_s.value == 1725890781
    assert logical.decode(logical.encode(ts_us=TimePoint(-1500, "ns"))).ts_us.value == -1
    assert logical.decode(logical.encode(dur_ms="-1.9ms")).dur_ms.value == -1


def test_durations():
    assert Duration.parse("10.5us", "ns").value == 10500
    assert str(Duration(1500, "ms")) == "1500ms"
    assert Duration(90, "m").timedelta == dt.timedelta(hours=1, minutes=30)
    with pytest.raises(ValueError):
        Duration.parse("5 parsecs")


@pytest.mark.parametrize("text", ["123.456", "-1.50", "0.000001", "1E+10", "9999999999999999999999999999999999E6111",
                                  "-9.999999999999999999999999999999999E+6144", "0E-6176", "-0", "1E-6176"])
def test_decimal128_round_trip(text):
    d = Decimal(text)
    back = decimal128_decode(*decimal128_encode(d))
    assert back == d and back.as_tuple() == d.as_tuple()


def test_decimal128_specials_and_limits():
    for text, hi in (("Infinity", 0x7800000000000000), ("-Infinity", 0xF800000000000000),
                     ("NaN", 0x7C00000000000000), ("sNaN", 0x7E00000000000000)):
        assert decimal128_encode(Decimal(text)) == (0, hi)
        back = decimal128_decode(0, hi)
        assert str(back) == text
    assert decimal128_encode(Decimal("1E+6144")) == decimal128_encode(Decimal("1000000000000000000000000000000000E6111"))
    for bad in ("1E+6200", "12345678901234567890123456789012345"):
        with pytest.raises(ValueError, match="does not fit decimal128"):
            decimal128_encode(Decimal(bad))


def test_fixed_point_keeps_scale_and_rounds_half_even():
    logical = golden_scheme("alltypes.yaml").message("Logical")
    rec = logical.decode(logical.encode(qty="-1.5", price=Decimal("7")))
    assert str(rec.qty) == "-1.50" and str(rec.price) == "7.000"
    assert logical.decode(logical.encode(qty=2.25)).qty == Decimal("2.25")  # floats by their shortest repr
    assert logical.decode(logical.encode(qty="0.005")).qty == Decimal("0.00")  # half to even
    with pytest.raises(tllschema.EncodeError, match="invalid decimal"):
        logical.encode(qty="0.0.1")


def test_enums_bits_and_unknown_enum_values():
    logical = golden_scheme("alltypes.yaml").message("Logical")
    rec = logical.decode(logical.encode(side="Sell", status=1, flags={"a": True, "b": 5}))
    assert rec.side.name == "Sell" and rec.side == 2 and rec.status.name == "Filled"
    assert rec.flags.a is True and rec.flags.b == 5 and rec.flags.c is False and int(rec.flags) == 0b10101
    assert logical.decode(logical.encode(flags="a, c")).flags.as_dict() == {"a": True, "b": 0, "c": True}
    assert logical.decode(logical.encode(flags=["b"])).flags.b == 7
    # a value the enum does not name decodes as a plain int (and re-encodes unchanged)
    body = bytearray(logical.encode({}))
    body[0] = 9
    rec = logical.decode(bytes(body))
    assert rec.side == 9 and tllschema.plain(rec, raw=True)["side"] == 9
    assert logical.encode(rec) == bytes(body)


def test_record_access_equality_and_repr():
    tx = golden_scheme("transaction.yaml").message("Transaction")
    rec = tx.decode(tx.encode(id=11, price="97.21", count=45))
    assert rec.id == rec["id"] == 11 and "price" in rec and list(rec) == ["time", "id", "price", "count"]
    assert rec == tx.new(id=11, price="97.21", count=45)
    assert rec == {"id": 11, "price": "97.21", "count": 45}
    assert rec != tx.new(id=12)
    assert repr(rec).startswith("Transaction(time=TimePoint(0, 'ns'), id=11, price=Decimal('97.21')")
    with pytest.raises(KeyError, match="no field 'nope'"):
        rec["nope"]
    rec.price = "1.5"
    assert tx.decode(rec.encode()).price == Decimal("1.50")


def test_unset_and_empty_strings_differ(golden):
    b = golden_scheme("alltypes.yaml").message("Bytes")
    unset, empty = b.encode({}), b.encode(s="")
    assert unset != empty and len(empty) == len(unset) + 1
    assert b.decode(unset).s is None and b.decode(empty).s == ""
    assert tllschema.plain(b.decode(unset), raw=True)["s"] == ""
    assert b.encode(b.decode(unset)) == unset and b.encode(b.decode(empty)) == empty


# --- what TLL's Python binding offers on these values (logic code uses it) -----------------------

def test_scheme_enums_print_as_the_binding_prints_them():
    from tllschema.values import make_int_enum
    side = make_int_enum("Side", {"Buy": 1, "Sell": 2})
    assert (str(side.Sell), f"{side.Sell}", "{}".format(side.Sell)) == ("Side.Sell",) * 3
    assert side.Sell == 2 and side.Sell.name == "Sell" and int(side.Sell) == 2


def test_union_variant_by_name():
    from tllschema.values import UnionValue
    u = UnionValue("d", 0.5)
    assert (u.d, u[0], u[1], u.type, u.value) == (0.5, "d", 0.5, "d", 0.5)
    with pytest.raises(AttributeError, match="union holds 'd', not 'i'"):
        u.i


def test_time_arithmetic_seconds_and_convert_as_tll_chrono():
    tp = TimePoint(1_704_164_645_123_456_789, "ns")
    assert tp + Duration(1500, "ms") == TimePoint(1_704_164_646_623_456_789, "ns")
    assert tp - Duration(1, "s") == TimePoint(1_704_164_644_123_456_789, "ns")
    assert tp - TimePoint(1_704_164_645, "s") == Duration(123_456_789, "ns")
    assert Duration(1500, "ms") + Duration(1, "s") == Duration(2500, "ms")
    assert tp.seconds == pytest.approx(1_704_164_645.123456789)
    assert tp.convert("us") == TimePoint(1_704_164_645_123_456, "us")       # rounded down
    assert TimePoint(-1, "ns").convert("s").value == -1                      # floor, as TLL
    assert Duration(3, "s").convert("ms", float).value == 3000.0
