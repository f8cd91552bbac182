"""`Scheme`: a loaded scheme with its messages, fast codecs and `dump`."""
from __future__ import annotations

from typing import Any

from tllschema import dump as _dump
from tllschema.compile import build, generate
from tllschema.errors import EncodeError, SchemeError
from tllschema.model import BitsDef, EnumDef, Message, UnionDef
from tllschema.parse import SchemeBuilder
from tllschema.record import Record
from tllschema.url import fetch


class Scheme:
    """A loaded scheme: messages in declaration order (imports flattened in), global types, options."""

    def __init__(self, builder: SchemeBuilder, url: str):
        self.url = url
        self.messages: list[Message] = list(builder.messages.values())
        self.enums: dict[str, EnumDef] = dict(sorted(builder.enums.items()))
        self.unions: dict[str, UnionDef] = dict(sorted(builder.unions.items()))
        self.bits: dict[str, BitsDef] = dict(sorted(builder.bits.items()))
        self.aliases = {k: v.wire for k, v in sorted(builder.aliases.items())}
        self.options: dict[str, str] = dict(sorted(builder.options.items()))
        self.imports = builder.imports
        self.by_name: dict[str, Message] = {m.name: m for m in self.messages}
        self.by_msgid: dict[int, Message] = {}
        for m in self.messages:
            m.scheme = self
            if m.msgid and m.msgid not in self.by_msgid:
                self.by_msgid[m.msgid] = m
        self._ns = build(self.messages, url)
        for m in self.messages:
            cls = m.record_class = self._ns["MESSAGES"][m.name]  # type: ignore[attr-defined]
            m.decode = cls.decode  # type: ignore[attr-defined]  # the generated classmethod itself: no extra call

    def message(self, key: str | int) -> Message:
        """Message by name or msgid; SchemeError when there is none."""
        if isinstance(key, int) and not isinstance(key, bool):
            m = self.by_msgid.get(key)
        else:
            m = self.by_name.get(key)  # type: ignore[arg-type]
        if m is None:
            known = ", ".join(f"{m.name}({m.msgid})" for m in self.messages) or "none"
            raise SchemeError(f"no message {key!r} in scheme (messages: {known})")
        return m

    def __contains__(self, key: object) -> bool:
        return key in self.by_name or key in self.by_msgid

    def __iter__(self):
        return iter(self.messages)

    def dump(self, fmt: str = "yamls") -> str:
        """Serialise as `yamls://TEXT` or `yamls+gz://BASE64`, the way the reference does."""
        return _dump.dump(self, fmt)

    def source(self) -> str:
        """Python source of the generated fast codec module."""
        return generate(self.messages, self.dump("yamls+gz"))

    def __repr__(self) -> str:
        return f"Scheme({[m.name for m in self.messages]})"


def load(url: str) -> Scheme:
    """Load a scheme from `yaml://PATH`, `yamls://TEXT`, `yamls+gz://BASE64` or a file path."""
    canonical, text, filename = fetch(url)
    builder = SchemeBuilder(fetch)
    builder.add_document(text, canonical, filename, imported=False)
    return Scheme(builder, canonical)


# -- Message convenience methods (bound onto the model class) ------------------------------------
def _decode(self: Message, body: Any, pos: int = 0) -> Record:
    """Decode `body` (bytes-like) as this message -> Record; DecodeError on bad bytes."""
    return self.record_class.decode(body, pos)  # type: ignore[attr-defined]


def _encode(self: Message, value: Any = None, **fields: Any) -> bytes:
    """Encode a mapping, record or keywords as this message; unset fields are zero."""
    cls = self.record_class  # type: ignore[attr-defined]
    if type(value) is cls and not fields:
        return value.encode()
    if value is not None and not isinstance(value, (dict, Record)):
        raise EncodeError(f"expected a mapping or record, got {type(value).__name__}", message=self.name)
    return cls(value, **fields).encode()


def _new(self: Message, value: Any = None, **fields: Any) -> Record:
    """A record of this message from a mapping/record and keywords."""
    return self.record_class(value, **fields)  # type: ignore[attr-defined]


Message.decode = _decode  # type: ignore[attr-defined]
Message.encode = _encode  # type: ignore[attr-defined]
Message.new = _new  # type: ignore[attr-defined]
