"""Request-channel message layouts against docs/network-format.md#worked-examples and the golden captures."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from streamproto.errors import LocalProtocolError, RemoteProtocolError
from streamproto.stream import protocol as P


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", "").replace("|", "").replace("00*8", "00" * 8))


def test_request_new_seq_with_peer():  # docs/network-format.md#worked-examples
    msgid, body = P.encode_request(P.Request(P.REQUEST_SEQ, 100, client="c0"))
    assert msgid == 12
    assert body == h("01 00 | 21 00 00 00 03 00 00 01 | 00*8 | 00 | 64 00 00 00 00 00 00 00 | 00*8 | 63 30 00")


def test_request_old_seq_with_peer():  # docs/network-format.md#worked-examples
    msgid, body = P.encode_request(P.Request(P.REQUEST_SEQ, 100, client="c0", old=True))
    assert msgid == 11
    assert body == h("01 00 | 64 00 00 00 00 00 00 00 | 19 00 00 00 03 00 00 01 | 00*8 | 00*8 | 00 | 63 30 00")


def test_request_block_both_protocols():  # docs/network-format.md#request-channel-messages
    new = P.Request(P.REQUEST_BLOCK, block_type="default", block_index=1, client="test")
    assert P.encode_request(new)[1] == h(
        "01 00 | 21 00 00 00 05 00 00 01 | 00*8 | 01 | 15 00 00 00 08 00 00 01 | 01 00 00 00 00 00 00 00"
        "| 74 65 73 74 00 | 64 65 66 61 75 6c 74 00")
    old = P.Request(P.REQUEST_BLOCK, block_type="default", block_index=1, client="test", old=True)
    assert P.encode_request(old)[1] == h(
        "01 00 | 01 00 00 00 00 00 00 00 | 19 00 00 00 05 00 00 01 | 16 00 00 00 08 00 00 01 | 00*8 | 00"
        "| 74 65 73 74 00 | 64 65 66 61 75 6c 74 00")


def test_request_without_peer_has_null_client_pointer():
    _, body = P.encode_request(P.Request(P.REQUEST_LAST))
    assert body == bytes([1, 0]) + bytes(16) + bytes([3]) + bytes(16)


@pytest.mark.parametrize("kind", ["initial", "last"])
def test_old_protocol_cannot_express_initial_or_last(kind):
    with pytest.raises(LocalProtocolError, match="RequestOld cannot express"):
        P.encode_request(P.Request(kind, old=True))


def test_reply_layouts():  # docs/network-format.md#worked-examples
    assert P.encode_reply(P.Reply(130, 100, -1)) == h(
        "82 00 00 00 00 00 00 00 64 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff 00*8")
    with_name = P.encode_reply(P.Reply(130, 100, -1, "s"))
    assert with_name[24:] == h("08 00 00 00 02 00 00 01 73 00")
    assert P.decode_reply(with_name) == P.Reply(130, 100, -1, "s")


def test_error_and_client_done_layouts():  # docs/network-format.md#worked-examples
    assert P.encode_error("oops") == h("10 00 00 00 05 00 00 01 | 00*8 | 6f 6f 70 73 00")
    assert P.decode_error(P.encode_error("oops")) == P.Error("oops")
    assert P.encode_client_done(30) == h("1e00000000000000")
    assert P.decode_client_done(h("1e00000000000000")) == P.ClientDone(30)


def test_begin_of_block_body():
    assert P.decode_begin_of_block(P.encode_begin_of_block(10)) == 10


def test_decode_accepts_both_empty_string_forms():
    body = bytearray(P.encode_reply(P.Reply(1, 2, -1)))
    body[24:32] = h("08 00 00 00 01 00 00 01")
    body += b"\0"
    assert P.decode_reply(bytes(body)).server == ""


def test_decode_compact_request_old():
    # a RequestOld with its tail right after the 34-byte fixed part (no pad byte)
    body = bytearray(34)
    body[0:2] = b"\x01\x00"
    body[2:10] = (5).to_bytes(8, "little")
    body[10:18] = h("18 00 00 00 03 00 00 01")  # offset 24 from 10 -> 34
    body += b"c0\0"
    assert P.decode_request(11, bytes(body)) == P.Request(P.REQUEST_SEQ, 5, client="c0", old=True)


@pytest.mark.parametrize("msgid,body,match", [
    (12, bytes(34), r"Request: body is 34 bytes, shorter than its fixed size 35"),
    (11, bytes(33), r"RequestOld: body is 33 bytes"),
    (12, b"\x02\x00" + bytes(33), r"Request.version: unsupported version 2, expected 1 .*offset 0"),
    (12, b"\x01\x00" + bytes(16) + b"\x07" + bytes(16), r"Request.data: unknown union tag 7 .*offset 18"),
    (12, b"\x01\x00" + h("f0 00 00 00 03 00 00 01") + bytes(25),
     r"Request.client: pointer .* runs past the end of the 35-byte body .*offset 2"),
    (12, b"\x01\x00" + bytes(8) + h("08 00 00 00 02 00 00 10") + bytes(17),
     r"Request.attributes: pointer .* runs past the end"),
    (12, b"\x01\x00" + bytes(16) + b"\x01" + h("10 00 00 00 04 00 00 02") + bytes(8),
     r"Request.data.block.block: pointer"),
    (30, b"", None),
])
def test_decode_request_rejects_malformed(msgid, body, match):
    with pytest.raises(RemoteProtocolError, match=match or "not a request"):
        P.decode_request(msgid, body)


def test_decode_short_reply_error_done():
    with pytest.raises(RemoteProtocolError, match="Reply: body is 31 bytes"):
        P.decode_reply(bytes(31))
    with pytest.raises(RemoteProtocolError, match="Error: body is 15 bytes"):
        P.decode_error(bytes(15))
    with pytest.raises(RemoteProtocolError, match="ClientDone: body is 7 bytes"):
        P.decode_client_done(bytes(7))


def test_entity_escape_is_followed():
    # attributes list with entity 0xff: element size stored as uint32 in front of the elements
    t = bytearray(35)
    t[0:2] = b"\x01\x00"
    t[18] = 0
    t[10:18] = h("19 00 00 00 01 00 00 ff")  # offset 25 -> 35
    t += (16).to_bytes(4, "little") + bytes(16)
    assert P.decode_request(12, bytes(t)).attributes == (("", ""),)


def test_encode_rejects_out_of_range_seq():
    with pytest.raises(LocalProtocolError, match="out of range"):
        P.encode_request(P.Request(P.REQUEST_SEQ, -1))


names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=20)
seqs = st.integers(0, (1 << 63) - 1)


@given(kind=st.sampled_from(P.REQUEST_KINDS), seq=seqs, btype=names.filter(bool), index=seqs,
       client=names, attrs=st.lists(st.tuples(names, names), max_size=3).map(tuple), old=st.booleans())
def test_request_roundtrip(kind, seq, btype, index, client, attrs, old):
    if old and kind in ("initial", "last"):
        return
    req = P.Request(kind, seq if kind == "seq" else 0, btype if kind == "block" else "",
                    index if kind == "block" else 0, client, attrs, old)
    msgid, body = P.encode_request(req)
    assert P.decode_request(msgid, body) == req


@given(last=st.integers(-1 << 63, (1 << 63) - 1), req=st.integers(-1 << 63, (1 << 63) - 1),
       block=st.integers(-1 << 63, (1 << 63) - 1), server=names, error=names)
def test_reply_error_roundtrip(last, req, block, server, error):
    assert P.decode_reply(P.encode_reply(P.Reply(last, req, block, server))) == P.Reply(last, req, block, server)
    assert P.decode_error(P.encode_error(P.Error(error, server))) == P.Error(error, server)


@given(st.binary(max_size=80), st.sampled_from([11, 12]))
def test_decode_request_garbage_never_crashes(body, msgid):
    try:
        P.decode_request(msgid, body)
    except RemoteProtocolError:
        pass
