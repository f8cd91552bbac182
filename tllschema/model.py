"""The typed scheme model: messages, fields and wire types with sizes and offsets computed once.

A field's type is a tree of wire nodes: `Scalar` (integers, double, decimal128), `Bytes`,
`Array` (fixed `T[N]` with a counter), `Pointer` (offset pointer: lists and `string`),
`MessageRef` (an embedded message) and `UnionRef`. Logical types (enum, bits, fixed point, time
point, duration, bytestring) hang on the innermost `Scalar`/`Bytes` node as `sub`.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable
from typing import Union as _U

from tllschema.errors import EncodeError, SchemeError
from tllschema.record import Record

if TYPE_CHECKING:
    from tllschema.scheme import Scheme

INT_TYPES = {
    "int8": (1, "b", True), "int16": (2, "h", True), "int32": (4, "i", True), "int64": (8, "q", True),
    "uint8": (1, "B", False), "uint16": (2, "H", False), "uint32": (4, "I", False), "uint64": (8, "Q", False),
}

RESOLUTIONS = {
    "ns": "ns", "nanosecond": "ns", "us": "us", "microsecond": "us", "ms": "ms", "millisecond": "ms",
    "s": "s", "second": "s", "m": "m", "minute": "m", "h": "h", "hour": "h", "d": "d", "day": "d",
}

#: (numerator, denominator) of one resolution unit in seconds.
RESOLUTION_SECONDS = {
    "ns": (1, 1_000_000_000), "us": (1, 1_000_000), "ms": (1, 1000), "s": (1, 1),
    "m": (60, 1), "h": (3600, 1), "d": (86400, 1),
}


def int_limits(name: str) -> tuple[int, int]:
    """Inclusive (min, max) of an integer wire type."""
    size, _, signed = INT_TYPES[name]
    bits = size * 8
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


@dataclass(eq=False)
class EnumDef:
    """An enum: integer base type and values (kept sorted by name, as the reference does)."""

    name: str
    base: str
    values: dict[str, int]
    options: dict[str, str] = field(default_factory=dict)
    inline: bool = False
    klass: type | None = None  # IntEnum built by values.enum_class

    def __repr__(self) -> str:
        return f"EnumDef({self.name!r}, {self.base}, {self.values})"


@dataclass(frozen=True)
class BitField:
    name: str
    offset: int
    size: int


@dataclass(eq=False)
class BitsDef:
    """A named set of bit-fields over an integer base type."""

    name: str
    base: str
    bits: list[BitField]
    options: dict[str, str] = field(default_factory=dict)
    inline: bool = False
    klass: type | None = None  # Bits subclass built by values.bits_class

    def __repr__(self) -> str:
        return f"BitsDef({self.name!r}, {self.base}, {[b.name for b in self.bits]})"


class SubType(enum.Enum):
    """Logical sub-type of a scalar or bytes node."""

    ENUM = "enum"
    BITS = "bits"
    FIXED = "fixed"
    TIME_POINT = "time_point"
    DURATION = "duration"
    BYTESTRING = "string"


@dataclass(eq=False)
class Scalar:
    """Integer, double or decimal128 wire type, with an optional logical sub-type."""

    name: str  # int8..uint64, double, decimal128
    sub: SubType | None = None
    enum: EnumDef | None = None
    bits: BitsDef | None = None
    precision: int = 0  # fixed point digits
    resolution: str = ""  # canonical ns/us/ms/s/m/h/d for time_point/duration

    @property
    def size(self) -> int:
        if self.name == "double":
            return 8
        if self.name == "decimal128":
            return 16
        return INT_TYPES[self.name][0]

    @property
    def fmt(self) -> str:
        """struct format code (without byte order); '' for decimal128."""
        if self.name == "double":
            return "d"
        if self.name == "decimal128":
            return ""
        return INT_TYPES[self.name][1]

    @property
    def is_int(self) -> bool:
        return self.name in INT_TYPES


@dataclass(eq=False)
class Bytes:
    """Fixed `byteN`; `string=True` when `options.type: string` (NUL-terminated text)."""

    n: int
    string: bool = False

    @property
    def size(self) -> int:
        return self.n


@dataclass(eq=False)
class Array:
    """Fixed array `T[N]`: a counter of `count_type` then N element slots."""

    elem: "WireType"
    capacity: int
    count_type: str
    count_type_explicit: bool = False

    @property
    def count_size(self) -> int:
        return INT_TYPES[self.count_type][0]

    @property
    def size(self) -> int:
        return self.count_size + self.capacity * self.elem.size


POINTER_VERSIONS = ("default", "legacy-short", "legacy-long")


@dataclass(eq=False)
class Pointer:
    """Offset pointer to a list of `elem` (a `string` is a bytestring pointer to int8)."""

    elem: "WireType"
    version: str = "default"
    string: bool = False

    @property
    def size(self) -> int:
        return 4 if self.version == "legacy-short" else 8


@dataclass(eq=False)
class MessageRef:
    """An embedded message: its fixed part inline, its pointers' data in the shared tail."""

    message: "Message"

    @property
    def size(self) -> int:
        return self.message.size


