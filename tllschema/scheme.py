"""`Scheme`: a loaded scheme with its messages, fast codecs and `dump`."""
from __future__ import annotations

from typing import Iterator

from tllschema import dump as _dump
from tllschema.compile import build, generate
from tllschema.errors import SchemeError
from tllschema.model import BitsDef, EnumDef, Message, UnionDef
from tllschema.parse import SchemeBuilder
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
        self._ns = build(self.messages, url, self.hash())
        for m in self.messages:
            m.bind(self._ns["MESSAGES"][m.name])

    def message(self, key: str | int) -> Message:
        """Message by name or msgid; SchemeError when there is none."""
        if isinstance(key, int) and not isinstance(key, bool):
            m = self.by_msgid.get(key)
        else:
            m = self.by_name.get(str(key))
        if m is None:
            known = ", ".join(f"{m.name}({m.msgid})" for m in self.messages) or "none"
            raise SchemeError(f"no message {key!r} in scheme (messages: {known})")
        return m

    def __contains__(self, key: object) -> bool:
        return key in self.by_name or key in self.by_msgid

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)

    def dump(self, fmt: str = "yamls") -> str:
        """Serialise as `yamls://TEXT` or `yamls+gz://BASE64`, or hash as `sha256://HEX` (of the
        yamls text), the way the reference does."""
        return _dump.dump(self, fmt)

    def hash(self) -> str:
        """`sha256://HEX` of the canonical dump: equal for schemes that define the same messages."""
        return self.dump("sha256")

    def source(self) -> str:
        """Python source of the generated fast codec module (stamped with the runtime ABI and `hash()`)."""
        return generate(self.messages, self.dump("yamls+gz"), self.hash())

    def __repr__(self) -> str:
        return f"Scheme({[m.name for m in self.messages]})"


def load(url: str) -> Scheme:
    """Load a scheme from `yaml://PATH`, `yamls://TEXT`, `yamls+gz://BASE64` or a file path."""
    canonical, text, filename = fetch(url)
    builder = SchemeBuilder(fetch)
    builder.add_document(text, canonical, filename, imported=False)
    return Scheme(builder, canonical)
