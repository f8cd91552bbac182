"""Scheme YAML -> model: the config-tree rules, scopes, aliases, imports, options, validation.

The reference reads a scheme into a config tree first, so: dotted keys are paths, every scalar is
a string, maps are ordered by key (enum values, options and local types come out sorted by name),
and unknown keys are ignored. Entries are processed in one pass; a name can refer only to what is
already defined.
"""
from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any, Callable

from tllschema.errors import ParseError
from tllschema.model import (
    INT_TYPES, POINTER_VERSIONS, RESOLUTIONS, Array, BitField, BitsDef, Bytes, EnumDef, Field, Message,
    MessageRef, Pointer, Scalar, SubType, UnionDef, UnionRef, innermost, int_limits,
)
from tllschema.tree import flatten, leaves, load_yaml, parse_bool, parse_int, sorted_map, to_tree

_SCALARS = set(INT_TYPES) | {"double", "decimal128"}


def _copy_wire(t: Any) -> Any:
    """A copy of a wire type's node chain (wrappers and the innermost scalar, which `_apply_sub`
    may change); messages, unions, enums and bits stay shared, as the reference refers to them
    by name."""
    if isinstance(t, (Array, Pointer)):
        return dataclasses.replace(t, elem=_copy_wire(t.elem))
    if isinstance(t, (Scalar, Bytes)):
        return copy.copy(t)
    return t


class _Alias:
    def __init__(self, name: str, entry: dict, wire: Any):
        self.name, self.entry, self.wire = name, entry, wire


