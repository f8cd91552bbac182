"""`schema compile` output is stamped with the runtime ABI and the scheme's hash, and refuses to
import under a runtime with another ABI (issue 9)."""
from __future__ import annotations

import hashlib
import importlib.util
import re
import sys

import pytest

import tllschema
import tllschema.runtime
from tllschema import compile as tcompile
from tllschema.errors import RuntimeABIError

SCHEME = "yamls://- name: M\n  id: 7\n  fields:\n    - {name: a, type: int32}\n    - {name: l, type: '*int16'}\n"


def _import(path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(name, None)
    return mod


@pytest.fixture
def compiled(tmp_path):
    scheme = tllschema.load(SCHEME)
    path = tmp_path / "gen_m.py"
    path.write_text(scheme.source())
    return scheme, path


def test_module_is_stamped_with_abi_and_scheme_hash(compiled):
    scheme, path = compiled
    mod = _import(path, "gen_m_ok")
    assert mod.TLLSCHEMA_ABI == tllschema.runtime.RUNTIME_ABI
    assert isinstance(tllschema.runtime.RUNTIME_ABI, int)
    assert mod.SCHEME_HASH == scheme.hash() == "sha256://" + hashlib.sha256(scheme.dump()[len("yamls://"):].encode()).hexdigest()
    assert mod.MESSAGES["M"](a=1, l=[2]).encode() == scheme.message("M").encode(a=1, l=[2])


def test_scheme_hash_is_the_dump_digest():
    scheme = tllschema.load(SCHEME)
    assert re.fullmatch(r"sha256://[0-9a-f]{64}", scheme.dump("sha256"))
    assert tllschema.load(scheme.dump()).hash() == scheme.hash() != tllschema.load(SCHEME.replace("int32", "int64")).hash()


def test_import_under_another_abi_fails_naming_both_numbers(compiled, monkeypatch):
    _, path = compiled
    ours = tllschema.runtime.RUNTIME_ABI
    monkeypatch.setattr(tllschema.runtime, "RUNTIME_ABI", ours + 1)
    with pytest.raises(ImportError) as e:
        _import(path, "gen_m_bad")
    assert isinstance(e.value, RuntimeABIError) and isinstance(e.value, tllschema.SchemeError)
    text = str(e.value)
    assert f"generated for tllschema runtime ABI {ours}," in text
    assert f"has runtime ABI {ours + 1}" in text
    assert f"regenerate it with `streamproto schema compile SCHEME -o {path}`" in text


def test_import_under_a_runtime_without_abi_still_says_why(compiled, monkeypatch):
    _, path = compiled
    monkeypatch.delattr(tllschema.runtime, "RUNTIME_ABI")
    monkeypatch.delattr(tllschema.runtime, "RuntimeABIError")
    with pytest.raises(ImportError, match=r"generated for tllschema runtime ABI \d+, but the installed tllschema has runtime ABI none"):
        _import(path, "gen_m_old")


#: The helpers a generated module imports, pinned to RUNTIME_ABI: if this list changes, the
#: generated code and the runtime no longer match, so RUNTIME_ABI must change too (and this pin).
PINNED = {1: (
    "tllschema.convert: bits_class check_double check_int enum_class enum_value logical_fixed raw_bits raw_bytes "
    "raw_dec128 raw_enum raw_fixed raw_time | tllschema.errors: DecodeError EncodeError | tllschema.record: "
    "Record as_record init_fields pack_failure | tllschema.runtime: bytestring dec128 decode_budget "
    "read_array_count read_list read_scalar_list read_string truncated union_pick union_tag write_array_count "
    "write_list write_scalar_list write_string | tllschema.values: UnionValue make_duration make_time_point"
)}


def test_runtime_imports_are_pinned_to_the_abi_number():
    imports = re.findall(r"from (tllschema\.\w+) import \(?([^)]*?)\)?\n(?=\S|\n)", tcompile._PRELUDE + "\n")
    text = " | ".join(f"{mod}: " + " ".join(sorted(n.split(" as ")[0].strip() for n in names.replace("\n", " ").split(",") if n.strip()))
                      for mod, names in sorted(imports))
    assert PINNED.get(tllschema.runtime.RUNTIME_ABI) == text, "the runtime helpers changed: bump RUNTIME_ABI and this pin"
