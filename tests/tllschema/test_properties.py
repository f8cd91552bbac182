"""Property tests: the compiled fast path and the construct reference codec are the same codec.

For random valid values of every golden message: (a) both encoders give identical bytes,
(b) both round-trip to the value the model predicts and re-encode to the same bytes; and for
random and mutated byte strings (c) both decoders reach the same outcome: a value (equal) or
tllschema's own error, within the hypothesis deadline.
"""
from __future__ import annotations

import importlib.util
import struct
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tllschema
from tests.conftest import GOLDEN
from tests.tllschema import strategies
from tests.tllschema.golden_vectors import load_vectors
from tllschema import codec
from tllschema.model import Array, MessageRef, Pointer, UnionRef

SCHEMES = ("transaction.yaml", "commission.yaml", "alltypes.yaml", "edge")
# Shapes the golden schemes do not use: legacy pointers, pointer to array (alias), array of
# pointers/strings/unions, empty messages, lists of logical scalars, an 8-bit enum list.
EDGE = """\
- name: ''
  aliases:
    - {name: a3, type: 'int16[3]'}
    - {name: txt, type: byte4, options.type: string}
- name: Empty
  id: 1
- name: Big
  fields:
    - {name: data, type: byte300}
- name: Leg
  id: 2
  fields:
    - {name: ls, type: '*int16', list-options.offset-ptr-type: legacy-short}
    - {name: ll, type: '*int16', list-options.offset-ptr-type: legacy-long}
    - {name: s, type: string, list-options.offset-ptr-type: legacy-short}
    - {name: sl, type: string, list-options.offset-ptr-type: legacy-long}
    - {name: big, type: '*Big', list-options.offset-ptr-type: legacy-long}
    - {name: bigs, type: '*Big', list-options.offset-ptr-type: legacy-short}
- name: Odd
  id: 3
  fields:
    - {name: pa, type: '*a3'}
    - {name: ap, type: '*int8[3]'}
    - {name: sa, type: 'string[2]'}
    - {name: ua, type: 'union[2]', union: [{name: x, type: int8}, {name: y, type: string}]}
    - {name: e, type: '*Empty'}
    - {name: ea, type: 'Empty[2]'}
    - {name: ls, type: '*txt'}
    - {name: fx, type: '*int32', options.type: fixed3}
    - {name: tl, type: '*uint16', options.type: duration, options.resolution: s}
    - {name: dl, type: '*double', options.type: time_point, options.resolution: ms}
    - {name: d128, type: '*decimal128'}
    - {name: en, type: '*int8', options.type: enum, enum: {A: 1, B: -1}}
    - {name: s8, type: '*int8', options.type: string}
    - {name: cnt, type: 'int8[200]'}
    - {name: u64f, type: uint64, options.type: fixed4}
    - {name: onlyu, type: union, union: [{name: l, type: '*int8'}, {name: m, type: Big}]}
- name: Opt
  id: 4
  options.defaults.optional: yes
  fields:
    - {name: a, type: int32}
    - {name: s, type: string}
    - {name: pm, type: uint16, options.pmap: yes}
    - {name: l, type: '*int16'}
    - {name: t, type: int64, options.type: time_point, options.resolution: us}
    - {name: r, type: int8, options.optional: no}
"""
VECTORS = load_vectors()
SETTINGS = dict(deadline=5000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])


@lru_cache(maxsize=None)
def scheme(name: str) -> tllschema.Scheme:
    if name == "edge":
        return tllschema.load("yamls://" + EDGE)
    return tllschema.load(str(GOLDEN / "scheme" / name))


def messages() -> list[tuple[str, str]]:
    return [(s, m.name) for s in SCHEMES for m in scheme(s).messages]


MESSAGES = messages()
IDS = [f"{s.split('.')[0]}-{m}" for s, m in MESSAGES]


def outcome(fn, *args):
    """('ok', plain value as repr) or ('error', exception class name); anything else propagates."""
    try:
        return "ok", repr(tllschema.plain(fn(*args), raw=True))
    except tllschema.SchemeError as e:
        assert str(e), "errors must say what is wrong"
        return "error", type(e).__name__


@pytest.mark.parametrize("scheme_name,name", MESSAGES, ids=IDS)
@settings(max_examples=40, **SETTINGS)
@given(data=st.data())
def test_fast_and_construct_encode_identically_and_round_trip(scheme_name, name, data):
    msg = scheme(scheme_name).message(name)
    value = data.draw(strategies.message_values(msg), label="value")
    fast = msg.encode(value)
    ref = codec.encode(msg, value)
    assert fast.hex() == ref.hex()  # (a)
    want = strategies.expected(msg, value)
    for decode, encode in ((msg.decode, msg.encode), (lambda b: codec.decode(msg, b), lambda v: codec.encode(msg, v))):
        rec = decode(fast)
        assert tllschema.plain(rec, raw=True) == want  # (b)
        assert encode(rec) == fast
    assert tllschema.plain(codec.decode(msg, fast), raw=True) == tllschema.plain(msg.decode(fast), raw=True)


@pytest.mark.parametrize("scheme_name,name", MESSAGES, ids=IDS)
@settings(max_examples=40, **SETTINGS)
@given(data=st.data())
def test_decoders_agree_on_random_bytes(scheme_name, name, data):
    msg = scheme(scheme_name).message(name)
    buf = data.draw(st.binary(min_size=max(0, msg.size - 2), max_size=msg.size + 48), label="buf")
    assert outcome(msg.decode, buf) == outcome(codec.decode, msg, buf)


