"""Scheme model -> Python source: one Record class per message over precompiled `struct.Struct`s.

The generated module is the library's fast path (exec'd in-process by `Scheme`) and what
`streamproto schema compile` writes to disk. Per message it emits:

* a class with `__slots__`, `NAME`, `MSGID`, `SIZE`, `FIELDS`, `decode(buf, pos=0)`, `encode()`;
* plain scalar fields as slots holding wire values; logical fields (enum, bits, fixed point, time,
  bytes) as a raw slot plus a property that converts only when the value is asked for;
* one `struct.Struct` for all scalar fields of the fixed part, so a message without pointers
  decodes with a single `unpack_from` and encodes with a single `pack`.
"""
from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from typing import Any, Callable

from tllschema.compile_types import TypeCodegen
from tllschema.errors import SchemeError
from tllschema.model import Array, Bytes, Field, Message, MessageRef, Pointer, Scalar, UnionRef
from tllschema.runtime import RUNTIME_ABI

Emit = Callable[..., None]  # appends one line of generated source
_RESERVED = {"encode", "decode", "NAME", "MSGID", "SIZE", "FIELDS", "keys", "items", "get", "as_dict"}


@dataclass
class _Layout:
    """What the generator decided about one message before emitting it."""

    msg: Message
    cls: str
    attrs: list[str] = field(default_factory=list)      # attribute per field (name, or _fN)
    slots: list[str] = field(default_factory=list)      # storage slot per field (_r_NAME: raw)
    defaults: list[tuple[str, str]] = field(default_factory=list)
    scalars: list[tuple[Field, str, str]] = field(default_factory=list)   # (field, attr, slot)
    composite: list[tuple[str, list[str], list[str]]] = field(default_factory=list)  # (name, dec, enc)
    optional: dict[str, int] = field(default_factory=dict)  # slot -> presence bit
    fmt: str = "<"

    @property
    def struct(self) -> str:
        return f"_S_{self.cls}"

    @property
    def raw_slots(self) -> list[str]:
        return [slot for _, _, slot in self.scalars]

    @property
    def fixed_only(self) -> bool:
        """No tail and no presence map: one struct unpack/pack is the whole codec."""
        return not self.composite and self.msg.pmap is None and bool(self.scalars)

    @property
    def unpack_target(self) -> str:
        raw = self.raw_slots
        return ", ".join(f"self.{x}" for x in raw) + ("," if len(raw) == 1 else "")

    @property
    def pack_args(self) -> str:
        return ", ".join(f"self.{x}" if x not in self.optional else f"_z(self.{x})" for x in self.raw_slots)