@dataclass(eq=False)
class UnionDef:
    """A union: int8 tag then the largest variant's bytes."""

    name: str
    fields: list["Field"]
    inline: bool = False
    klass: type | None = None

    @property
    def union_size(self) -> int:
        return max((f.type.size for f in self.fields), default=0)

    @property
    def size(self) -> int:
        return 1 + self.union_size

    def __repr__(self) -> str:
        return f"UnionDef({self.name!r}, {[f.name for f in self.fields]})"


@dataclass(eq=False)
class UnionRef:
    union: UnionDef

    @property
    def size(self) -> int:
        return self.union.size


WireType = _U[Scalar, Bytes, Array, Pointer, MessageRef, UnionRef]


@dataclass(eq=False)
class Field:
    """A message field: name, wire type tree, offset within its message, options as loaded."""

    name: str
    type: WireType
    offset: int = 0
    options: dict[str, str] = field(default_factory=dict)  # options of the innermost element
    list_options: dict[str, str] = field(default_factory=dict)  # options of the outermost wrapper
    index: int = -1  # presence-map bit, -1 when always present
    pmap: bool = False

    @property
    def size(self) -> int:
        return self.type.size

    def __repr__(self) -> str:
        return f"Field({self.name!r}, offset={self.offset}, size={self.size})"


@dataclass(eq=False)
class Message:
    """A message: fields laid out back to back (packed, little-endian).

    `decode`, `encode` and `new` use the generated fast-path class (`record_class`) once a
    `Scheme` has bound it (`bind`); a message on its own decodes and encodes through the
    construct reference codec (`tllschema.codec`), which needs nothing generated.
    """

    name: str
    msgid: int = 0
    fields: list[Field] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    enums: dict[str, EnumDef] = field(default_factory=dict)
    unions: dict[str, UnionDef] = field(default_factory=dict)
    bits: dict[str, BitsDef] = field(default_factory=dict)
    pmap: Field | None = None
    scheme: "Scheme | None" = field(default=None, repr=False)  # the owning Scheme (set by Scheme)
    #: The generated record class of the fast path (set by `bind`), None before.
    record_class: type[Record] | None = field(default=None, repr=False)
    #: `decode(body, pos=0) -> Record`: the record class's own decoder once bound (no extra call
    #: on the hot path), the reference codec before.
    decode: Callable[..., Record] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.decode = self._reference_decode

    def bind(self, record_class: type[Record]) -> None:
        """Decode, encode and build records with `record_class` (a generated class of this message)."""
        self.record_class = record_class
        self.decode = record_class.decode

    def _reference_decode(self, body: Any, pos: int = 0) -> Record:
        from tllschema import codec

        return codec.decode(self, memoryview(body)[pos:] if pos else body)

    def encode(self, value: Any = None, /, **fields: Any) -> bytes:
        """Encode a mapping, record or keywords as this message; unset fields are zero."""
        cls = self.record_class
        if cls is None:
            from tllschema import codec

            return codec.encode(self, value, **fields)
        if type(value) is cls and not fields:
            return value.encode()
        if value is not None and not isinstance(value, (dict, Record)):
            raise EncodeError(f"expected a mapping or record, got {type(value).__name__}", message=self.name)
        return cls(value, **fields).encode()

    def new(self, value: Any = None, /, **fields: Any) -> Record:
        """A record of this message from a mapping/record and keywords (needs a bound record class)."""
        if self.record_class is None:
            raise SchemeError(f"message {self.name} has no record class: load it with tllschema.load()")
        return self.record_class(value, **fields)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise SchemeError(f"message {self.name} has no field {name!r}")

    def arrow_schema(self) -> "object":
        """The fields as a ``pyarrow.Schema`` (needs the ``arrow`` extra; see tllschema.arrow)."""
        from tllschema.arrow import arrow_schema
        return arrow_schema(self)

    def __repr__(self) -> str:
        return f"Message({self.name!r}, msgid={self.msgid}, size={self.size})"


def innermost(t: WireType) -> WireType:
    """The element type below every array and (non-string) pointer wrapper."""
    while isinstance(t, (Array, Pointer)) and not (isinstance(t, Pointer) and t.string):
        t = t.elem
    return t