class SchemeBuilder:
    """Accumulates one scheme's definitions while its entries (and imports) are parsed."""

    def __init__(self, resolve_import: Callable[[str, str | None], tuple[str, str, str | None]]):
        self.messages: dict[str, Message] = {}
        self.enums: dict[str, EnumDef] = {}
        self.unions: dict[str, UnionDef] = {}
        self.bits: dict[str, BitsDef] = {}
        self.aliases: dict[str, _Alias] = {}
        self.options: dict[str, str] = {}
        self.imports: dict[str, dict] = {}
        self._resolve_import = resolve_import
        self._seen_imports: set[str] = set()

    # -- documents -------------------------------------------------------------------------------
    def add_document(self, text: str, url: str, filename: str | None, imported: bool) -> None:
        where = filename or ("inline scheme" if url.startswith("yamls://") else "compressed scheme")
        doc = load_yaml(text, where)
        if doc in (None, ""):
            return
        if isinstance(doc, dict):
            doc = [doc[k] for k in sorted(doc)]
        if not isinstance(doc, list):
            raise ParseError(f"{where}: a scheme is a list of entries, got {type(doc).__name__}")
        meta_seen = False
        for raw in doc:
            entry = to_tree(raw, where)
            if not isinstance(entry, dict):
                raise ParseError(f"{where}: scheme entry is not a mapping: {raw!r}")
            name = entry.get("name", "")
            if name in ("", "~", "null"):
                if meta_seen:
                    raise ParseError(f"{where}: duplicate meta block")
                meta_seen = True
                try:
                    self._meta(entry, url if imported else None, filename, where)
                except ParseError as e:
                    raise ParseError(f"{where}: meta block: {e}") from None
            else:
                if not isinstance(name, str):
                    raise ParseError(f"{where}: invalid message name {name!r}")
                if name in self.messages:
                    raise ParseError(f"{where}: duplicate message '{name}'")
                try:
                    msg = self._message(entry, name)
                except ParseError as e:
                    raise ParseError(f"{where}: {e}") from None
                if imported:
                    msg.options.setdefault("_import", url)
                self.messages[name] = msg

    def _meta(self, entry: dict, import_url: str | None, filename: str | None, where: str) -> None:
        opts = flatten(entry.get("options", {}))
        for k, v in opts.items():
            self.options.setdefault(k, v)
        ctx = Message(name="")
        for name, body in sorted_map(entry.get("enums"), "enums").items():
            if name in self.enums:
                raise ParseError(f"duplicate enum name {name}")
            self.enums[name] = self._enum(name, body)
        for name, body in sorted_map(entry.get("unions"), "unions").items():
            if name in self.unions:
                raise ParseError(f"duplicate union name {name}")
            self.unions[name] = self._union(name, body, ctx)
        for name, body in sorted_map(entry.get("bits"), "bits").items():
            if name in self.bits:
                raise ParseError(f"duplicate bits name {name}")
            self.bits[name] = self._bits(name, body)
        aliases = entry.get("aliases", [])
        if isinstance(aliases, dict):
            aliases = [aliases[k] for k in sorted(aliases)]
        for a in aliases or []:
            if not isinstance(a, dict) or not a.get("name"):
                raise ParseError("alias without name")
            name = a["name"]
            if name in self.aliases:
                raise ParseError(f"duplicate alias name {name}")
            for key, kind in (("enum", "enums"), ("union", "unions"), ("bits", "bits")):
                if key in a:
                    raise ParseError(f"failed to load alias {name}: inline {kind} not allowed")
            try:
                f = self._field(a, ctx)
            except ParseError as e:
                raise ParseError(f"failed to load alias {name}: {e}") from None
            if isinstance(f.type, (MessageRef, UnionRef)) or (isinstance(f.type, Scalar) and f.type.sub is SubType.BITS):
                raise ParseError(f"alias {name}: aliases to messages, unions or bits are not supported")
            self.aliases[name] = _Alias(name, a, f)
        for url in leaves(entry.get("import", [])):
            self._import(url, filename)

    def _import(self, url: str, importer: str | None) -> None:
        resolved, text, filename = self._resolve_import(url, importer)
        if resolved in self._seen_imports:
            return
        self._seen_imports.add(resolved)
        before = dict(self.options)
        self.options = {}
        try:
            self.add_document(text, resolved, filename, imported=True)
        except ParseError as e:
            raise ParseError(f"failed to load import {url}: {e}") from None
        own = self.options
        self.options = before
        for k, v in own.items():
            self.options.setdefault(k, v)
        self.imports[resolved] = {"url": resolved, "filename": filename, "options": own}

    # -- messages --------------------------------------------------------------------------------
    def _message(self, entry: dict, name: str) -> Message:
        try:
            msgid = parse_int(entry["id"], "id") if "id" in entry else 0
            if not -(1 << 31) <= msgid < (1 << 31):
                raise ParseError(f"id {msgid} does not fit int32")
            msg = Message(name=name, msgid=msgid, options=flatten(entry.get("options", {})))
            for tname, body in sorted_map(entry.get("enums"), "enums").items():
                msg.enums[tname] = self._enum(tname, body)
            for tname, body in sorted_map(entry.get("unions"), "unions").items():
                msg.unions[tname] = self._union(tname, body, msg)
            for tname, body in sorted_map(entry.get("bits"), "bits").items():
                msg.bits[tname] = self._bits(tname, body)
            default_optional = parse_bool(msg.options.get("defaults.optional", "false"), "defaults.optional")
            fields = entry.get("fields", [])
            if isinstance(fields, dict):
                fields = [fields[k] for k in sorted(fields)]
            offset = 0
            index = 0
            for fe in fields or []:
                if not isinstance(fe, dict) or not fe.get("name"):
                    raise ParseError("field without name")
                fname = fe["name"]
                try:
                    new = self._inline_or_field(fe, msg)
                except ParseError as e:
                    raise ParseError(f"field {fname}: {e}") from None
                for f in new:
                    if any(g.name == f.name for g in msg.fields):
                        raise ParseError(f"duplicate field name {f.name}")
                    f.offset = offset
                    offset += f.size
                    if parse_bool(f.options.get("pmap", "no"), f"field {f.name} pmap"):
                        if not isinstance(f.type, (Scalar, Bytes)) or (isinstance(f.type, Scalar) and not f.type.is_int):
                            raise ParseError(f"invalid pmap type for field {f.name}")
                        if msg.pmap is not None:
                            raise ParseError(f"duplicate pmap fields: {msg.pmap.name} and {f.name}")
                        f.pmap = True
                        msg.pmap = f
                        msg.fields.append(f)
                        continue
                    if parse_bool(f.options.get("optional", "yes" if default_optional else "no"), f"field {f.name} optional"):
                        f.index = index
                        index += 1
                    msg.fields.append(f)
            return msg
        except ParseError as e:
            raise ParseError(f"message {name}: {e}") from None

    def _inline_or_field(self, fe: dict, msg: Message) -> list[Field]:
        opts = flatten(fe.get("options", {}))
        if parse_bool(opts.get("inline", "no"), "inline"):
            target = self.messages.get(fe.get("type", ""))
            if target is None:
                raise ParseError(f"inline: message '{fe.get('type')}' not found")
            extra = {k: v for k, v in opts.items() if k != "inline"}
            out = []
            for f in target.fields:
                g = copy.copy(f)
                g.options = dict(sorted({**f.options, **extra}.items()))
                out.append(g)
            return out
        return [self._field(fe, msg)]

    # -- fields ----------------------------------------------------------------------------------
    def _field(self, fe: dict, msg: Message) -> Field:
        name = fe.get("name")
        if not name:
            raise ParseError("field without name")
        if "type" not in fe:
            raise ParseError("type not found")
        tstr = fe["type"]
        if not isinstance(tstr, str) or tstr.strip("*") == "":
            raise ParseError(f"empty type {tstr!r}")
        options = flatten(fe.get("options", {}))
        list_options = flatten(fe.get("list-options", {}))
        stars = len(tstr) - len(tstr.lstrip("*"))
        rest = tstr[stars:]
        count = None
        if "[" in rest or "]" in rest:
            i = rest.find("[")
            if i <= 0 or not rest.endswith("]"):
                raise ParseError(f"invalid array definition {tstr!r}")
            cstr = rest[i + 1:-1]
            if "[" in cstr or "]" in cstr:
                raise ParseError(f"invalid array size {cstr}: nested arrays are not supported ({tstr!r})")
            try:
                count = parse_int(cstr, "array size")
            except ParseError:
                raise ParseError(f"invalid array size {cstr!r} in {tstr!r}") from None
            if count <= 0:
                raise ParseError(f"invalid array size {count} in {tstr!r}")
            rest = rest[:i]
        if "max_count" in fe:
            raise ParseError("deprecated max_count is not supported; use T[N] or *T")

        if rest == "int8" and stars and options.get("type") == "string":
            # As the reference reads it, the innermost pointer of `*int8` with a string sub-type
            # is itself the string (the same field as `string`), not a list of strings.
            rest, stars = "string", stars - 1
        elem, options, list_options = self._base(rest, fe, msg, name, options, list_options, stars > 0)
        version = list_options.get("offset-ptr-type", "default")
        if version not in POINTER_VERSIONS:
            raise ParseError(f"unknown offset-ptr-type: {version}")
        t = elem
        for _ in range(stars):
            t = Pointer(t, version=version)
        if count is not None:
            ct = list_options.get("count-type")
            explicit = ct is not None
            if ct is None:
                ct = "int8" if count < 0x80 else "int16" if count < 0x8000 else "int32"
            if ct not in INT_TYPES:
                raise ParseError(f"invalid option count-type: {ct}")
            lo, hi = int_limits(ct)
            if count > hi:
                raise ParseError(f"array size {count} does not fit count-type {ct}")
            t = Array(t, count, ct, explicit)
            if explicit or ct != ("int8" if count < 0x80 else "int16" if count < 0x8000 else "int32"):
                list_options["count-type"] = ct
        if version != "default" and (stars or (isinstance(elem, Pointer) and elem.string)):
            list_options["offset-ptr-type"] = version
        return Field(name=name, type=t, options=dict(sorted(options.items())),
                     list_options=dict(sorted(list_options.items())))

    def _base(self, base: str, fe: dict, msg: Message, fname: str, options: dict, list_options: dict,
              under_pointer: bool):
        """Resolve the element type name and apply the logical sub-type from options."""
        version = list_options.get("offset-ptr-type", "default")
        if base == "string":
            elem: Any = Pointer(Scalar("int8"), version=version if version in POINTER_VERSIONS else "default", string=True)
            return elem, options, list_options
        if base in _SCALARS:
            elem = Scalar(base)
        elif base.startswith("byte"):
            try:
                n = int(base[4:], 10)
                if not base[4:].isdigit():
                    raise ValueError
            except ValueError:
                raise ParseError(f"invalid bytes count {base[4:]!r} in type {base!r}") from None
            elem = Bytes(max(n, 1))
        elif base == "union":
            if "union" not in fe:
                raise ParseError("type union needs a 'union' list of variants")
            if fname in msg.unions:
                raise ParseError(f"can not create auto-union {fname}, duplicate name")
            u = self._union(fname, {"union": fe["union"]}, msg)
            u.inline = True
            msg.unions[fname] = u
            return UnionRef(u), options, list_options
        else:
            found = self._lookup(base, msg)
            if found is None:
                raise ParseError(f"message or enum '{base}' not found")
            kind, obj = found
            if kind == "message":
                return MessageRef(obj), options, list_options
            if kind == "union":
                return UnionRef(obj), options, list_options
            if kind == "enum":
                elem = Scalar(obj.base, sub=SubType.ENUM, enum=obj)
            elif kind == "bits":
                elem = Scalar(obj.base, sub=SubType.BITS, bits=obj)
            else:  # alias: its resolved options (an alias of an alias carries the inner one's), the field's own win
                alias: _Alias = obj
                options = dict(sorted({**alias.wire.options, **options}.items()))
                list_options = {**alias.wire.list_options, **list_options}
                elem = _copy_wire(alias.wire.type)
                inner = innermost(elem)
                if isinstance(inner, (Scalar, Bytes)):
                    self._apply_sub(inner, options, fe, msg, fname, under_pointer, elem)
                return elem, options, list_options
        return self._apply_sub(elem, options, fe, msg, fname, under_pointer, elem), options, list_options

    def _apply_sub(self, elem: Any, options: dict, fe: dict, msg: Message, fname: str, under_pointer: bool, outer: Any):
        sub = options.get("type")
        if sub is None:
            return elem
        if isinstance(elem, Bytes):
            if sub == "string":
                elem.string = True
            return elem
        if not isinstance(elem, Scalar):
            return elem
        if sub == "string":
            if elem.name == "int8" and under_pointer:
                return Pointer(Scalar("int8"), string=True)
            if elem.name == "int8":
                raise ParseError("failed to parse sub-type string: int8 needs a pointer ('*int8')")
            return elem
        if sub in ("enum", "bits"):
            return self._inline_logical(elem, sub, fe, msg, fname)
        m = re.fullmatch(r"fixed(\d+)", sub)
        if m:
            if elem.is_int:
                prec = int(m.group(1))
                if prec > 19:
                    raise ParseError(f"failed to parse sub-type {sub}: precision too large")
                elem.sub, elem.precision = SubType.FIXED, prec
            elif elem.name != "double":
                raise ParseError(f"failed to parse sub-type {sub}: invalid type {elem.name}")
            return elem
        if sub in ("time_point", "duration"):
            if elem.name == "decimal128":
                raise ParseError(f"failed to parse sub-type {sub}: invalid type decimal128")
            res = options.get("resolution")
            if res is None:
                raise ParseError(f"failed to parse sub-type {sub}: missing resolution")
            if res not in RESOLUTIONS:
                raise ParseError(f"failed to parse sub-type {sub}: unknown resolution {res!r}")
            elem.sub = SubType.TIME_POINT if sub == "time_point" else SubType.DURATION
            elem.resolution = RESOLUTIONS[res]
            return elem
        return elem

    def _inline_logical(self, elem: Scalar, sub: str, fe: dict, msg: Message, fname: str) -> Scalar:
        """`options.type: enum|bits` on an integer field: a named type stays, else build it inline."""
        kind = SubType.ENUM if sub == "enum" else SubType.BITS
        if elem.sub is kind:
            return elem
        if not elem.is_int:
            if kind is SubType.BITS:
                return elem  # ignored on double, as the reference does
            raise ParseError(f"failed to parse sub-type enum: invalid type {elem.name}")
        if sub not in fe:
            raise ParseError(f"failed to parse sub-type {sub}: inline {sub} needs an '{sub}' entry")
        if fname in (msg.enums if kind is SubType.ENUM else msg.bits):
            raise ParseError(f"can not create auto-{sub} {fname}, duplicate name")
        body = {"type": elem.name, sub: fe[sub]}
        if kind is SubType.ENUM:
            e = msg.enums[fname] = elem.enum = self._enum(fname, body)
            e.inline = True
        else:
            b = msg.bits[fname] = elem.bits = self._bits(fname, body)
            b.inline = True
        elem.sub = kind
        return elem

    def _lookup(self, name: str, msg: Message):
        if name in self.messages:
            return "message", self.messages[name]
        for kind, store in (("enum", msg.enums), ("union", msg.unions), ("bits", msg.bits),
                            ("enum", self.enums), ("union", self.unions), ("bits", self.bits),
                            ("alias", self.aliases)):
            if name in store:
                return kind, store[name]
        return None

    # -- type definitions ------------------------------------------------------------------------
    def _enum(self, name: str, body: Any) -> EnumDef:
        if not isinstance(body, dict):
            raise ParseError(f"failed to parse enum {name}: expected a mapping")
        base = body.get("type")
        if not base:
            raise ParseError(f"failed to parse enum {name}: missing type")
        base = {"enum1": "int8", "enum2": "int16", "enum4": "int32", "enum8": "int64"}.get(base, base)
        if base not in INT_TYPES:
            raise ParseError(f"failed to parse enum {name}: invalid type: {base}")
        values = body.get("enum")
        if not values or not isinstance(values, dict):
            raise ParseError(f"failed to parse enum {name}: no values")
        lo, hi = int_limits(base)
        out = {}
        for k in sorted(values):
            v = parse_int(values[k], f"enum {name} value {k}")
            if not lo <= v <= hi:
                raise ParseError(f"enum {name}: value {k}={v} does not fit {base}")
            out[k] = v
        return EnumDef(name, base, out, flatten(body.get("options", {})))

    def _bits(self, name: str, body: Any) -> BitsDef:
        if not isinstance(body, dict):
            raise ParseError(f"failed to parse bits {name}: expected a mapping")
        base = body.get("type")
        if base not in INT_TYPES:
            raise ParseError(f"failed to parse bits {name}: invalid type: {base}")
        items = body.get("bits", [])
        if isinstance(items, dict):
            items = [items[k] for k in sorted(items)]
        out: list[BitField] = []
        pos = 0
        width = INT_TYPES[base][0] * 8
        for it in items or []:
            if isinstance(it, dict):
                bname = it.get("name")
                if not bname:
                    raise ParseError(f"bits {name}: invalid bit description: no name")
                if "offset" not in it:
                    raise ParseError(f"bits {name}: invalid offset for bit {bname}: missing value")
                off = parse_int(it["offset"], f"bits {name} bit {bname} offset")
                size = parse_int(it.get("size", "1"), f"bits {name} bit {bname} size")
            else:
                bname, off, size = it, pos, 1
            if size <= 0 or off < 0 or off + size > width:
                raise ParseError(f"bits {name}: bit {bname} (offset {off}, size {size}) does not fit {base}")
            if any(b.name == bname for b in out):
                raise ParseError(f"bits {name}: duplicate bit name {bname}")
            out.append(BitField(bname, off, size))
            pos = off + size
        return BitsDef(name, base, out, flatten(body.get("options", {})))

    def _union(self, name: str, body: Any, msg: Message) -> UnionDef:
        if not isinstance(body, dict) or "union" not in body:
            raise ParseError(f"union {name}: needs a 'union' list of variants")
        variants = body["union"]
        if isinstance(variants, dict):
            variants = [variants[k] for k in sorted(variants)]
        if not variants:
            raise ParseError(f"union {name}: no variants")
        if len(variants) > 127:
            raise ParseError(f"union {name}: too many variants for an int8 tag")
        fields: list[Field] = []
        for v in variants:
            if not isinstance(v, dict) or not v.get("name"):
                raise ParseError(f"union {name}: union field without name")
            if any(f.name == v["name"] for f in fields):
                raise ParseError(f"union {name}: duplicate variant {v['name']}")
            try:
                fields.append(self._field(v, msg))
            except ParseError as e:
                raise ParseError(f"union {name} variant {v['name']}: {e}") from None
        return UnionDef(name, fields)
