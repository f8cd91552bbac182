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
from typing import Any

from tllschema.model import (
    INT_TYPES, Array, Bytes, Message, MessageRef, Pointer, Scalar, SubType, UnionDef, UnionRef, int_limits,
)

_VERSION = {"default": 0, "legacy-short": 1, "legacy-long": 2}
_RESERVED = {"encode", "decode", "NAME", "MSGID", "SIZE", "FIELDS", "keys", "items", "get", "as_dict"}


class _Gen:
    def __init__(self, messages: list[Message]):
        self.messages = messages
        self.lines: list[str] = []
        self.names: dict[int, str] = {}  # id(definition) -> python name
        self.counter = 0
        self.classes: dict[int, str] = {}

    # -- naming ----------------------------------------------------------------------------------
    def new(self, prefix: str) -> str:
        self.counter += 1
        return f"_{prefix}{self.counter}"

    def emit(self, text: str = "") -> None:
        self.lines.append(text)

    def enum_var(self, e) -> str:
        key = id(e)
        if key not in self.names:
            var = self.names[key] = self.new("E")
            self.emit(f"{var} = _enum_class({e.name!r}, {dict(e.values)!r})")
        return self.names[key]

    def bits_var(self, b) -> str:
        key = id(b)
        if key not in self.names:
            var = self.names[key] = self.new("B")
            fields = tuple((x.name, x.offset, x.size) for x in b.bits)
            self.emit(f"{var} = _bits_class({b.name!r}, {fields!r})")
        return self.names[key]

    # -- scalar conversions ----------------------------------------------------------------------
    def to_logical(self, t: Scalar | Bytes, raw: str) -> str:
        """Expression converting a wire value to the logical value."""
        if isinstance(t, Bytes):
            return f"_bytestring({raw})" if t.string else raw
        if t.name == "decimal128":
            return f"_dec128({raw})"
        if t.sub is SubType.ENUM:
            return f"_enum_value({self.enum_var(t.enum)}, {raw})"
        if t.sub is SubType.BITS:
            return f"{self.bits_var(t.bits)}({raw})"
        if t.sub is SubType.FIXED:
            return f"_fixed({raw}, {t.precision})"
        if t.sub is SubType.TIME_POINT:
            return f"_time_point({raw}, {t.resolution!r})"
        if t.sub is SubType.DURATION:
            return f"_duration({raw}, {t.resolution!r})"
        return raw

    def to_raw(self, t: Scalar | Bytes, value: str) -> str:
        """Expression converting user input to the wire value (checked; raises EncodeError)."""
        if isinstance(t, Bytes):
            return f"_raw_bytes({value}, {t.n}, {t.string})"
        if t.name == "decimal128":
            return f"_raw_dec128({value})"
        if t.name == "double":
            if t.sub in (SubType.TIME_POINT, SubType.DURATION):
                return f"_raw_time({value}, {t.resolution!r}, True, {t.sub is SubType.DURATION})"
            return f"_check_double({value})"
        lo, hi = int_limits(t.name)
        code = INT_TYPES[t.name][1]
        if t.sub is SubType.ENUM:
            inner = f"_raw_enum({self.enum_var(t.enum)}, {value})"
        elif t.sub is SubType.BITS:
            inner = f"_raw_bits({self.bits_var(t.bits)}, {value})"
        elif t.sub is SubType.FIXED:
            return f"_raw_fixed({value}, {t.precision}, {code!r}, {lo}, {hi})"
        elif t.sub in (SubType.TIME_POINT, SubType.DURATION):
            inner = f"_raw_time({value}, {t.resolution!r}, False, {t.sub is SubType.DURATION})"
        else:
            inner = value
        return f"_check_int({inner}, {code!r}, {lo}, {hi})"

    @staticmethod
    def is_logical(t) -> bool:
        return isinstance(t, Bytes) or (isinstance(t, Scalar) and (t.sub is not None or t.name == "decimal128"))

    @staticmethod
    def code(t) -> str:
        if isinstance(t, Bytes):
            return f"{t.n}s"
        if t.name == "decimal128":
            return "16s"
        return t.fmt

    # -- element codecs (decode f(buf, pos, end) -> value; encode f(buf, pos, value)) ------------
    def elem_dec(self, t) -> str:
        key = ("d", id(t))
        if key in self.names:
            return self.names[key]
        if isinstance(t, MessageRef):
            return f"_d_{self.classes[id(t.message)]}"
        if isinstance(t, UnionRef):
            return self.union_dec(t.union)
        name = self.new("d")
        self.names[key] = name
        body: list[str] = []
        if isinstance(t, (Scalar, Bytes)):
            s = self.new("S")
            self.emit(f"{s} = _Struct('<{self.code(t)}')")
            body.append(f"return {self.to_logical(t, f'{s}.unpack_from(buf, pos)[0]')}")
        elif isinstance(t, Pointer):
            body.append(f"return {self.pointer_dec(t, 'pos')}")
        elif isinstance(t, Array):
            body += self.array_dec(t, "pos", "out")
            body.append("return out")
        self.emit(f"def {name}(buf, pos, end):")
        for b in body:
            self.emit("    " + b)
        self.emit()
        return name

    def pointer_dec(self, t: Pointer, pos: str) -> str:
        ver = _VERSION[t.version]
        if t.string:
            return f"_read_string(buf, {pos}, end, {ver})"
        e = t.elem
        if isinstance(e, Scalar) and e.name != "decimal128":
            if e.sub is None:
                return f"_read_scalar_list(buf, {pos}, end, {ver}, {e.size}, {e.fmt!r})"
            conv = self.to_logical(e, "x")
            return f"[{conv} for x in _read_scalar_list(buf, {pos}, end, {ver}, {e.size}, {e.fmt!r})]"
        return f"_read_list(buf, {pos}, end, {ver}, {e.size}, {self.elem_dec(e)})"

    def array_dec(self, t: Array, pos: str, out: str) -> list[str]:
        ccode = INT_TYPES[t.count_type][1]
        dec = self.elem_dec(t.elem)
        es, cs = t.elem.size, t.count_size
        return [
            f"_n = _read_array_count(buf, {pos}, {ccode!r}, {t.capacity})",
            f"{out} = []",
            "for _i in range(_n):",
            "    try:",
            f"        {out}.append({dec}(buf, {pos} + {cs} + _i * {es}, end))",
            "    except _DecodeError as _e:",
            "        raise _e.within(f'[{_i}]')",
        ]

    def union_dec(self, u: UnionDef) -> str:
        key = ("ud", id(u))
        if key in self.names:
            return self.names[key]
        name = self.names[key] = self.new("ud")
        decs = [self.elem_dec(f.type) for f in u.fields]
        table = self.new("UT")
        self.emit(f"{table} = ({', '.join(f'({f.name!r}, {d})' for f, d in zip(u.fields, decs))},)")
        self.emit(f"def {name}(buf, pos, end):")
        self.emit(f"    _tag = _union_tag(buf, pos, {len(u.fields)})")
        self.emit(f"    _name, _dec = {table}[_tag]")
        self.emit("    try:")
        self.emit("        return _UnionValue(_name, _dec(buf, pos + 1, end))")
        self.emit("    except _DecodeError as _e:")
        self.emit("        raise _e.within(_name)")
        self.emit()
        return name

    def elem_enc(self, t) -> str:
        key = ("e", id(t))
        if key in self.names:
            return self.names[key]
        if isinstance(t, MessageRef):
            cls = self.classes[id(t.message)]
            return f"_ea_{cls}"
        if isinstance(t, UnionRef):
            return self.union_enc(t.union)
        name = self.new("e")
        self.names[key] = name
        body: list[str] = []
        if isinstance(t, Bytes):
            body.append(f"_d = {self.to_raw(t, 'value')}")
            body.append("buf[pos:pos + len(_d)] = _d")
        elif isinstance(t, Scalar):
            s = self.new("S")
            self.emit(f"{s} = _Struct('<{self.code(t)}')")
            body.append(f"{s}.pack_into(buf, pos, {self.to_raw(t, 'value')})")
        elif isinstance(t, Pointer):
            body += self.pointer_enc(t, "pos", "value")
        elif isinstance(t, Array):
            body += self.array_enc(t, "pos", "value")
        self.emit(f"def {name}(buf, pos, value):")
        for b in body:
            self.emit("    " + b)
        self.emit()
        return name

    def pointer_enc(self, t: Pointer, pos: str, value: str) -> list[str]:
        ver = _VERSION[t.version]
        if t.string:
            return [f"_write_string(buf, {pos}, {value}, {ver})"]
        e = t.elem
        if isinstance(e, Scalar) and e.name != "decimal128":
            conv = f"lambda x: {self.to_raw(e, 'x')}" if e.sub is not None else "None"
            return [f"_write_scalar_list(buf, {pos}, {value}, {ver}, {e.size}, {e.fmt!r}, {conv})"]
        return [f"_write_list(buf, {pos}, {value}, {ver}, {e.size}, {self.elem_enc(e)})"]

    def array_enc(self, t: Array, pos: str, value: str) -> list[str]:
        ccode = INT_TYPES[t.count_type][1]
        enc = self.elem_enc(t.elem)
        return [
            f"_vals = _write_array_count(buf, {pos}, {value}, {ccode!r}, {t.capacity})",
            "for _i, _x in enumerate(_vals):",
            "    try:",
            f"        {enc}(buf, {pos} + {t.count_size} + _i * {t.elem.size}, _x)",
            "    except _EncodeError as _e:",
            "        raise _e.within(f'[{_i}]')",
        ]

    def union_enc(self, u: UnionDef) -> str:
        key = ("ue", id(u))
        if key in self.names:
            return self.names[key]
        name = self.names[key] = self.new("ue")
        encs = [self.elem_enc(f.type) for f in u.fields]
        table = self.new("UE")
        names = tuple(f.name for f in u.fields)
        self.emit(f"{table} = ({', '.join(encs)},)")
        self.emit(f"def {name}(buf, pos, value):")
        self.emit(f"    _tag, _v = _union_pick(value, {names!r})")
        self.emit("    if _tag < 0:")
        self.emit("        return")
        self.emit("    buf[pos] = _tag")
        self.emit("    try:")
        self.emit(f"        {table}[_tag](buf, pos + 1, _v)")
        self.emit("    except _EncodeError as _e:")
        self.emit(f"        raise _e.within({names!r}[_tag])")
        self.emit()
        return name

    # -- messages --------------------------------------------------------------------------------
    def message(self, msg: Message) -> None:
        out: list[str] = []

        def emit(text: str = "") -> None:
            out.append(text)

        cls = _class_name(msg.name, set(self.classes.values()))
        self.classes[id(msg)] = cls
        attrs, slots, defaults = [], [], []
        scalar_idx, composite = [], []
        fmt = ["<"]
        pmap = msg.pmap
        optional: dict[str, int] = {}  # slot -> presence bit
        for i, f in enumerate(msg.fields):
            if f.pmap:
                fmt.append(f"{f.size}x")  # computed from the optional fields when encoding
                continue
            attr = f.name if (f.name.isidentifier() and not keyword.iskeyword(f.name)
                              and f.name not in _RESERVED and not f.name.startswith("_")) else f"_f{i}"
            t = f.type
            if isinstance(t, (Scalar, Bytes)):
                slot = f"_r_{attr}" if self.is_logical(t) else attr
                scalar_idx.append((f, attr, slot))
                fmt.append(self.code(t))
                default = "0.0" if isinstance(t, Scalar) and t.name == "double" else (
                    f"{bytes(t.size)!r}" if isinstance(t, Bytes) or t.name == "decimal128" else "0")
            else:
                slot = attr
                composite.append((f, attr))
                fmt.append(f"{t.size}x")
                if isinstance(t, MessageRef):
                    default = f"{self.classes[id(t.message)]}()"
                elif isinstance(t, (Array,)) or (isinstance(t, Pointer) and not t.string):
                    default = "[]"
                else:
                    default = "None"
            if pmap is not None and f.index >= 0:
                optional[slot] = f.index
                default = "None"
            attrs.append(attr)
            slots.append(slot)
            defaults.append((slot, default))
        s = f"_S_{cls}"
        emit(f"{s} = _Struct({''.join(fmt)!r})")
        # element helpers needed by composite fields must exist before the class body uses them
        dec_lines, enc_lines = [], []
        for f, attr in composite:
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
            else:
                dec = self.array_dec(t, f"pos + {off}", "_out") + [f"self.{attr} = _out"]
                enc = self.array_enc(t, f"pos + {off}", f"self.{attr}")
            if attr in optional:
                bit = optional[attr]
                dec = [f"if (_pm >> {bit}) & 1:"] + ["    " + d for d in dec] + ["else:", f"    self.{attr} = None"]
                enc = [f"if self.{attr} is not None:"] + ["    " + e for e in enc]
            dec_lines.append((f.name, dec))
            enc_lines.append((f.name, enc))
        fixed_only = not composite and pmap is None
        raw_slots = [slot for _, _, slot in scalar_idx]
        unpack_target = ", ".join(f"self.{x}" for x in raw_slots) + ("," if len(raw_slots) == 1 else "")
        pack_args = ", ".join(f"self.{x}" if x not in optional else f"_z(self.{x})" for x in raw_slots)

        # module-level decode / encode functions (used for nested messages and by the class)
        emit(f"def _d_{cls}(buf, pos, end):")
        emit(f"    self = _new({cls})")
        if raw_slots:
            emit(f"    {unpack_target} = {s}.unpack_from(buf, pos)")
        if pmap is not None:
            emit(f"    _pm = int.from_bytes(buf[pos + {pmap.offset}:pos + {pmap.offset + pmap.size}], 'little')")
            for slot, bit in optional.items():
                if slot in raw_slots:
                    emit(f"    if not (_pm >> {bit}) & 1:")
                    emit(f"        self.{slot} = None")
        for fname, lines in dec_lines:
            emit("    try:")
            for ln in lines:
                emit("        " + ln)
            emit("    except _DecodeError as _e:")
            emit(f"        raise _e.within({fname!r}, {msg.name!r})")
        emit("    return self")
        emit()
        emit(f"def _e_{cls}(buf, pos, self):")
        if not raw_slots and not enc_lines and pmap is None:
            emit("    pass  # no fields")
        if pmap is not None:
            emit("    _pm = 0")
            for slot, bit in optional.items():
                emit(f"    if self.{slot} is not None:")
                emit(f"        _pm |= {1 << bit}")
        if raw_slots:
            emit("    try:")
            emit(f"        {s}.pack_into(buf, pos, {pack_args})")
            emit("    except _StructError:")
            emit("        _pack_failure(self)")
        if pmap is not None:  # after the struct pack, which zero-fills the pmap's pad bytes
            emit("    try:")
            emit(f"        buf[pos + {pmap.offset}:pos + {pmap.offset + pmap.size}] = _pm.to_bytes({pmap.size}, 'little')")
            emit("    except OverflowError:")
            emit(f"        raise _EncodeError('presence map {pmap.name} is too small for the optional fields', {msg.name!r}) from None")
        for fname, lines in enc_lines:
            emit("    try:")
            for ln in lines:
                emit("        " + ln)
            emit("    except _EncodeError as _e:")
            emit(f"        raise _e.within({fname!r}, {msg.name!r})")
        emit()
        emit(f"def _ea_{cls}(buf, pos, value):")
        emit(f"    _e_{cls}(buf, pos, _as_record({cls}, value, ''))")
        emit()

        # the class
        emit(f"class {cls}(_Record):")
        emit(f"    \"\"\"{msg.name}: msgid {msg.msgid}, fixed size {msg.size}.\"\"\"")
        emit(f"    __slots__ = {tuple(slots)!r}")
        emit(f"    NAME = {msg.name!r}")
        emit(f"    MSGID = {msg.msgid}")
        emit(f"    SIZE = {msg.size}")
        emit(f"    FIELDS = {tuple(f.name for f in msg.fields if not f.pmap)!r}")
        emit(f"    _ATTRS = {tuple(attrs)!r}")
        emit()
        emit("    def __init__(self, _value=None, **fields):")
        for slot, default in defaults:
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
        if fixed_only and raw_slots:
            emit(f"        self = _new({cls})")
            emit(f"        {unpack_target} = {s}.unpack_from(buf, pos)")
            emit("        return self")
        else:
            emit("        _decode_budget(end - pos)")
            emit(f"        return _d_{cls}(buf, pos, end)")
        emit()
        emit("    def encode(self):")
        emit("        \"\"\"Wire bytes of this message (fixed part + tail); raises EncodeError.\"\"\"")
        if fixed_only and raw_slots:
            emit("        try:")
            emit(f"            return {s}.pack({pack_args})")
            emit("        except _StructError:")
            emit("            _pack_failure(self)")
        else:
            emit(f"        buf = bytearray({msg.size})")
            emit(f"        _e_{cls}(buf, 0, self)")
            emit("        return bytes(buf)")
        emit()
        checks = []
        for f, attr, slot in scalar_idx:
            t = f.type
            checks.append((f.name, slot, self.to_raw(t, "value") if not self.is_logical(t) else None))
            if slot != attr:
                emit(f"    def _get_{attr}(self):")
                if slot in optional:
                    emit(f"        if self.{slot} is None:")
                    emit("            return None")
                emit(f"        return {self.to_logical(t, f'self.{slot}')}")
                emit()
                emit(f"    def _set_{attr}(self, value):")
                if slot in optional:
                    emit("        if value is None:")
                    emit(f"            self.{slot} = None")
                    emit("            return")
                emit("        try:")
                emit(f"            self.{slot} = {self.to_raw(t, 'value')}")
                emit("        except _EncodeError as _e:")
                emit(f"            raise _e.within({f.name!r}, {msg.name!r})")
                emit()
                emit(f"    {attr} = property(_get_{attr}, _set_{attr})")
                emit()
        plain = [(n, s_, c) for n, s_, c in checks if c is not None]
        emit(f"    _CHECKS = ({''.join(f'({n!r}, {s_!r}, lambda value: {c}), ' for n, s_, c in plain)})")
        emit()
        # expose non-identifier field names through dict access only
        emit()
        self.lines.extend(out)

    def module(self, header: str) -> str:
        for m in self.messages:
            self.message(m)
        by_id = {}
        for m in self.messages:
            if m.msgid and m.msgid not in by_id:
                by_id[m.msgid] = self.classes[id(m)]
        body = "\n".join(self.lines)
        names = ", ".join(f"{m.name!r}: {self.classes[id(m)]}" for m in self.messages)
        ids = ", ".join(f"{k}: {v}" for k, v in by_id.items())
        return (header + _PRELUDE + "\n" + body + "\n\n"
                + f"MESSAGES = {{{names}}}\n" + f"BY_MSGID = {{{ids}}}\n")


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


def generate(messages: list[Message], source: str = "") -> str:
    """Python source of a module with one Record class per message (see module docstring)."""
    header = f'"""Generated by tllschema from {source[:200]!r}. Do not edit."""\n' if source else \
        '"""Generated by tllschema. Do not edit."""\n'
    return _Gen(messages).module(header)


def build(messages: list[Message], source: str = "") -> dict[str, Any]:
    """Generate and exec the module in-process; -> its namespace (MESSAGES, BY_MSGID, classes)."""
    code = generate(messages, source)
    ns: dict[str, Any] = {"__name__": "tllschema._generated"}
    exec(compile(code, "<tllschema generated>", "exec"), ns)
    return ns
