"""Wire and logical types of the construct codec: one construct class per kind of field.

Scalars, byteN, decimal128, logical adapters (enum, bits, fixed point, time), fixed arrays, offset
pointers, strings and unions. `codec.py` assembles them into message codecs from the model.
"""

import io
import struct
from typing import Any

import construct as cs

from tllschema.convert import (
    as_list, check_double, check_int, enum_value, raw_bits, raw_bytes, raw_dec128, raw_enum, raw_fixed, raw_time,
)
from tllschema.errors import DecodeError, EncodeError
from tllschema.model import INT_TYPES, BitsDef, EnumDef, int_limits
from tllschema.runtime import check_list, spend, string_bytes, union_pick
from tllschema.values import (
    Duration, UnionValue, bits_class, decimal128_decode, enum_class, fixed_to_decimal,
)

_Q2 = struct.Struct("<QQ")
_INTS = {
    "int8": cs.Int8sl, "int16": cs.Int16sl, "int32": cs.Int32sl, "int64": cs.Int64sl,
    "uint8": cs.Int8ul, "uint16": cs.Int16ul, "uint32": cs.Int32ul, "uint64": cs.Int64ul,
}

# Offset pointer layouts (docs/scheme-format.md#pointer-layouts); `offset` counts from the first byte
# of the pointer itself.
PTR_DEFAULT = cs.Struct("offset" / cs.Int32ul, "size" / cs.Int24ul, "entity" / cs.Int8ul)
PTR_LEGACY_LONG = cs.Struct("offset" / cs.Int32ul, "size" / cs.Int16ul, "entity" / cs.Int16ul)
PTR_LEGACY_SHORT = cs.Struct("offset" / cs.Int16ul, "size" / cs.Int16ul)
_PTR = {"default": PTR_DEFAULT, "legacy-long": PTR_LEGACY_LONG, "legacy-short": PTR_LEGACY_SHORT}
_PTR_MAX = {"default": (0xFFFFFFFF, 0xFFFFFF, 0xFF), "legacy-long": (0xFFFFFFFF, 0xFFFF, 0xFFFF),
            "legacy-short": (0xFFFF, 0xFFFF, None)}
# Default pointers to elements of 255+ bytes: entity 0xff, the real element size in a u32 at `offset`
# (docs/scheme-format.md#large-elements-entity-0xff).
_LARGE_ENTITY = 0xFF

BAD_INPUT = (cs.ConstructError, struct.error, ValueError, TypeError, OverflowError, IndexError, KeyError, ArithmeticError)


def _end(stream: io.BytesIO) -> int:
    pos = stream.tell()
    end = stream.seek(0, io.SEEK_END)
    stream.seek(pos)
    return end


# -- scalars (input conversion: tllschema.convert, shared with the fast path) --------------------
class Int(cs.Adapter):
    """A little-endian integer of a TLL int type; encoding checks the input and the range."""

    def __init__(self, name: str):
        super().__init__(_INTS[name])
        self.type_name = name
        self.code = INT_TYPES[name][1]
        self.lo, self.hi = int_limits(name)

    def _decode(self, obj, context, path):
        return obj

    def _encode(self, obj, context, path):
        return check_int(obj, self.code, self.lo, self.hi)


class Double(cs.Adapter):
    def __init__(self) -> None:
        super().__init__(cs.Float64l)

    def _decode(self, obj, context, path):
        return obj

    def _encode(self, obj, context, path):
        return check_double(obj)


class Decimal128(cs.Adapter):
    """IEEE 754-2008 decimal128, BID encoding: two little-endian u64 words (lo, hi)."""

    def __init__(self) -> None:
        super().__init__(cs.Bytes(16))

    def _decode(self, obj, context, path):
        return decimal128_decode(*_Q2.unpack(obj))

    def _encode(self, obj, context, path):
        return raw_dec128(obj)


class ByteN(cs.Adapter):
    """`byteN`: N raw bytes, shorter input right-padded with zeros."""

    string = False

    def __init__(self, n: int):
        super().__init__(cs.Bytes(n))
        self.n = n

    def _decode(self, obj, context, path):
        return bytes(obj)

    def _encode(self, obj, context, path):
        return raw_bytes(obj, self.n, self.string).ljust(self.n, b"\0")


class WireText(str):
    """Decoded bytestring that remembers its wire bytes (a lossy UTF-8 decode cannot re-encode)."""

    wire: bytes


class ByteString(ByteN):
    """`byteN` with `options.type: string`: text up to the first NUL, UTF-8 with replacement."""

    string = True

    def _decode(self, obj, context, path):
        wire = bytes(obj).split(b"\0", 1)[0]
        text = wire.decode("utf-8", errors="replace")
        if text.encode("utf-8") == wire:
            return text
        out = WireText(text)
        out.wire = wire
        return out


# -- logical types ---------------------------------------------------------------------------------
_ENUMS: dict[int, type] = {}
_BITS: dict[int, type] = {}


