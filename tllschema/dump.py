"""Scheme -> the reference's canonical YAML text (`yamls://`) and its compressed form (`yamls+gz://`).

Storage files embed `yamls+gz`, so the text must match the reference's dumper byte for byte:
names and option values in single quotes (not escaped), maps in key order, imports flattened.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from tllschema.errors import SchemeError
from tllschema.model import (
    Array, BitsDef, Bytes, EnumDef, Field, MessageRef, Pointer, Scalar, SubType, UnionRef, WireType,
)
from tllschema.url import compress_text

if TYPE_CHECKING:
    from tllschema.scheme import Scheme


def dump(scheme: "Scheme", fmt: str = "yamls") -> str:
    """`yamls://TEXT`, `yamls+gz://BASE64` or `sha256://HEX` (the SHA-256 of TEXT), as the
    reference's `tll_scheme_dump(s, fmt)` returns them."""
    text = dump_text(scheme)
    if fmt == "yamls":
        return "yamls://" + text
    if fmt == "yamls+gz":
        return "yamls+gz://" + compress_text(text)
    if fmt == "sha256":
        return "sha256://" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    raise SchemeError(f"unknown dump format {fmt!r} (expected yamls, yamls+gz or sha256)")


def _opts(options: dict[str, str]) -> str:
    items = [(k, v) for k, v in sorted(options.items()) if not k.startswith("_")]
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in items) + "}" if items else ""


def _enum(e: EnumDef) -> str:
    vals = ", ".join(f"'{k}': {v}" for k, v in e.values.items())
    opts = _opts(e.options)
    return f"{{type: {e.base}, enum: {{{vals}}}" + (f", options: {opts}" if opts else "") + "}"


def _bit_list(b: BitsDef) -> str:
    return "[" + ", ".join(f"{{name: '{x.name}', offset: {x.offset}, size: {x.size}}}" for x in b.bits) + "]"


def _bits(b: BitsDef) -> str:
    opts = _opts(b.options)
    return f"{{type: {b.base}, bits: {_bit_list(b)}" + (f", options: {opts}" if opts else "") + "}"


def _type_name(t: WireType) -> str:
    if isinstance(t, Scalar):
        if t.sub is SubType.ENUM and t.enum is not None and not t.enum.inline:
            return t.enum.name
        if t.sub is SubType.BITS and t.bits is not None and not t.bits.inline:
            return t.bits.name
        return t.name
    if isinstance(t, Bytes):
        return f"byte{t.n}"
    if isinstance(t, MessageRef):
        return t.message.name
    if isinstance(t, UnionRef):
        return "union" if t.union.inline else t.union.name
    if isinstance(t, Pointer):
        return "string" if t.string else "*" + _type_name(t.elem)
    if isinstance(t, Array):
        return f"{_type_name(t.elem)}[{t.capacity}]"
    raise SchemeError(f"cannot dump type {t!r}")


def field_text(f: Field) -> str:
    out = f"{{name: '{f.name}', type: '{_type_name(f.type)}'"
    t = f.type
    if isinstance(t, (Array, Pointer)) and not (isinstance(t, Pointer) and t.string):
        lo = _opts(f.list_options)
        if lo:
            out += f", list-options: {lo}"
    elif isinstance(t, Pointer) and t.string:
        lo = _opts(f.list_options)
        if lo:
            out += f", list-options: {lo}"
    o = _opts(f.options)
    if o:
        out += f", options: {o}"
    if isinstance(t, UnionRef) and t.union.inline:
        out += ", union: [" + ", ".join(field_text(v) for v in t.union.fields) + "]"
    if isinstance(t, Scalar) and t.sub is SubType.ENUM and t.enum is not None and t.enum.inline:
        out += ", enum: {" + ", ".join(f"'{k}': {v}" for k, v in t.enum.values.items()) + "}"
    if isinstance(t, Scalar) and t.sub is SubType.BITS and t.bits is not None and t.bits.inline:
        out += f", bits: {_bit_list(t.bits)}"
    return out + "}"


def dump_text(scheme: "Scheme") -> str:
    lines: list[str] = []
    opts = _opts(scheme.options)
    if opts or scheme.enums or scheme.bits or scheme.unions or scheme.aliases:
        lines.append("- name: ''")
        if opts:
            lines.append(f"  options: {opts}")
        if scheme.enums:
            lines.append("  enums:")
            lines += [f"    '{n}': {_enum(e)}" for n, e in scheme.enums.items()]
        if scheme.bits:
            lines.append("  bits:")
            lines += [f"    '{n}': {_bits(b)}" for n, b in scheme.bits.items()]
        if scheme.unions:
            lines.append("  unions:")
            lines += [f"    '{n}': {{union: [{', '.join(field_text(v) for v in u.fields)}]}}" for n, u in scheme.unions.items()]
        if scheme.aliases:
            lines.append("  aliases:")
            lines += [f"    - {field_text(a)}" for a in scheme.aliases.values()]
    for m in scheme.messages:
        lines.append(f"- name: '{m.name}'")
        if m.msgid:
            lines.append(f"  id: {m.msgid}")
        mo = _opts(m.options)
        if mo:
            lines.append(f"  options: {mo}")
        if m.enums:
            lines.append("  enums:")
            lines += [f"    '{n}': {_enum(e)}" for n, e in m.enums.items() if not e.inline]
        if m.bits:
            lines.append("  bits:")
            lines += [f"    '{n}': {_bits(b)}" for n, b in m.bits.items() if not b.inline]
        if m.unions:
            lines.append("  unions:")
            lines += [f"    '{n}': {{union: [{', '.join(field_text(v) for v in u.fields)}]}}"
                      for n, u in m.unions.items() if not u.inline]
        if m.fields:
            lines.append("  fields:")
            lines += [f"    - {field_text(f)}" for f in m.fields]
    return "".join(line + "\n" for line in lines)
