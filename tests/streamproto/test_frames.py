"""Frame variants of tcp:// (docs/network-format.md#tcp-frames): bytes, parsing in pieces, receive limit."""
from __future__ import annotations

import pytest

from streamproto.errors import ConfigError, LocalProtocolError, RemoteProtocolError
from streamproto.frames import FRAMES, FrameReader, frame_format

# docs/network-format.md#tcp-frames: post msgid=-2, seq=0x100000005, body "abc" captured from a C++ client
SPEC_BYTES = {
    "std": "03000000" "feffffff" "0500000001000000" "616263",
    "short": "0300" "feff" "0500000001000000" "616263",
    "size32": "03000000" "616263",
    "none": "616263",
}


@pytest.mark.parametrize("name", sorted(SPEC_BYTES))
def test_encode_matches_reference_capture(name):
    assert frame_format(name).encode(-2, 0x100000005, b"abc").hex() == SPEC_BYTES[name]


def test_tiny_frame_bytes_and_refuses_seq_truncation():
    tiny = frame_format("tiny")
    assert tiny.encode(-2, 5, b"abc").hex() == "0300" "feff" "05000000" "616263"
    # the reference truncates 0x100000005 to 5 silently; we refuse instead of rewriting data
    with pytest.raises(LocalProtocolError, match="seq 4294967301 does not fit int32"):
        tiny.encode(-2, 0x100000005, b"abc")


@pytest.mark.parametrize("alias,name", [("l4m4s8", "std"), ("l2m2s8", "short"),
                                        ("l2m2s4", "tiny"), ("l4", "size32")])
def test_aliases(alias, name):
    assert frame_format(alias) is frame_format(name)


def test_unknown_frame_is_config_error():
    with pytest.raises(ConfigError, match="unknown frame 'l8'"):
        frame_format("l8")


@pytest.mark.parametrize("name,body,msgid", [("short", b"x" * 65536, 1), ("tiny", b"x" * 70000, 1),
                                             ("short", b"", 40000), ("tiny", b"", -40000)])
def test_sender_refuses_values_that_corrupt_the_stream(name, body, msgid):
    with pytest.raises(LocalProtocolError, match=f"frame {name}"):
        frame_format(name).encode(msgid, 0, body)


MESSAGES = [(10, 0, b""), (-2, 7, b"abc"), (32000, -1, bytes(range(256)) * 4), (1, 2**31 - 1, b"z")]


@pytest.mark.parametrize("name", ["std", "short", "tiny", "size32"])
@pytest.mark.parametrize("step", [1, 3, 17, 10_000])
def test_parse_any_split(name, step):
    fmt = frame_format(name)
    stream = b"".join(fmt.encode(m, s, b) for m, s, b in MESSAGES)
    reader = FrameReader(name, limit=64 * 1024)
    got = []
    for i in range(0, len(stream), step):
        reader.feed(stream[i:i + step])
        got.extend(reader.frames())
    if fmt.fields == "sms":
        assert got == MESSAGES
    else:   # size-only frames carry neither msgid nor seq
        assert got == [(0, 0, b) for _m, _s, b in MESSAGES]
    assert reader.pending == 0


def test_parse_callback_fast_path_keeps_incomplete_tail():
    fmt = frame_format("std")
    stream = fmt.encode(1, 1, b"one") + fmt.encode(2, 2, b"two")
    reader = FrameReader("std")
    out = []
    reader.parse(stream[:25], lambda m, s, b: out.append((m, s, b)))
    assert out == [(1, 1, b"one")] and reader.pending == 6
    reader.parse(stream[25:], lambda m, s, b: out.append((m, s, b)))
    assert out == [(1, 1, b"one"), (2, 2, b"two")] and reader.pending == 0


def test_none_frame_one_message_per_chunk():
    reader = FrameReader("none")
    reader.feed(b"abc")
    reader.feed(b"")
    reader.feed(b"de")
    assert list(reader.frames()) == [(0, 0, b"abc"), (0, 0, b"de")]


def test_bson_size_counts_itself_and_stays_in_body():
    doc = (9).to_bytes(4, "little") + b"hello"
    assert frame_format("bson").encode(0, 0, doc) == doc
    reader = FrameReader("bson")
    reader.feed(doc + doc[:3])
    assert list(reader.frames()) == [(0, 0, doc)]
    with pytest.raises(RemoteProtocolError, match="smaller than its own 4-byte header"):
        FrameReader("bson").feed((2).to_bytes(4, "little"))


@pytest.mark.parametrize("name", ["std", "short", "tiny", "size32"])
def test_frame_over_receive_limit_is_an_error_not_a_buffer(name):
    fmt = frame_format(name)
    reader = FrameReader(name, limit=1024, where="test conn")
    reader.feed(fmt.encode(1, 1, b"ok"))
    header_only = fmt.encode_header(1024 - fmt.header_size + 1, 3, 4)
    with pytest.raises(RemoteProtocolError, match=r"test conn: frame of 1025 bytes .* exceeds the receive limit of 1024 bytes at stream offset"):
        reader.feed(header_only)
    assert reader.pending < 1024
    with pytest.raises(RemoteProtocolError):     # stays failed
        reader.feed(b"more")


def test_frame_exactly_at_limit_is_accepted():
    reader = FrameReader("std", limit=1024)
    reader.feed(frame_format("std").encode(1, 1, b"x" * (1024 - 16)))
    assert [len(b) for _m, _s, b in reader.frames()] == [1008]


def test_large_frame_in_many_chunks_is_joined_once():
    body = bytes(range(256)) * 1000
    data = frame_format("std").encode(5, 6, body)
    reader = FrameReader("std", limit=1 << 20)
    for i in range(0, len(data), 1000):
        reader.feed(data[i:i + 1000])
    assert list(reader.frames()) == [(5, 6, body)]


def test_every_alias_listed():
    assert set(FRAMES) >= {"std", "short", "tiny", "size32", "none", "bson",
                           "l4m4s8", "l2m2s8", "l2m2s4", "l4"}
