"""`Record`: the base of every generated message class (attribute and dict access, equality)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterator

from tllschema.errors import EncodeError


class Record:
    """Base of generated message classes: attribute and dict access, equality, readable repr.

    Subclasses define NAME, MSGID, SIZE, FIELDS (public names) and _ATTRS (attribute names used
    to read each field; differs from the name only for names that are not Python identifiers).
    """

    __slots__ = ()
    NAME = ""
    MSGID = 0
    SIZE = 0
    FIELDS: tuple[str, ...] = ()
    _ATTRS: tuple[str, ...] = ()
    _CHECKS: tuple = ()  # generated: (field name, slot, check) of each plain scalar field

    def __init__(self, _value: Any = None, **fields: Any) -> None:
        if _value is not None or fields:
            init_fields(self, _value, fields)

    @classmethod
    def decode(cls, buf: Any, pos: int = 0) -> "Record":
        """Decode the message at `pos` of `buf`; generated record classes implement it."""
        raise NotImplementedError(f"{cls.__name__} has no decoder")

    def encode(self) -> bytes:
        """Wire bytes of this record; generated record classes implement it."""
        raise NotImplementedError(f"{type(self).__name__} has no encoder")

    def __getitem__(self, key: str) -> Any:
        try:
            i = self.FIELDS.index(key)
        except ValueError:
            raise KeyError(f"{self.NAME} has no field {key!r}") from None
        return getattr(self, self._ATTRS[i])

    def __setitem__(self, key: str, value: Any) -> None:
        try:
            i = self.FIELDS.index(key)
        except ValueError:
            raise KeyError(f"{self.NAME} has no field {key!r}") from None
        setattr(self, self._ATTRS[i], value)

    def __contains__(self, key: object) -> bool:
        return key in self.FIELDS

    def __iter__(self) -> Iterator[str]:
        return iter(self.FIELDS)

    def keys(self) -> tuple[str, ...]:
        return self.FIELDS

    def items(self) -> list[tuple[str, Any]]:
        return [(n, getattr(self, a)) for n, a in zip(self.FIELDS, self._ATTRS)]

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self.FIELDS else default

    def as_dict(self) -> dict[str, Any]:
        """Field name -> logical value (nested records stay records)."""
        return dict(self.items())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Record):
            if other.NAME != self.NAME or other.FIELDS != self.FIELDS:
                return False
            return all(_eq(a, b) for (_, a), (_, b) in zip(self.items(), other.items()))
        if isinstance(other, dict):
            return self == type(self)(**other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # unhashable: __eq__ compares values

    def __repr__(self) -> str:
        return f"{self.NAME}(" + ", ".join(f"{n}={v!r}" for n, v in self.items()) + ")"


class ValueRecord(Record):
    """A record holding decoded logical values as they are: what the construct reference codec
    returns (it needs no generated class). Read-only apart from item assignment."""

    __slots__ = ("_values",)

    def __init__(self, _value: Any = None, **fields: Any) -> None:
        values = dict.fromkeys(self.FIELDS)
        values.update(_value or {}, **fields)
        unknown = set(values) - set(self.FIELDS)
        if unknown:
            raise EncodeError(f"no field {sorted(unknown)[0]!r} (fields: {', '.join(self.FIELDS)})", message=self.NAME)
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        if name == "_values":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"{self.NAME} has no field {name!r}") from None

    def __getitem__(self, key: str) -> Any:
        if key not in self.FIELDS:
            raise KeyError(f"{self.NAME} has no field {key!r}")
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self.FIELDS:
            raise KeyError(f"{self.NAME} has no field {key!r}")
        self._values[key] = value

    def items(self) -> list[tuple[str, Any]]:
        return [(n, self._values[n]) for n in self.FIELDS]


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # NaN payloads compare equal as values here
    if isinstance(a, Decimal) and isinstance(b, Decimal) and a.is_nan() and b.is_nan():
        return a.is_snan() == b.is_snan()
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a == b and a.as_tuple().exponent == b.as_tuple().exponent or (a == b and a.is_infinite())
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b))
    return a == b


def as_record(cls: type[Record], value: Any, path: str) -> Record:
    """Accept a record of `cls`, a dict, None (all unset) or a record of the same message name."""
    if type(value) is cls:
        return value
    if value is None:
        return cls()
    if isinstance(value, dict):
        return cls(**value)
    if isinstance(value, Record) and value.NAME == cls.NAME:
        return cls(**value.as_dict())
    raise EncodeError(f"expected {cls.NAME} as a mapping or record, got {type(value).__name__}", path=path)


def init_fields(rec: Record, value: Any, fields: dict) -> None:
    """Set fields of a fresh record from a mapping/record and keywords; None leaves a field unset."""
    if value is not None:
        if isinstance(value, Record):
            value = value.as_dict()
        elif not isinstance(value, dict):
            raise EncodeError(f"expected a mapping or record, got {type(value).__name__}", message=rec.NAME)
        fields = {**value, **fields}
    attr_of = _attr_map(type(rec))
    for key, v in fields.items():
        if v is None:
            continue
        attr = attr_of.get(key)
        if attr is None:
            raise EncodeError(f"no field {key!r} (fields: {', '.join(rec.FIELDS)})", message=rec.NAME)
        try:
            setattr(rec, attr, v)
        except EncodeError as e:
            if not e.path:
                e.within(key, rec.NAME)
            raise


def _attr_map(cls: type[Record]) -> dict[str, str]:
    """Field name -> attribute name, built once per record class."""
    m = cls.__dict__.get("_ATTR_OF")
    if m is None:
        m = dict(zip(cls.FIELDS, cls._ATTRS))
        setattr(cls, "_ATTR_OF", m)
    return m


def pack_failure(rec: Record) -> None:
    """Find the plain scalar field that struct refused and raise an EncodeError naming it."""
    for name, slot, check in type(rec)._CHECKS:
        try:
            check(getattr(rec, slot))
        except EncodeError as e:
            raise e.within(name, rec.NAME) from None
    raise EncodeError("cannot pack message", message=rec.NAME)