def enum_class_for(d: EnumDef) -> type:
    if id(d) not in _ENUMS:
        _ENUMS[id(d)] = d.klass or enum_class(d)
    return _ENUMS[id(d)]


def bits_class_for(d: BitsDef) -> type:
    if id(d) not in _BITS:
        _BITS[id(d)] = d.klass or bits_class(d)
    return _BITS[id(d)]


class EnumValue(cs.Adapter):
    """Enum: an IntEnum member, or the plain int when the value is not in the enum."""

    def __init__(self, subcon, klass: Any):
        super().__init__(subcon)
        self.klass = klass

    def _decode(self, obj, context, path):
        return enum_value(self.klass, obj)

    def _encode(self, obj, context, path):
        return raw_enum(self.klass, obj)


class BitsValue(cs.Adapter):
    def __init__(self, subcon, klass: Any):
        super().__init__(subcon)
        self.klass = klass

    def _decode(self, obj, context, path):
        return self.klass(obj)

    def _encode(self, obj, context, path):
        return raw_bits(self.klass, obj)


class FixedPoint(cs.Adapter):
    """fixedN: raw integer x 10^-N as a Decimal keeping its scale ('-1.50'); input rounded half-even."""

    def __init__(self, subcon: Int, precision: int):
        super().__init__(subcon)
        self.precision = precision
        self.code, self.lo, self.hi = subcon.code, subcon.lo, subcon.hi

    def _decode(self, obj, context, path):
        return fixed_to_decimal(obj, self.precision)

    def _encode(self, obj, context, path):
        return raw_fixed(obj, self.precision, self.code, self.lo, self.hi)


class Chrono(cs.Adapter):
    """time_point / duration: a raw count of `resolution` units, exact (never through float ns)."""

    def __init__(self, subcon, kind: type, resolution: str, is_float: bool):
        super().__init__(subcon)
        self.kind, self.resolution, self.is_float = kind, resolution, is_float

    def _decode(self, obj, context, path):
        return self.kind(obj, self.resolution)

    def _encode(self, obj, context, path):
        return raw_time(obj, self.resolution, self.is_float, self.kind is Duration)


# -- composite types -------------------------------------------------------------------------------
def _element(i: int, fn, *args):
    """Run a parse/build step for element `i`, prefixing errors with `[i]`."""
    try:
        return fn(*args)
    except (DecodeError, EncodeError) as e:
        raise e.within(f"[{i}]")


class FixedArray(cs.Construct):
    """`T[N]`: a counter of the count type, then N element slots; unused slots are zero
    (``docs/scheme-format.md#fixed-arrays``)."""

    def __init__(self, count: cs.Construct, elem: cs.Construct, capacity: int, elem_size: int, count_size: int):
        super().__init__()
        self.count, self.elem, self.capacity = count, elem, capacity
        self.elem_size, self.count_size = elem_size, count_size
        self.flagbuildnone = True

    def _sizeof(self, context, path):
        return self.count_size + self.capacity * self.elem_size

    def _parse(self, stream, context, path):
        pos = stream.tell()
        n = self.count._parsereport(stream, context, path)
        if not 0 <= n <= self.capacity:
            raise DecodeError(f"array count {n} is outside 0..{self.capacity}", offset=pos)
        if n:
            spend(n, pos)
        out = []
        for i in range(n):
            stream.seek(pos + self.count_size + i * self.elem_size)
            out.append(_element(i, self.elem._parsereport, stream, context, path))
        stream.seek(pos + self._sizeof(context, path))
        return out

    def _build(self, obj, stream, context, path):
        pos = stream.tell()
        values = as_list(obj)
        if len(values) > self.capacity:
            raise EncodeError(f"{len(values)} elements do not fit an array of {self.capacity}")
        self.count._build(len(values), stream, context, path)
        for i, v in enumerate(values):
            stream.seek(pos + self.count_size + i * self.elem_size)
            _element(i, self.elem._build, v, stream, context, path)
        stream.seek(pos + self._sizeof(context, path))
        return obj


