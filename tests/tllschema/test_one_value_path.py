"""Issue 9, "one path for each concept": Python input is coerced in one place (tllschema.convert).

For every kind of field, alone and as a list or array element, arbitrary Decimal, float, int and
str input (and out-of-range or garbage values) must give the same bytes from the generated fast
path and the construct reference codec, or the same error: same class, same text.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tllschema
from tllschema import codec

KINDS = """\
- {name: i8, type: int8}
- {name: i16, type: int16}
- {name: i32, type: int32}
- {name: i64, type: int64}
- {name: u8, type: uint8}
- {name: u16, type: uint16}
- {name: u32, type: uint32}
- {name: u64, type: uint64}
- {name: f64, type: double}
- {name: d128, type: decimal128}
- {name: raw, type: byte4}
- {name: text, type: byte4, options.type: string}
- {name: str, type: string}
- {name: side, type: int8, options.type: enum, enum: {Buy: 1, Sell: -1}}
- {name: flags, type: uint16, options.type: bits, bits: [a, b, {name: c, offset: 4, size: 3}]}
- {name: fx8, type: int8, options.type: fixed2}
- {name: fx32, type: int32, options.type: fixed3}
- {name: fx64, type: int64, options.type: fixed8}
- {name: fxu, type: uint64, options.type: fixed4}
- {name: tns, type: int64, options.type: time_point, options.resolution: ns}
- {name: tus, type: int64, options.type: time_point, options.resolution: us}
- {name: tms, type: int64, options.type: time_point, options.resolution: ms}
- {name: ts, type: uint32, options.type: time_point, options.resolution: s}
- {name: td, type: int32, options.type: time_point, options.resolution: d}
- {name: tdbl, type: double, options.type: time_point, options.resolution: ms}
- {name: dns, type: int64, options.type: duration, options.resolution: ns}
- {name: dms, type: int32, options.type: duration, options.resolution: ms}
- {name: dm, type: int16, options.type: duration, options.resolution: m}
- {name: ddbl, type: double, options.type: duration, options.resolution: us}
"""
KIND_FIELDS = yaml.safe_load(KINDS)
SCALARS = [f["name"] for f in KIND_FIELDS]


def _scheme_text() -> str:
    """Every kind alone (NAME), as a list element (l_NAME) and as an array element (a_NAME)."""
    fields = [dict(f) for f in KIND_FIELDS]
    for f in KIND_FIELDS:
        if f["type"] != "string":  # `*string` is a list of strings; strings are a kind of their own
            fields.append({**f, "name": f"l_{f['name']}", "type": f"*{f['type']}"})
        fields.append({**f, "name": f"a_{f['name']}", "type": f"{f['type']}[2]"})
    return "yamls://" + yaml.safe_dump([{"name": "Kinds", "id": 1, "fields": fields}], sort_keys=False)


@pytest.fixture(scope="module")
def kinds() -> tllschema.Message:
    return tllschema.load(_scheme_text()).message("Kinds")


def test_the_scheme_covers_every_kind_alone_in_lists_and_in_arrays(kinds):
    names = {f.name for f in kinds.fields}
    assert len(SCALARS) == 29
    assert {*SCALARS, *(f"l_{n}" for n in SCALARS if n != "str"), *(f"a_{n}" for n in SCALARS)} == names


_ISO = st.builds(lambda d, frac, zone: d.isoformat(sep=" " if frac % 2 else "T") + f".{frac:09d}"[: 1 + frac % 10] + zone,
                 st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)),
                 st.integers(0, 999_999_999), st.sampled_from(["", "Z", "+02:00", "-0130"]))
_NUMBERS = st.one_of(
    st.integers(), st.integers(-(2 ** 70), 2 ** 70), st.sampled_from([0, 1, -1, 127, 128, 255, 256, 2 ** 63, -(2 ** 63) - 1]),
    st.floats(), st.floats(-1e6, 1e6), st.sampled_from([0.5, 1.5, -2.5, 4.555, 4.545, 1e300, float("nan")]),
    st.decimals(), st.decimals(places=3), st.decimals(-10 ** 6, 10 ** 6, places=10),
    st.sampled_from([Decimal("4.555"), Decimal("-4.545"), Decimal("sNaN"), Decimal("-Infinity"), Decimal("1E+999999")]),
)
_TEXT = st.one_of(
    _NUMBERS.map(str), _ISO,
    st.builds(lambda n, u: f"{n}{u}", st.decimals(-10 ** 9, 10 ** 9, places=4, allow_nan=False),
              st.sampled_from(["ns", "us", "ms", "s", "m", "h", "d", "parsecs"])),
    st.sampled_from(["Buy", "Sell", "a, b", "c", "{a}", "0x10", "010", "", "x" * 5, "2024-02-30", "\u00e9\u00e9\u00e9"]),
    st.text(max_size=6),
)
_OTHER = st.one_of(
    st.none(), st.booleans(), st.binary(max_size=6), st.sampled_from([Fraction(1, 3), object(), [], {}, {"a": True}, ["b"]]),
    st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)), st.timedeltas(),
)
INPUTS = st.one_of(_NUMBERS, _TEXT, _OTHER)


def outcome(fn, *args):
    """('ok', bytes) or ('error', class name, text); any other exception propagates and fails."""
    try:
        return "ok", fn(*args)
    except tllschema.SchemeError as e:
        return "error", type(e).__name__, str(e)


@settings(max_examples=600, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_both_codecs_coerce_input_identically(kinds, data):
    name = data.draw(st.sampled_from(SCALARS), label="kind")
    shape = data.draw(st.sampled_from(["scalar", "list", "array"] if name != "str" else ["scalar", "array"]), label="shape")
    value = data.draw(INPUTS, label="value")
    field = {"scalar": name, "list": f"l_{name}", "array": f"a_{name}"}[shape]
    if shape != "scalar":
        value = data.draw(st.sampled_from([[value], [0, value], value]), label="as list")
    fast = outcome(kinds.encode, {field: value})
    ref = outcome(codec.encode, kinds, {field: value})
    assert fast == ref
