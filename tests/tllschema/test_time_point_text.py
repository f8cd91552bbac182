"""TimePoint text: isoformat for every stored value (not only datetime's years 1..9999), str as TLL prints it."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, strategies as st

from tllschema.values import TimePoint

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_LO = int((dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc) - _EPOCH).total_seconds())
_HI = int((dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc) - _EPOCH).total_seconds())


@given(st.integers(_LO, _HI))
def test_matches_datetime_where_datetime_reaches(secs: int) -> None:
    want = (_EPOCH + dt.timedelta(seconds=secs)).replace(tzinfo=None).isoformat() + "Z"
    assert TimePoint(secs, "s").isoformat() == want


@pytest.mark.parametrize("value,res,text", [
    ((1 << 63) - 1, "s", "+292277026596-12-04T15:30:07Z"),
    (-(1 << 63), "s", "-292277022657-01-27T08:29:52Z"),
    ((1 << 63) - 1, "ns", "2262-04-11T23:47:16.854775807Z"),
    (-1, "ns", "1969-12-31T23:59:59.999999999Z"),
    (_LO - 1, "s", "0000-12-31T23:59:59Z"),
    (_LO - 366 * 86400 - 1, "s", "-0001-12-31T23:59:59Z"),
    (_HI + 1, "s", "+10000-01-01T00:00:00Z"),
    (float("nan"), "s", "nan"),
    (float("-inf"), "ms", "-inf"),
])
def test_outside_datetime(value, res, text) -> None:
    assert TimePoint(value, res).isoformat() == text


@pytest.mark.parametrize("value, res, text", [
    (0, "ns", "1970-01-01T00:00:00Z"),
    (1704164645, "s", "2024-01-02T03:04:05Z"),
    (1704164645000000, "us", "2024-01-02T03:04:05Z"),
    (1704164645120000000, "ns", "2024-01-02T03:04:05.120Z"),
    (1704164645123400000, "ns", "2024-01-02T03:04:05.123400Z"),
    (1704164645123456789, "ns", "2024-01-02T03:04:05.123456789Z"),
    (1.5, "s", "1970-01-01T00:00:01.500Z"),
])
def test_str_is_tll_bindings_text(value, res, text):
    # tll.chrono.TimePoint.__str__ (what tll-read lists): zero groups of 3 digits dropped
    assert str(TimePoint(value, res)) == text