class OffsetPointer(cs.Construct):
    """`*T`: an offset pointer to a list (``docs/scheme-format.md#offset-pointers``).

    Decoding follows the offset (relative to the pointer), applies the 0xff rule, checks bounds
    and steps through the elements with the entity read from the wire (legacy-short has none: the
    scheme's element size). Encoding appends the element block at the current end of the data.
    """

    def __init__(self, elem: cs.Construct, elem_size: int, version: str):
        super().__init__()
        self.elem, self.elem_size, self.version = elem, elem_size, version
        self.layout = _PTR[version]
        self.flagbuildnone = True

    def _sizeof(self, context, path):
        return 4 if self.version == "legacy-short" else 8

    def locate(self, stream, context, path, esize: int) -> tuple[int, int, int]:
        """Read the pointer at the stream position -> (first element position, count, stride)."""
        pos, end = stream.tell(), _end(stream)
        if pos + self._sizeof(context, path) > end:
            raise DecodeError(f"truncated: pointer needs {self._sizeof(context, path)} bytes, data ends at {end}", offset=pos)
        ptr = self.layout._parsereport(stream, context, path)
        off, count = ptr.offset, ptr.size
        stride = ptr.get("entity", esize)
        if off == 0 and count == 0:
            return pos, 0, stride
        start = pos + off
        if self.version == "default" and stride == _LARGE_ENTITY:
            if start + 4 > end:
                raise DecodeError(f"pointer offset {off} puts the element size header outside the data ({end} bytes)", offset=pos)
            stream.seek(start)
            stride = cs.Int32ul._parsereport(stream, context, path)
            start += 4
        check_list(pos, off, start, count, stride, esize, end)
        if count:
            spend(count, pos)
        return start, count, stride

    def _parse(self, stream, context, path):
        pos = stream.tell()
        start, count, stride = self.locate(stream, context, path, self.elem_size)
        out = []
        for i in range(count):
            stream.seek(start + i * stride)
            out.append(_element(i, self.elem._parsereport, stream, context, path))
        stream.seek(pos + self._sizeof(context, path))
        return out

    def write_pointer(self, stream, context, path, pos: int, off: int, count: int, entity: int) -> None:
        max_off, max_count, max_entity = _PTR_MAX[self.version]
        if count > max_count:
            raise EncodeError(f"list of {count} elements does not fit a {self.version} pointer (max {max_count})")
        if off > max_off:
            raise EncodeError(f"data offset {off} does not fit a {self.version} pointer")
        if max_entity is not None and entity > max_entity:
            raise EncodeError(f"element size {entity} does not fit a {self.version} pointer")
        stream.seek(pos)
        self.layout._build({"offset": off, "size": count, "entity": entity}, stream, context, path)

    def _build(self, obj, stream, context, path):
        pos = stream.tell()
        values = as_list(obj)
        end = stream.seek(0, io.SEEK_END)
        entity = self.elem_size
        if self.version == "default" and entity >= _LARGE_ENTITY:
            entity = _LARGE_ENTITY
            cs.Int32ul._build(self.elem_size, stream, context, path)  # written even for an empty list
        block = stream.tell()
        stream.write(bytes(len(values) * self.elem_size))
        self.write_pointer(stream, context, path, pos, end - pos, len(values), entity)
        for i, v in enumerate(values):
            stream.seek(block + i * self.elem_size)
            _element(i, self.elem._build, v, stream, context, path)
        stream.seek(pos + self._sizeof(context, path))
        return obj


class StringPointer(OffsetPointer):
    """`string`: pointer to UTF-8 bytes plus one NUL (size counts it); all-zero pointer = unset (None)."""

    def __init__(self, version: str):
        super().__init__(cs.Int8sl, 1, version)

    def _parse(self, stream, context, path):
        pos = stream.tell()
        start, count, _ = self.locate(stream, context, path, 1)
        size = self._sizeof(context, path)
        stream.seek(pos)
        value: str | None
        if count == 0:
            value = None if stream.read(size) == bytes(size) else ""
        else:
            stream.seek(start)
            data = stream.read(count - 1)  # the terminator is not checked; read contiguously
            try:
                value = data.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DecodeError(f"string is not valid UTF-8 ({e.reason})", offset=start + e.start) from None
        stream.seek(pos + size)
        return value

    def _build(self, obj, stream, context, path):
        pos = stream.tell()
        if obj is not None:
            data = string_bytes(obj)
            end = stream.seek(0, io.SEEK_END)
            stream.write(data + b"\0")
            self.write_pointer(stream, context, path, pos, end - pos, len(data) + 1, 1)
        stream.seek(pos + self._sizeof(context, path))
        return obj


class Union(cs.Construct):
    """Union: int8 tag (0-based variant index), then the variant at +1, padded to the largest
    (``docs/scheme-format.md#unions``)."""

    def __init__(self, variants: list[tuple[str, cs.Construct]], body_size: int):
        super().__init__()
        self.variants, self.body_size = variants, body_size
        self.names = tuple(n for n, _ in variants)
        self.flagbuildnone = True

    def _sizeof(self, context, path):
        return 1 + self.body_size

    def _parse(self, stream, context, path):
        pos = stream.tell()
        tag = cs.Int8sl._parsereport(stream, context, path)
        if not 0 <= tag < len(self.variants):
            raise DecodeError(f"union tag {tag} is not one of 0..{len(self.variants) - 1}", offset=pos)
        name, sub = self.variants[tag]
        try:
            value = sub._parsereport(stream, context, path)
        except (DecodeError, EncodeError) as e:
            raise e.within(name)
        stream.seek(pos + 1 + self.body_size)
        return UnionValue(name, value)

    def _build(self, obj, stream, context, path):
        pos = stream.tell()
        if obj is not None:
            tag, value = union_pick(obj, tuple(self.names))  # the input forms the fast path accepts
            name = self.names[tag]
            cs.Int8sl._build(tag, stream, context, path)
            try:
                self.variants[tag][1]._build(value, stream, context, path)
            except (DecodeError, EncodeError) as e:
                raise e.within(name)
        stream.seek(pos + 1 + self.body_size)
        return obj