class _Gen(TypeCodegen):
    """Emits message classes over the element codecs of TypeCodegen."""

    scheme_hash = ""

    # -- messages --------------------------------------------------------------------------------
    def message(self, msg: Message) -> None:
        """Emit one message: its Struct, module-level _d_/_e_ functions, then its class."""
        lay = self._layout(msg)
        out: list[str] = []

        def emit(text: str = "") -> None:
            out.append(text)

        self._emit_functions(lay, emit)
        self._emit_class(lay, emit)
        self._emit_properties(lay, emit)
        self.lines.extend(out)

    def _layout(self, msg: Message) -> "_Layout":
        """Names, slots, defaults and the fixed-part Struct of a message (helpers emitted on the way)."""
        lay = _Layout(msg, _class_name(msg.name, set(self.classes.values())))
        self.classes[id(msg)] = lay.cls
        fmt = ["<"]
        for i, f in enumerate(msg.fields):
            if f.pmap:
                fmt.append(f"{f.size}x")  # computed from the optional fields when encoding
                continue
            attr = f.name if (f.name.isidentifier() and not keyword.iskeyword(f.name)
                              and f.name not in _RESERVED and not f.name.startswith("_")) else f"_f{i}"
            t = f.type
            if isinstance(t, (Scalar, Bytes)):
                slot = f"_r_{attr}" if self.is_logical(t) else attr
                lay.scalars.append((f, attr, slot))
                fmt.append(self.code(t))
                default = "0.0" if isinstance(t, Scalar) and t.name == "double" else (
                    f"{bytes(t.size)!r}" if isinstance(t, Bytes) or t.name == "decimal128" else "0")
            else:
                slot = attr
                fmt.append(f"{t.size}x")
                if isinstance(t, MessageRef):
                    default = f"{self.classes[id(t.message)]}()"
                elif isinstance(t, Array) or (isinstance(t, Pointer) and not t.string):
                    default = "[]"
                else:
                    default = "None"
            if msg.pmap is not None and f.index >= 0:
                lay.optional[slot] = f.index
                default = "None"
            lay.attrs.append(attr)
            lay.slots.append(slot)
            lay.defaults.append((slot, default))
            if not isinstance(t, (Scalar, Bytes)):
                lay.composite.append((f.name, *self._composite(f, attr, lay.optional.get(attr))))
        lay.fmt = "".join(fmt)
        return lay

    def _composite(self, f: Field, attr: str, bit: int | None) -> tuple[list[str], list[str]]:
        """Decode and encode statements of one pointer/array/message/union field."""
        t, off = f.type, f.offset
        if isinstance(t, MessageRef):
            sub = self.classes[id(t.message)]
            dec = [f"self.{attr} = _d_{sub}(buf, pos + {off}, end)"]
            enc = [f"_e_{sub}(buf, pos + {off}, _as_record({sub}, self.{attr}, ''))"]
        elif isinstance(t, UnionRef):
            dec = [f"self.{attr} = {self.union_dec(t.union)}(buf, pos + {off}, end)"]
            enc = [f"{self.union_enc(t.union)}(buf, pos + {off}, self.{attr})"]
        elif isinstance(t, Pointer):
            dec = [f"self.{attr} = {self.pointer_dec(t, f'pos + {off}')}"]
            enc = self.pointer_enc(t, f"pos + {off}", f"self.{attr}")
        elif isinstance(t, Array):
            dec = self.array_dec(t, f"pos + {off}", "_out") + [f"self.{attr} = _out"]
            enc = self.array_enc(t, f"pos + {off}", f"self.{attr}")
        else:
            raise SchemeError(f"field {f.name}: {t!r} is not a composite type")
        if bit is not None:  # optional: only when its presence bit is set / it has a value
            dec = [f"if (_pm >> {bit}) & 1:"] + ["    " + d for d in dec] + ["else:", f"    self.{attr} = None"]
            enc = [f"if self.{attr} is not None:"] + ["    " + e for e in enc]
        return dec, enc

    @staticmethod
    def _guarded(emit: "Emit", lines: list[str], error: str, field: str, message: str) -> None:
        """`lines` inside a try that prefixes the error's field path with `field`."""
        emit("    try:")
        for ln in lines:
            emit("        " + ln)
        emit(f"    except {error} as _e:")
        emit(f"        raise _e.within({field!r}, {message!r})")

    def _emit_functions(self, lay: "_Layout", emit: "Emit") -> None:
        """Module-level _d_NAME/_e_NAME (nested messages call these directly) and _ea_NAME."""
        msg, cls, s, pmap = lay.msg, lay.cls, lay.struct, lay.msg.pmap
        emit(f"{s} = _Struct({lay.fmt!r})")
        emit(f"def _d_{cls}(buf, pos, end):")
        emit(f"    self = _new({cls})")
        if lay.raw_slots:
            emit(f"    {lay.unpack_target} = {s}.unpack_from(buf, pos)")
        if pmap is not None:
            emit(f"    _pm = int.from_bytes(buf[pos + {pmap.offset}:pos + {pmap.offset + pmap.size}], 'little')")
            for slot, bit in lay.optional.items():
                if slot in lay.raw_slots:
                    emit(f"    if not (_pm >> {bit}) & 1:")
                    emit(f"        self.{slot} = None")
        for fname, dec, _ in lay.composite:
            self._guarded(emit, dec, "_DecodeError", fname, msg.name)
        emit("    return self")
        emit()
        emit(f"def _e_{cls}(buf, pos, self):")
        if not lay.raw_slots and not lay.composite and pmap is None:
            emit("    pass  # no fields")
        if pmap is not None:
            emit("    _pm = 0")
            for slot, bit in lay.optional.items():
                emit(f"    if self.{slot} is not None:")
                emit(f"        _pm |= {1 << bit}")
        if lay.raw_slots:
            emit("    try:")
            emit(f"        {s}.pack_into(buf, pos, {lay.pack_args})")
            emit("    except _StructError:")
            emit("        _pack_failure(self)")
        if pmap is not None:  # after the struct pack, which zero-fills the pmap's pad bytes
            emit("    try:")
            emit(f"        buf[pos + {pmap.offset}:pos + {pmap.offset + pmap.size}] = _pm.to_bytes({pmap.size}, 'little')")
            emit("    except OverflowError:")
            emit(f"        raise _EncodeError('presence map {pmap.name} is too small for the optional fields', {msg.name!r}) from None")
        for fname, _, enc in lay.composite:
            self._guarded(emit, enc, "_EncodeError", fname, msg.name)
        emit()
        emit(f"def _ea_{cls}(buf, pos, value):")
        emit(f"    _e_{cls}(buf, pos, _as_record({cls}, value, ''))")
        emit()

    @staticmethod
    def _emit_class(lay: "_Layout", emit: "Emit") -> None:
        """The Record class: constants, __init__, decode (one unpack when it can), encode."""
        msg, cls, s = lay.msg, lay.cls, lay.struct
        emit(f"class {cls}(_Record):")
        emit(f"    \"\"\"{msg.name}: msgid {msg.msgid}, fixed size {msg.size}.\"\"\"")
        emit(f"    __slots__ = {tuple(lay.slots)!r}")
        emit(f"    NAME = {msg.name!r}")
        emit(f"    MSGID = {msg.msgid}")
        emit(f"    SIZE = {msg.size}")
        emit(f"    FIELDS = {tuple(f.name for f in msg.fields if not f.pmap)!r}")
        emit(f"    _ATTRS = {tuple(lay.attrs)!r}")
        emit()
        emit("    def __init__(self, _value=None, **fields):")
        for slot, default in lay.defaults:
            emit(f"        self.{slot} = {default}")
        emit("        if _value is not None or fields:")
        emit("            _init_fields(self, _value, fields)")
        emit()
        emit("    @classmethod")
        emit("    def decode(cls, buf, pos=0):")
        emit("        \"\"\"Decode the message at `pos` of `buf` (bytes-like); raises DecodeError.\"\"\"")
        emit("        end = len(buf)")
        emit(f"        if end - pos < {msg.size}:")
        emit(f"            _truncated({msg.name!r}, {msg.size}, pos, end)")
        if lay.fixed_only:
            emit(f"        self = _new({cls})")
            emit(f"        {lay.unpack_target} = {s}.unpack_from(buf, pos)")
            emit("        return self")
        else:
            emit("        _decode_budget(end - pos)")
            emit(f"        return _d_{cls}(buf, pos, end)")
        emit()
        emit("    def encode(self):")
        emit("        \"\"\"Wire bytes of this message (fixed part + tail); raises EncodeError.\"\"\"")
        if lay.fixed_only:
            emit("        try:")
            emit(f"            return {s}.pack({lay.pack_args})")
            emit("        except _StructError:")
            emit("            _pack_failure(self)")
        else:
            emit(f"        buf = bytearray({msg.size})")
            emit(f"        _e_{cls}(buf, 0, self)")
            emit("        return bytes(buf)")
        emit()

    def _emit_properties(self, lay: "_Layout", emit: "Emit") -> None:
        """Logical fields: a property converting the raw slot on read and checking on write;
        plain scalars: a check used only to name the field when struct refuses a value."""
        checks = []
        for f, attr, slot in lay.scalars:
            t = f.type
            if not isinstance(t, (Scalar, Bytes)):
                raise SchemeError(f"field {f.name}: {t!r} is not a scalar type")
            if slot == attr:
                checks.append(f"({f.name!r}, {slot!r}, lambda value: {self.to_raw(t, 'value')}), ")
                continue
            optional = slot in lay.optional
            emit(f"    def _get_{attr}(self):")
            if optional:
                emit(f"        if self.{slot} is None:")
                emit("            return None")
            emit(f"        return {self.to_logical(t, f'self.{slot}')}")
            emit()
            emit(f"    def _set_{attr}(self, value):")
            if optional:
                emit("        if value is None:")
                emit(f"            self.{slot} = None")
                emit("            return")
            emit("        try:")
            emit(f"            self.{slot} = {self.to_raw(t, 'value')}")
            emit("        except _EncodeError as _e:")
            emit(f"            raise _e.within({f.name!r}, {lay.msg.name!r})")
            emit()
            emit(f"    {attr} = property(_get_{attr}, _set_{attr})")
            emit()
        emit(f"    _CHECKS = ({''.join(checks)})")
        emit()
        emit()

    def module(self, header: str) -> str:
        """The whole module: ABI guard, imports of the runtime helpers, classes, lookup tables."""
        for m in self.messages:
            self.message(m)
        by_id = {}
        for m in self.messages:
            if m.msgid and m.msgid not in by_id:
                by_id[m.msgid] = self.classes[id(m)]
        body = "\n".join(self.lines)
        names = ", ".join(f"{m.name!r}: {self.classes[id(m)]}" for m in self.messages)
        ids = ", ".join(f"{k}: {v}" for k, v in by_id.items())
        guard = _GUARD.format(abi=RUNTIME_ABI, scheme_hash=self.scheme_hash)
        return (header + guard + _PRELUDE + "\n" + body + "\n\n"
                + f"MESSAGES = {{{names}}}\n" + f"BY_MSGID = {{{ids}}}\n")


