"""schemas/stream.yaml and stream-control.yaml, read by tllschema, agree with protocol.py.

Known, deliberate byte difference: an unset list. The C++ generated binder (which the reference
client and server use on the wire, see golden/wire) leaves an unset ``*Attribute`` pointer all
zero; the generic encoder (reference Python binding, mirrored by tllschema) writes
``offset = end, count 0, entity 16``. Both decode to an empty list.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

import tllschema
from streamproto import schemas
from streamproto.stream import protocol as P


@pytest.fixture(scope="module")
def stream():
    return tllschema.load(schemas.url("stream.yaml"))


def test_ids_and_fixed_sizes(stream):
    got = {m.name: (m.msgid, m.size) for m in stream.messages if m.msgid}
    assert got == {"RequestOld": (11, 34), "Request": (12, 35), "Reply": (20, 32),
                   "Error": (30, 16), "ClientDone": (40, 8)}


def _zero_empty_list(body: bytes, pos: int) -> bytes:
    word = int.from_bytes(body[pos + 4:pos + 8], "little")
    if word & 0xFFFFFF == 0:
        return body[:pos] + bytes(8) + body[pos + 8:]
    return body


names = st.text(st.characters(min_codepoint=32, max_codepoint=0x7ff), max_size=12)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(P.REQUEST_KINDS), seq=st.integers(0, (1 << 63) - 1), client=names,
       btype=names.filter(bool))
def test_request_same_bytes(stream, kind, seq, client, btype):
    req = P.Request(kind, seq if kind == "seq" else 0, btype if kind == "block" else "",
                    seq if kind == "block" else 0, client)
    _, ours = P.encode_request(req)
    data = {"seq": seq} if kind == "seq" else \
        {"block": {"block": btype, "index": seq}} if kind == "block" else {kind: 0}
    fields = {"version": 1, "data": data}
    if client:
        fields["client"] = client
    theirs = stream.message("Request").encode(fields)
    assert _zero_empty_list(theirs, 10) == ours
    rec = tllschema.plain(stream.message("Request").decode(ours), raw=True)
    assert rec["client"] == client and rec["attributes"] == [] and list(rec["data"]) == [kind]


@settings(max_examples=40, deadline=None)
@given(seq=st.integers(0, (1 << 63) - 1), client=names, btype=names)
def test_request_old_cross_decode(stream, seq, client, btype):
    kind = "block" if btype else "seq"
    req = P.Request(kind, seq if kind == "seq" else 0, btype, seq if kind == "block" else 0,
                    client, old=True)
    _, ours = P.encode_request(req)     # C++ layout: 35-byte buffer, tail at 35
    rec = tllschema.plain(stream.message("RequestOld").decode(ours), raw=True)
    assert (rec["seq"], rec["client"], rec["block"]) == (seq, client, btype)
    fields = {"version": 1, "seq": seq}
    if client:
        fields["client"] = client
    if btype:
        fields["block"] = btype
    theirs = stream.message("RequestOld").encode(fields)   # compact: tail at 34
    assert P.decode_request(11, theirs) == req


@given(last=st.integers(-1 << 63, (1 << 63) - 1), req=st.integers(-1 << 63, (1 << 63) - 1),
       block=st.integers(-1 << 63, (1 << 63) - 1), server=names, error=names.filter(bool))
@settings(max_examples=60, deadline=None)
def test_reply_error_done_same_bytes(stream, last, req, block, server, error):
    reply = {"last_seq": last, "requested_seq": req, "block_seq": block}
    if server:
        reply["server"] = server
    assert stream.message("Reply").encode(reply) == P.encode_reply(P.Reply(last, req, block, server))
    err = {"error": error}
    if server:
        err["server"] = server
    assert stream.message("Error").encode(err) == P.encode_error(P.Error(error, server))
    assert stream.message("ClientDone").encode({"seq": last}) == P.encode_client_done(last)


def test_control_scheme():
    ctl = tllschema.load(schemas.url("stream-control.yaml"))
    assert [(m.name, m.msgid, m.size) for m in ctl.messages] == [
        ("Online", 10, 0), ("EndOfBlock", 11, 0), ("BeginOfBlock", 12, 8)]
    assert ctl.message("BeginOfBlock").encode({"last_seq": 10}) == P.encode_begin_of_block(10)
