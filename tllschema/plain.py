"""Records -> plain Python values, in the golden `fields` conventions (raw) or human form."""
from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

from tllschema.record import Record
from tllschema.values import Bits, Duration, TimePoint, UnionValue


def plain(value: Any, raw: bool = False) -> Any:
    """Convert a decoded value to dicts, lists, str, int, float, bool and bytes.

    raw=True gives the golden `fields` conventions: decimals and fixed point as strings, time
    points and durations as raw counts, enums as names, bits as {name: bool|int}, unions as
    {member: value}, unset strings as ''. raw=False is the human form: time points as text
    as TLL's Python binding prints them (`2024-09-09T14:06:21.038702405Z`, `...:21.120Z`,
    `...:21Z`) and durations with a unit (`1500ms`).
    """
    if isinstance(value, Record):
        return {k: plain(v, raw) for k, v in value.items()}
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, str, bytes)):
        return value
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, TimePoint):
        return value.value if raw else str(value)
    if isinstance(value, Duration):
        return value.value if raw else str(value)
    if isinstance(value, Bits):
        return value.as_dict()
    if isinstance(value, UnionValue):
        return {value.type: plain(value.value, raw)}
    if isinstance(value, (list, tuple)):
        return [plain(v, raw) for v in value]
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, dict):
        return {k: plain(v, raw) for k, v in value.items()}
    return value