#: First statements of a generated module: refuse to run on a runtime with another ABI. Only
#: `tllschema.runtime` is touched before the check, so a runtime whose helpers were renamed
#: still gives this message rather than an ImportError about a missing name.
_GUARD = '''
import tllschema.runtime as _runtime

TLLSCHEMA_ABI = {abi}
SCHEME_HASH = {scheme_hash!r}
if getattr(_runtime, 'RUNTIME_ABI', None) != TLLSCHEMA_ABI:
    raise getattr(_runtime, 'RuntimeABIError', ImportError)(
        f'{{__name__}} was generated for tllschema runtime ABI {{TLLSCHEMA_ABI}}, but the installed '
        f'tllschema has runtime ABI {{getattr(_runtime, "RUNTIME_ABI", "none")}}: regenerate it with '
        f'`streamproto schema compile SCHEME -o {{globals().get("__file__") or "FILE"}}`')
'''

#: Imports of the runtime helpers a generated module calls. Changing any of these names or their
#: signatures changes the runtime ABI: bump `tllschema.runtime.RUNTIME_ABI` with it.
_PRELUDE = '''
from struct import Struct as _Struct, error as _StructError

from tllschema.errors import DecodeError as _DecodeError, EncodeError as _EncodeError
from tllschema.convert import (
    bits_class as _bits_class, check_double as _check_double, check_int as _check_int,
    enum_class as _enum_class, enum_value as _enum_value, logical_fixed as _fixed, raw_bits as _raw_bits,
    raw_bytes as _raw_bytes, raw_dec128 as _raw_dec128, raw_enum as _raw_enum, raw_fixed as _raw_fixed,
    raw_time as _raw_time,
)
from tllschema.record import (
    Record as _Record, as_record as _as_record, init_fields as _init_fields, pack_failure as _pack_failure,
)
from tllschema.runtime import (
    bytestring as _bytestring, dec128 as _dec128, decode_budget as _decode_budget,
    read_array_count as _read_array_count, read_list as _read_list, read_scalar_list as _read_scalar_list,
    read_string as _read_string, truncated as _truncated, union_pick as _union_pick, union_tag as _union_tag,
    write_array_count as _write_array_count, write_list as _write_list,
    write_scalar_list as _write_scalar_list, write_string as _write_string,
)
from tllschema.values import UnionValue as _UnionValue, make_duration as _duration, make_time_point as _time_point

_new = object.__new__


def _z(value):
    return 0 if value is None else value
'''


def _class_name(name: str, taken: set[str]) -> str:
    base = name if name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_") else (
        "M_" + "".join(c if c.isalnum() else "_" for c in name))
    out, i = base, 1
    while out in taken:
        i += 1
        out = f"{base}_{i}"
    return out


def generate(messages: list[Message], source: str = "", scheme_hash: str = "") -> str:
    """Python source of a module with one Record class per message (see module docstring)."""
    header = f'"""Generated by tllschema from {source[:200]!r}. Do not edit."""\n' if source else \
        '"""Generated by tllschema. Do not edit."""\n'
    gen = _Gen(messages)
    gen.scheme_hash = scheme_hash
    return gen.module(header)


def build(messages: list[Message], source: str = "", scheme_hash: str = "") -> dict[str, Any]:
    """Generate and exec the module in-process; -> its namespace (MESSAGES, BY_MSGID, classes)."""
    code = generate(messages, source, scheme_hash)
    ns: dict[str, Any] = {"__name__": "tllschema._generated"}
    exec(compile(code, "<tllschema generated>", "exec"), ns)
    return ns
