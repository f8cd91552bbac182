"""The construct-based reference codec: the wire format spelled out declaratively from the model.

This is the readable, complete definition of how a message sits on the wire
(``docs/scheme-format.md#binary-layout-basics`` and the sections after it); the compiled fast
path (`compile.py`) must produce and accept exactly the same bytes, which the property tests
check. It is not meant to be fast. It needs only the model: no generated class (decoded
records are `ValueRecord`s of the message), and input goes through the same `tllschema.convert`
functions as the fast path.

    codec = codec_for(message)          # a construct.Construct, cached per message
    rec = decode(message, body)         # -> a ValueRecord, equal to what message.decode gives
    body = encode(message, {"id": 1})   # -> bytes, like message.encode

Encoding builds into one stream pre-filled with the fixed part's zeros. A pointer seeks to the
current end, reserves its element block there, builds the elements into their slots (their own
pointers append after the block: depth-first, declaration order,
``docs/scheme-format.md#tail-order``), then goes back and writes itself. Unset scalars stay zero,
unset strings are all-zero pointers, unset lists are empty lists pointing at the end, unset
nested messages are encoded with every field unset.
"""
from __future__ import annotations

import io
import weakref
from typing import Any

import construct as cs

from tllschema.codec_types import (
    BAD_INPUT, BitsValue, ByteN, ByteString, Chrono, Decimal128, Double, EnumValue, FixedArray, FixedPoint,
    Int, OffsetPointer, StringPointer, Union, bits_class_for, enum_class_for,
)
from tllschema.errors import DecodeError, EncodeError, SchemeError
from tllschema.model import (
    Array, Bytes, Field, Message, MessageRef, Pointer, Scalar, SubType, UnionDef, UnionRef, WireType,
)
from tllschema.record import Record, ValueRecord
from tllschema.runtime import decode_budget
from tllschema.values import Duration, TimePoint

__all__ = ["codec_for", "decode", "encode"]

# -- messages --------------------------------------------------------------------------------------
class FieldSlot(cs.Subconstruct):
    """One field of a message: names the field in error paths; an unset scalar stays zero."""

    def __init__(self, name: str, subcon: cs.Construct, scalar: bool):
        super().__init__(subcon)
        self.name = name
        self.scalar = scalar
        self.flagbuildnone = True

    def _parse(self, stream, context, path):
        pos = stream.tell()
        try:
            return self.subcon._parsereport(stream, context, path)
        except DecodeError as e:
            raise e.within(self.name)
        except BAD_INPUT as e:
            raise DecodeError(f"cannot decode: {e}", offset=pos).within(self.name) from None

    def _build(self, obj, stream, context, path):
        pos = stream.tell()
        try:
            if obj is None and self.scalar:
                stream.seek(pos + self.subcon._sizeof(context, path))  # unset: the zeros already there
                return obj
            return self.subcon._build(obj, stream, context, path)
        except EncodeError as e:
            raise e.within(self.name)
        except BAD_INPUT as e:
            raise EncodeError(f"cannot encode {obj!r}: {e}").within(self.name) from None


class PresenceMap(cs.Construct):
    """The `pmap` field: on build, one bit per optional field that has a value
    (``docs/scheme-format.md#presence-map-and-optional-fields``)."""

    def __init__(self, size: int, bits: dict[str, int]):
        super().__init__()
        self.size = size
        self.bits = bits  # optional field name -> bit index
        self.flagbuildnone = True

    def _sizeof(self, context, path):
        return self.size

    def _parse(self, stream, context, path):
        stream.seek(stream.tell() + self.size)  # read by each OptionalField where it is needed
        return None

    def _build(self, obj, stream, context, path):
        value = 0
        for name, bit in self.bits.items():
            if context.get(name) is not None:
                value |= 1 << bit
        try:
            stream.write(value.to_bytes(self.size, "little"))
        except OverflowError:
            raise EncodeError(f"presence map of {self.size} bytes is too small for bit {value.bit_length() - 1}") from None
        return obj


class OptionalField(cs.Subconstruct):
    """An optional field: decoded only when its presence bit is set, else None (left zero)."""

    def __init__(self, subcon: cs.Construct, bit: int, offset: int, pmap_offset: int, pmap_size: int):
        super().__init__(subcon)
        self.bit, self.offset, self.pmap_offset, self.pmap_size = bit, offset, pmap_offset, pmap_size
        self.flagbuildnone = True

    def _parse(self, stream, context, path):
        pos = stream.tell()
        stream.seek(pos - self.offset + self.pmap_offset)
        present = (int.from_bytes(stream.read(self.pmap_size), "little") >> self.bit) & 1
        stream.seek(pos)
        if not present:
            stream.seek(pos + self.subcon._sizeof(context, path))
            return None
        return self.subcon._parsereport(stream, context, path)

    def _build(self, obj, stream, context, path):
        if obj is None:
            stream.seek(stream.tell() + self.subcon._sizeof(context, path))  # absent: zeros
            return obj
        return self.subcon._build(obj, stream, context, path)


