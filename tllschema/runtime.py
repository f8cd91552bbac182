"""Wire helpers the generated codecs call: offset pointers, lists, strings, arrays, unions.

Generated modules (see `compile.py`) keep the hot path to precompiled `struct.Struct` calls and
reach for these helpers only for variable-size parts and logical values.
"""
from __future__ import annotations

import struct
import threading
from decimal import Decimal
from typing import Any, Callable

from tllschema.convert import as_list
from tllschema.errors import DecodeError, EncodeError
from tllschema.errors import RuntimeABIError as RuntimeABIError  # raised by generated modules' ABI guard
from tllschema.values import decimal128_decode

#: Version of the interface between generated modules and the helpers they import (the names
#: and signatures in `tllschema.compile._PRELUDE`). A module from `streamproto schema compile`
#: records the number it was generated for and refuses to import under another one. Bump it on
#: any incompatible change to those helpers.
RUNTIME_ABI = 1

_U32 = struct.Struct("<I")
_U16x2 = struct.Struct("<HH")
_PTR_DEFAULT = struct.Struct("<IHBB")  # offset, size low 16, size high 8, entity
_PTR_LONG = struct.Struct("<IHH")
_Q2 = struct.Struct("<QQ")


# -- decoding --------------------------------------------------------------------------------------
def need(buf: Any, pos: int, size: int, end: int, what: str) -> None:
    if pos < 0 or pos + size > end:
        raise DecodeError(f"truncated: {what} needs {size} bytes at {pos}, data ends at {end}", offset=pos)


def read_ptr(buf: Any, pos: int, end: int, version: int, esize: int) -> tuple[int, int, int]:
    """Read an offset pointer at `pos` -> (first element position, count, stride); bounds checked.

    version: 0 default, 1 legacy-short, 2 legacy-long.
    """
    if version == 1:
        need(buf, pos, 4, end, "pointer")
        off, count = _U16x2.unpack_from(buf, pos)
        stride = esize
    elif version == 2:
        need(buf, pos, 8, end, "pointer")
        off, count, stride = _PTR_LONG.unpack_from(buf, pos)
    else:
        need(buf, pos, 8, end, "pointer")
        off, lo, hi, stride = _PTR_DEFAULT.unpack_from(buf, pos)
        count = lo | (hi << 16)
    if off == 0 and count == 0:
        return pos, 0, stride
    start = pos + off
    if version == 0 and stride == 0xFF:
        if start + 4 > end:
            raise DecodeError(f"pointer offset {off} puts the element size header outside the data ({end} bytes)", offset=pos)
        stride = _U32.unpack_from(buf, start)[0]
        start += 4
    check_list(pos, off, start, count, stride, esize, end)
    if count:
        spend(count, pos)
    return start, count, stride


class _Budget(threading.local):
    left = 1 << 62


_budget = _Budget()


def decode_budget(size: int) -> None:
    """Start a top-level decode of `size` bytes: how many list/array elements it may produce.

    Pointers of a forged message may all point at one block, so the elements decoded could grow
    with the square of its size; a well-formed message never decodes more than a few elements
    per byte.
    """
    _budget.left = 4 * size + 65536


def spend(count: int, pos: int) -> None:
    left = _budget.left - count
    if left < 0:
        raise DecodeError("the data decodes to far more elements than its size allows (lists "
                          "pointing at the same bytes again and again)", offset=pos)
    _budget.left = left


#: Elements of size 0 take no bytes, so their count cannot be checked against the data; allow this
#: many beyond the bytes left, so a forged count cannot make a decoder build millions of records.
ZERO_SIZE_SLACK = 4096


def check_list(pos: int, off: int, start: int, count: int, stride: int, esize: int, end: int) -> None:
    """Bounds of a list located by a pointer at `pos`; DecodeError when it leaves the data."""
    if count:
        if stride < esize:
            raise DecodeError(f"list element size {stride} is smaller than the scheme's {esize}", offset=pos)
        if stride == 0 and count > end - start + ZERO_SIZE_SLACK:
            raise DecodeError(f"list of {count} zero-size elements is longer than allowed for {end - start} bytes of data", offset=pos)
        if start + (count - 1) * stride + esize > end:
            raise DecodeError(f"list of {count} x {stride} bytes at offset {off} runs past the end of data ({end} bytes)", offset=pos)
    elif start > end:
        raise DecodeError(f"pointer offset {off} points outside the data ({end} bytes)", offset=pos)


def read_list(buf: Any, pos: int, end: int, version: int, esize: int, dec: Callable) -> list:
    start, count, stride = read_ptr(buf, pos, end, version, esize)
    out = []
    for i in range(count):
        try:
            out.append(dec(buf, start + i * stride, end))
        except DecodeError as e:
            raise e.within(f"[{i}]")
    return out


def read_scalar_list(buf: Any, pos: int, end: int, version: int, esize: int, code: str) -> list:
    start, count, stride = read_ptr(buf, pos, end, version, esize)
    if not count:
        return []
    if stride == esize:
        return list(struct.unpack_from(f"<{count}{code}", buf, start))
    s = struct.Struct("<" + code)
    return [s.unpack_from(buf, start + i * stride)[0] for i in range(count)]


def read_string(buf: Any, pos: int, end: int, version: int) -> str | None:
    """Decode a `string` pointer; an all-zero pointer is an unset string (None)."""
    start, count, _ = read_ptr(buf, pos, end, version, 1)
    if count == 0:
        if version == 1:
            return "" if bytes(buf[pos:pos + 4]) != b"\0\0\0\0" else None
        return "" if bytes(buf[pos:pos + 8]) != b"\0" * 8 else None
    try:
        return bytes(buf[start:start + count - 1]).decode("utf-8")
    except UnicodeDecodeError as e:
        raise DecodeError(f"string is not valid UTF-8 ({e.reason})", offset=start + e.start) from None


