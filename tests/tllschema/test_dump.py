"""Scheme dump: our `yamls`/`yamls+gz` text equals the reference's, and both forms load back."""
from __future__ import annotations

import base64
import gzip

import pytest
import yaml

import tllschema
from tests.conftest import GOLDEN

DUMPS = yaml.safe_load((GOLDEN / "scheme" / "dumps.yaml").read_text())


def layout(scheme: tllschema.Scheme) -> list:
    return [(m.name, m.msgid, m.size, [(f.name, f.offset, f.size) for f in m.fields]) for m in scheme.messages]


@pytest.mark.parametrize("name", sorted(DUMPS))
def test_dump_text_matches_reference(golden, name):
    s = tllschema.load(str(golden / "scheme" / name))
    assert s.dump("yamls") == DUMPS[name]["yamls"]
    assert s.dump("yamls+gz") == DUMPS[name]["yamls+gz"]
    assert s.dump() == DUMPS[name]["yamls"]


@pytest.mark.parametrize("name", sorted(DUMPS))
@pytest.mark.parametrize("form", ["yamls", "yamls+gz"])
def test_reference_dump_loads_with_same_layout(golden, name, form):
    source = tllschema.load(str(golden / "scheme" / name))
    loaded = tllschema.load(DUMPS[name][form])
    assert layout(loaded) == layout(source)
    assert loaded.dump() == source.dump()


def test_gzip_wrapper_is_accepted(golden):
    text = DUMPS["transaction.yaml"]["yamls"][len("yamls://"):]
    url = "yamls+gz://" + base64.b64encode(gzip.compress(text.encode())).decode()
    assert layout(tllschema.load(url)) == layout(tllschema.load(DUMPS["transaction.yaml"]["yamls"]))


def test_yaml_url_and_plain_path_agree(golden):
    path = golden / "scheme" / "alltypes.yaml"
    assert tllschema.load(f"yaml://{path}").dump() == tllschema.load(str(path)).dump()


def test_empty_scheme_dumps_empty():
    s = tllschema.load("yamls://")
    assert s.messages == [] and s.dump("yamls+gz") == "yamls+gz://"