def _mutate(buf: bytearray, data) -> bytearray:
    kind = data.draw(st.sampled_from(["flip", "truncate", "u32", "u24", "u16", "byte"]), label="kind")
    if not buf:
        return buf
    at = data.draw(st.integers(0, len(buf) - 1), label="at")
    if kind == "flip":
        buf[at] ^= data.draw(st.integers(1, 255), label="mask")
    elif kind == "truncate":
        del buf[at:]
    elif kind == "byte":
        buf[at] = data.draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]) | st.integers(0, 255), label="b")
    else:
        width = {"u32": 4, "u24": 3, "u16": 2}[kind]
        value = data.draw(st.integers(0, (1 << (8 * width)) - 1) | st.integers(0, 2 * len(buf)), label="v")
        buf[at:at + width] = value.to_bytes(width, "little")[: len(buf) - at]
    return buf


@settings(max_examples=300, **SETTINGS)
@given(data=st.data())
def test_decoders_agree_on_mutated_golden_vectors(data):
    case = data.draw(st.sampled_from(VECTORS), label="case")
    msg = scheme(case["scheme"]).message(case["message"])
    buf = bytearray.fromhex(case["hex"])
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        buf = _mutate(buf, data)
    buf = bytes(buf)
    assert outcome(msg.decode, buf) == outcome(codec.decode, msg, buf)


def pointer_slots(t, buf: bytes, pos: int):
    """(position, element size) of every default offset pointer in a valid encoding of `t` at `pos`."""
    if isinstance(t, Pointer):
        if t.version != "default":
            return
        yield pos, (1 if t.string else t.elem.size)
        off, lo, hi, stride = struct.unpack_from("<IHBB", buf, pos)
        count, start = lo | hi << 16, pos + off
        if t.string or not count:
            return
        if stride == 0xFF:
            stride, start = struct.unpack_from("<I", buf, start)[0], start + 4
        for i in range(count):
            yield from pointer_slots(t.elem, buf, start + i * stride)
    elif isinstance(t, MessageRef):
        for f in t.message.fields:
            yield from pointer_slots(f.type, buf, pos + f.offset)
    elif isinstance(t, Array):
        count = int.from_bytes(buf[pos:pos + t.count_size], "little", signed=True)
        for i in range(count):
            yield from pointer_slots(t.elem, buf, pos + t.count_size + i * t.elem.size)
    elif isinstance(t, UnionRef):
        yield from pointer_slots(t.union.fields[buf[pos]].type, buf, pos + 1)


POINTER_CASES = [c for c in VECTORS if c["scheme"] == "alltypes.yaml" and c["message"] in ("Pointers", "Unions", "Nested", "Bytes")]


@settings(max_examples=400, **SETTINGS)
@given(data=st.data())
def test_decoders_agree_on_random_pointers(data):
    """Golden encodings with arbitrary offsets, counts and entities written into their pointers."""
    case = data.draw(st.sampled_from(POINTER_CASES), label="case")
    msg = scheme(case["scheme"]).message(case["message"])
    buf = bytearray.fromhex(case["hex"])
    slots = list(pointer_slots(MessageRef(msg), bytes(buf), 0))
    lists = [s for s in slots if s[1] > 1] or slots  # strings ignore the stride: favour real lists
    for _ in range(data.draw(st.integers(1, 3), label="n")):
        at, esize = data.draw(st.sampled_from(lists) | st.sampled_from(slots), label="slot")
        small = st.integers(0, 4)
        off = data.draw(st.integers(0, len(buf) - at) | st.integers(0, len(buf) - at + 8) | st.sampled_from([0, 0xFFFFFFFF]), label="off")
        count = data.draw(small | small | small | st.integers(0, 0xFFFFFF), label="count")
        wider = st.sampled_from(sorted({min(esize + 1, 0xFE), min(2 * esize, 0xFE)}))  # stride != element size
        entity = data.draw(wider | wider | st.sampled_from(sorted({0, 1, 0xFF, esize, max(esize - 1, 0)}))
                           | st.integers(0, 255), label="entity")
        buf[at:at + 8] = struct.pack("<IHBB", off, count & 0xFFFF, count >> 16, entity & 0xFF)
    buf = bytes(buf)
    assert outcome(msg.decode, buf) == outcome(codec.decode, msg, buf)


# -- the generated module written to disk --------------------------------------------------------
@lru_cache(maxsize=None)
def _module(tmp_dir: str, name: str):
    path = f"{tmp_dir}/gen_{name.split('.')[0]}.py"
    with open(path, "w") as f:
        f.write(scheme(name).source())
    spec = importlib.util.spec_from_file_location(f"gen_{name.split('.')[0]}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("generated"))


def test_generated_module_imports_and_matches_vectors(gen_dir):
    for case in VECTORS:
        mod = _module(gen_dir, case["scheme"])
        cls = mod.MESSAGES[case["message"]]
        assert (cls.NAME, cls.MSGID, cls.SIZE) == (case["message"], case["msgid"], case["fixed_size"])
        assert cls(case["input"]).encode().hex() == case["hex"]
        assert tllschema.plain(cls.decode(bytes.fromhex(case["hex"])), raw=True) == case["fields"]
        if cls.MSGID:
            assert mod.BY_MSGID[cls.MSGID] is cls


@settings(max_examples=30, **SETTINGS)
@given(data=st.data())
def test_generated_module_matches_construct_codec(gen_dir, data):
    scheme_name, name = data.draw(st.sampled_from(MESSAGES), label="message")
    msg = scheme(scheme_name).message(name)
    cls = _module(gen_dir, scheme_name).MESSAGES[name]
    value = data.draw(strategies.message_values(msg), label="value")
    body = cls(value).encode()
    assert body == codec.encode(msg, value)
    assert tllschema.plain(cls.decode(body), raw=True) == tllschema.plain(codec.decode(msg, body), raw=True)
