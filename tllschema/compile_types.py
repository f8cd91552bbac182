"""Type-level half of the code generator: element codecs for scalars, pointers, arrays, unions.

`compile.py` builds message classes on top of it. Every helper is emitted once (memoised by the
model node) as a module-level function `f(buf, pos, end) -> value` for decoding or
`f(buf, pos, value)` for encoding; logical scalars convert through `tllschema.convert`.
"""
from __future__ import annotations

from tllschema.model import (
    INT_TYPES, Array, BitsDef, Bytes, EnumDef, Message, MessageRef, Pointer, Scalar, SubType, UnionDef,
    UnionRef, WireType, int_limits,
)

_VERSION = {"default": 0, "legacy-short": 1, "legacy-long": 2}


class TypeCodegen:
    """Emits the element codecs of wire types (see module docstring)."""

    def __init__(self, messages: list[Message]):
        self.messages = messages
        self.lines: list[str] = []
        self.names: dict[object, str] = {}  # id(definition) or (kind, id(type)) -> python name
        self.counter = 0
        self.classes: dict[int, str] = {}

    # -- naming ----------------------------------------------------------------------------------
    def new(self, prefix: str) -> str:
        self.counter += 1
        return f"_{prefix}{self.counter}"

    def emit(self, text: str = "") -> None:
        self.lines.append(text)

    def enum_var(self, e: EnumDef) -> str:
        key = id(e)
        if key not in self.names:
            var = self.names[key] = self.new("E")
            self.emit(f"{var} = _enum_class({e.name!r}, {dict(e.values)!r})")
        return self.names[key]

    def bits_var(self, b: BitsDef) -> str:
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
        if t.sub is SubType.ENUM and t.enum is not None:
            return f"_enum_value({self.enum_var(t.enum)}, {raw})"
        if t.sub is SubType.BITS and t.bits is not None:
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
        if t.sub is SubType.ENUM and t.enum is not None:
            inner = f"_raw_enum({self.enum_var(t.enum)}, {value})"
        elif t.sub is SubType.BITS and t.bits is not None:
            inner = f"_raw_bits({self.bits_var(t.bits)}, {value})"
        elif t.sub is SubType.FIXED:
            return f"_raw_fixed({value}, {t.precision}, {code!r}, {lo}, {hi})"
        elif t.sub in (SubType.TIME_POINT, SubType.DURATION):
            inner = f"_raw_time({value}, {t.resolution!r}, False, {t.sub is SubType.DURATION})"
        else:
            inner = value
        return f"_check_int({inner}, {code!r}, {lo}, {hi})"

    def conv_var(self, t: Scalar) -> str:
        """Module-level `f(value) -> wire value` of a scalar element type (emitted once)."""
        key = ("c", id(t))
        if key not in self.names:
            var = self.names[key] = self.new("c")
            self.emit(f"def {var}(x):")
            self.emit(f"    return {self.to_raw(t, 'x')}")
            self.emit()
        return self.names[key]

    @staticmethod
    def is_logical(t: WireType) -> bool:
        return isinstance(t, Bytes) or (isinstance(t, Scalar) and (t.sub is not None or t.name == "decimal128"))

    @staticmethod
    def code(t: Scalar | Bytes) -> str:
        if isinstance(t, Bytes):
            return f"{t.n}s"
        if t.name == "decimal128":
            return "16s"
        return t.fmt

    # -- element codecs (decode f(buf, pos, end) -> value; encode f(buf, pos, value)) ------------
    def elem_dec(self, t: WireType) -> str:
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

    def elem_enc(self, t: WireType) -> str:
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
            return [f"_write_scalar_list(buf, {pos}, {value}, {ver}, {e.size}, {e.fmt!r}, "
                    f"{self.conv_var(e)}, {e.sub is not None})"]
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