def read_array_count(buf: Any, pos: int, code: str, capacity: int) -> int:
    n = struct.unpack_from("<" + code, buf, pos)[0]
    if not 0 <= n <= capacity:
        raise DecodeError(f"array count {n} is outside 0..{capacity}", offset=pos)
    if n:
        spend(n, pos)
    return n


def union_tag(buf: Any, pos: int, count: int) -> int:
    tag = buf[pos]
    if tag >= count:  # tag is int8 on the wire; >= 128 is negative
        tag = tag - 256 if tag >= 128 else tag
        raise DecodeError(f"union tag {tag} is not one of 0..{count - 1}", offset=pos)
    return tag


def bytestring(raw: bytes) -> str:
    i = raw.find(b"\0")
    return (raw if i < 0 else raw[:i]).decode("utf-8", errors="replace")


def dec128(raw: bytes) -> Decimal:
    lo, hi = _Q2.unpack(raw)
    return decimal128_decode(lo, hi)


# -- encoding --------------------------------------------------------------------------------------
def write_ptr(buf: bytearray, pos: int, version: int, off: int, count: int, entity: int) -> None:
    if version == 1:
        if off > 0xFFFF or count > 0xFFFF:
            raise EncodeError(f"list of {count} at offset {off} does not fit a legacy-short pointer")
        _U16x2.pack_into(buf, pos, off, count)
    elif version == 2:
        if count > 0xFFFF or entity > 0xFFFF:
            raise EncodeError(f"list of {count} does not fit a legacy-long pointer")
        _PTR_LONG.pack_into(buf, pos, off, count, entity)
    else:
        if count >= 1 << 24:
            raise EncodeError(f"list of {count} elements is longer than 2^24-1")
        if off >= 1 << 32:
            raise EncodeError("message too large for a 32-bit pointer offset")
        _PTR_DEFAULT.pack_into(buf, pos, off, count & 0xFFFF, count >> 16, entity)


def alloc_list(buf: bytearray, pos: int, version: int, esize: int, count: int) -> int:
    """Point the pointer at `pos` to a new zeroed block of `count` elements at the end; -> its start."""
    end = len(buf)
    entity = esize
    if version == 0 and esize >= 255:
        entity = 0xFF
        buf += _U32.pack(esize)
    write_ptr(buf, pos, version, end - pos, count, entity)
    start = len(buf)
    buf += bytes(count * esize)
    return start


def write_list(buf: bytearray, pos: int, values: Any, version: int, esize: int, enc: Callable, path: str = "") -> None:
    values = as_list(values)
    start = alloc_list(buf, pos, version, esize, len(values))
    for i, v in enumerate(values):
        try:
            enc(buf, start + i * esize, v)
        except EncodeError as e:
            raise e.within(f"[{i}]")


def write_scalar_list(buf: bytearray, pos: int, values: Any, version: int, esize: int, code: str,
                      conv: Callable[[Any], Any], logical: bool) -> None:
    """A list of scalars packed in one struct call.

    `conv` is the element's input conversion (tllschema.convert). Logical elements go through
    it first; plain ones are packed as they are (struct takes exactly what check_int /
    check_double take) and `conv` only names the element struct refused.
    """
    values = as_list(values)
    start = alloc_list(buf, pos, version, esize, len(values))
    if logical:
        try:
            values = [conv(v) for v in values]
        except EncodeError:
            _refused_element(values, conv)
            raise
    try:
        struct.pack_into(f"<{len(values)}{code}", buf, start, *values)
    except struct.error as e:
        _refused_element(values, conv)
        raise EncodeError(f"cannot pack list: {e}") from None


def _refused_element(values: Any, conv: Callable[[Any], Any]) -> None:
    """Raise the EncodeError of the first element `conv` refuses, its path prefixed with [i]."""
    for i, v in enumerate(values):
        try:
            conv(v)
        except EncodeError as e:
            raise e.within(f"[{i}]") from None


def string_bytes(value: Any) -> bytes:
    """A `string` field's input (str or bytes-like) as the bytes stored before the NUL."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise EncodeError(f"expected a string, got {type(value).__name__}")


def write_string(buf: bytearray, pos: int, value: Any, version: int) -> None:
    if value is None:
        return  # unset: all-zero pointer
    data = string_bytes(value)
    end = len(buf)
    write_ptr(buf, pos, version, end - pos, len(data) + 1, 1)
    buf += data
    buf.append(0)


def write_array_count(buf: bytearray, pos: int, values: Any, code: str, capacity: int) -> list | tuple:
    values = as_list(values)
    if len(values) > capacity:
        raise EncodeError(f"{len(values)} elements do not fit an array of {capacity}")
    struct.pack_into("<" + code, buf, pos, len(values))
    return values


def union_pick(value: Any, names: tuple, path: str = "") -> tuple[int, Any]:
    """Union input (UnionValue, (name, value), {name: value}) -> (tag, value)."""
    if value is None:
        return -1, None
    if isinstance(value, dict):
        if len(value) != 1:
            raise EncodeError(f"a union value is a mapping with exactly one member, got {len(value)}")
        (name, v), = value.items()
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        name, v = value
    else:
        raise EncodeError(f"expected a union value ({{member: value}} or (member, value)), got {type(value).__name__}")
    try:
        return names.index(name), v
    except ValueError:
        raise EncodeError(f"unknown union member {name!r} (expected one of {', '.join(names)})") from None


def truncated(name: str, size: int, pos: int, end: int) -> None:
    raise DecodeError(f"truncated: {end - pos} bytes, the fixed part needs {size}", message=name, offset=pos)
