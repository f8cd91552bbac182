"""Every golden vector: encoding `input` gives `hex`, decoding `hex` gives `fields`, via the library."""
from __future__ import annotations

import pytest

import tllschema
from tests.tllschema.golden_vectors import case_id, golden_scheme, load_vectors

VECTORS = load_vectors()


@pytest.mark.parametrize("case", VECTORS, ids=[case_id(c) for c in VECTORS])
def test_encode_matches_reference(case):
    msg = golden_scheme(case["scheme"]).message(case["message"])
    assert msg.msgid == case["msgid"]
    assert msg.size == case["fixed_size"]
    body = msg.encode(case["input"])
    assert body.hex() == case["hex"]
    assert len(body) == case["size"]


@pytest.mark.parametrize("case", VECTORS, ids=[case_id(c) for c in VECTORS])
def test_decode_matches_reference(case):
    msg = golden_scheme(case["scheme"]).message(case["message"])
    rec = msg.decode(bytes.fromhex(case["hex"]))
    assert tllschema.plain(rec, raw=True) == case["fields"]


@pytest.mark.parametrize("case", VECTORS, ids=[case_id(c) for c in VECTORS])
def test_decode_then_encode_is_identity(case):
    msg = golden_scheme(case["scheme"]).message(case["message"])
    rec = msg.decode(bytes.fromhex(case["hex"]))
    assert msg.encode(rec).hex() == case["hex"]


def test_vectors_present(golden):
    assert len(VECTORS) >= 10
