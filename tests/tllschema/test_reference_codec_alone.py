"""The construct reference codec stands alone: it needs no generated class (issue 9), and the
model declares the codec attributes a Scheme binds instead of having them patched on."""
from __future__ import annotations

import dataclasses

import pytest

import tllschema
from tllschema import codec
from tllschema.model import Message
from tllschema.parse import SchemeBuilder
from tllschema.record import ValueRecord
from tllschema.url import fetch

TEXT = """\
- name: Sub
  fields:
    - {name: s0, type: int32}
    - {name: name, type: string}
- name: M
  id: 5
  fields:
    - {name: items, type: '*Sub'}
    - {name: price, type: int64, options.type: fixed2}
    - {name: t, type: int64, options.type: time_point, options.resolution: ms}
    - {name: keys, type: 'int8[2]'}
"""
VALUE = {"items": [{"s0": 1, "name": "x"}], "price": "1.25", "t": 5, "keys": [1]}


def bare_model() -> Message:
    """The model alone, as the parser builds it: no Scheme, nothing generated."""
    builder = SchemeBuilder(fetch)
    builder.add_document(TEXT, "yamls://", None, imported=False)
    return builder.messages["M"]


def test_message_declares_its_codec_attributes():
    names = {f.name for f in dataclasses.fields(Message)}
    assert {"record_class", "decode", "scheme"} <= names
    assert "encode" in vars(Message) and "new" in vars(Message) and "bind" in vars(Message)


def test_reference_codec_needs_no_generated_class():
    msg = bare_model()
    assert msg.record_class is None and msg.scheme is None
    body = codec.encode(msg, VALUE)
    rec = codec.decode(msg, body)
    assert isinstance(rec, ValueRecord) and rec.NAME == "M"
    assert tllschema.plain(rec, raw=True) == {"items": [{"s0": 1, "name": "x"}], "price": "1.25", "t": 5, "keys": [1]}
    assert rec["items"][0].name == "x" and codec.encode(msg, rec) == body
    # the message's own methods work unbound too, through the reference codec
    assert msg.encode(VALUE) == body and msg.decode(body) == rec and msg.decode(b"\0" + body, 1) == rec
    with pytest.raises(tllschema.SchemeError, match="no record class"):
        msg.new(VALUE)


def test_scheme_binds_the_fast_path_and_both_agree():
    scheme = tllschema.load("yamls://" + TEXT)
    msg = scheme.message("M")
    assert msg.record_class is not None and msg.decode == msg.record_class.decode
    body = msg.encode(VALUE)
    assert body == codec.encode(msg, VALUE) == bare_model().encode(VALUE)
    assert msg.decode(body) == codec.decode(msg, body) and type(msg.decode(body)) is msg.record_class
    assert msg.encode(codec.decode(msg, body)) == body and type(msg.new(VALUE)) is msg.record_class