class RecordAdapter(cs.Adapter):
    """A message's Struct <-> a record of it (decoded: a `ValueRecord` of the message)."""

    def __init__(self, message: Message, struct_: cs.Construct):
        super().__init__(struct_)
        self.message = message
        self.record_class = value_record_class(message)

    def _decode(self, obj, context, path):
        return self.record_class({f.name: obj[f.name] for f in self.message.fields if not f.pmap})

    def _encode(self, obj, context, path):
        msg = self.message
        if obj is None:
            return {}
        if isinstance(obj, Record):
            if obj.NAME != msg.name:
                raise EncodeError(f"expected {msg.name}, got a {obj.NAME} record")
            return dict(obj.items())
        if not isinstance(obj, dict):
            raise EncodeError(f"expected {msg.name} as a mapping or record, got {type(obj).__name__}")
        names = [f.name for f in msg.fields if not f.pmap]
        for key in obj:
            if key not in names:
                raise EncodeError(f"no field {key!r} (fields: {', '.join(names)})")
        return obj


def value_record_class(message: Message) -> type[ValueRecord]:
    """The record class the reference codec decodes `message` to: the message's constants over
    a `ValueRecord` (logical values stored as decoded; no generated code involved)."""
    names = tuple(f.name for f in message.fields if not f.pmap)
    ns = {"__slots__": (), "NAME": message.name, "MSGID": message.msgid, "SIZE": message.size,
          "FIELDS": names, "_ATTRS": names, "__doc__": f"{message.name} decoded by the construct codec."}
    return type(f"{message.name}Value", (ValueRecord,), ns)


def _scalar(t: Scalar | Bytes) -> cs.Construct:
    if isinstance(t, Bytes):
        return ByteString(t.n) if t.string else ByteN(t.n)
    if t.name == "decimal128":
        return Decimal128()
    wire = Double() if t.name == "double" else Int(t.name)
    if t.sub is SubType.ENUM and t.enum is not None:
        return EnumValue(wire, enum_class_for(t.enum))
    if t.sub is SubType.BITS and t.bits is not None:
        return BitsValue(wire, bits_class_for(t.bits))
    if t.sub is SubType.FIXED:
        return FixedPoint(wire, t.precision) if isinstance(wire, Int) else wire
    if t.sub in (SubType.TIME_POINT, SubType.DURATION):
        kind = TimePoint if t.sub is SubType.TIME_POINT else Duration
        return Chrono(wire, kind, t.resolution, t.name == "double")
    return wire


def _union(u: UnionDef) -> Union:
    return Union([(f.name, _type(f.type)) for f in u.fields], u.union_size)


def _type(t: WireType) -> cs.Construct:
    """The construct of a wire type tree (see model.py)."""
    if isinstance(t, (Scalar, Bytes)):
        return _scalar(t)
    if isinstance(t, Array):
        return FixedArray(Int(t.count_type), _type(t.elem), t.capacity, t.elem.size, t.count_size)
    if isinstance(t, Pointer):
        if t.string:
            return StringPointer(t.version)
        return OffsetPointer(_type(t.elem), t.elem.size, t.version)
    if isinstance(t, MessageRef):
        return codec_for(t.message)
    if isinstance(t, UnionRef):
        return _union(t.union)
    raise SchemeError(f"unsupported wire type {t!r}")


def _field(f: Field, message: Message) -> cs.Construct:
    """A field's construct, wrapped for the presence map when the message has one."""
    pmap = message.pmap
    if pmap is None:
        return _type(f.type)
    if f.pmap:
        return PresenceMap(f.size, {g.name: g.index for g in message.fields if g.index >= 0})
    inner = _type(f.type)
    if f.index >= 0:
        return OptionalField(inner, f.index, f.offset, pmap.offset, pmap.size)
    return inner


_CODECS: "weakref.WeakKeyDictionary[Message, cs.Construct]" = weakref.WeakKeyDictionary()


def codec_for(message: Message) -> cs.Construct:
    """The construct of `message` (cached): parses to its Record class, builds from a mapping/record."""
    codec = _CODECS.get(message)
    if codec is None:
        fields = [FieldSlot(f.name, _field(f, message), isinstance(f.type, (Scalar, Bytes)) and not f.pmap)
                  for f in message.fields]
        codec = RecordAdapter(message, cs.Struct(*fields))
        _CODECS[message] = codec
    return codec


def decode(message: Message, buf: Any) -> Record:
    """Decode `buf` (bytes-like) as `message` -> Record; DecodeError naming field path and offset."""
    data = bytes(buf)
    if len(data) < message.size:
        raise DecodeError(f"truncated: {len(data)} bytes, the fixed part needs {message.size}", message=message.name, offset=0)
    codec = codec_for(message)
    decode_budget(len(data))
    try:
        return codec.parse(data)
    except DecodeError as e:
        raise DecodeError(e.reason, message=message.name, path=e.path, offset=e.offset) from None
    except BAD_INPUT as e:
        raise DecodeError(f"cannot decode: {e}", message=message.name) from None


def encode(message: Message, value: Any = None, /, **fields: Any) -> bytes:
    """Encode a mapping, record or keywords as `message` -> bytes (tail order:
    ``docs/scheme-format.md#tail-order``)."""
    if fields:
        if isinstance(value, Record):
            value = dict(value.items())
        elif value is not None and not isinstance(value, dict):
            raise EncodeError(f"expected a mapping or record, got {type(value).__name__}", message=message.name)
        value = {**(value or {}), **fields}
    stream = io.BytesIO(bytes(message.size))
    codec = codec_for(message)
    try:
        codec.build_stream(value, stream)
    except EncodeError as e:
        raise EncodeError(e.reason, message=message.name, path=e.path) from None
    except BAD_INPUT as e:
        raise EncodeError(f"cannot encode: {e}", message=message.name) from None
    return stream.getvalue()
