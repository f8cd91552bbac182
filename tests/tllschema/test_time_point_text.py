"""TimePoint.isoformat for every stored value, not only datetime's years 1..9999."""
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
