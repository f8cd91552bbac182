"""Random bytes from a peer end in frames/events or a RemoteProtocolError, never another exception
(and never a LocalProtocolError: that would be our bug)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streamproto.errors import RemoteProtocolError
from streamproto.frames import FrameReader
from streamproto.pub.protocol import PubClientCore, parse_hello
from streamproto.stream import protocol as P

FRAMES = ["std", "short", "tiny", "size32", "none"]


@settings(max_examples=300, deadline=5000)
@given(frame=st.sampled_from(FRAMES), chunks=st.lists(st.binary(max_size=64), max_size=8))
def test_frame_reader_on_random_bytes(frame, chunks):
    reader = FrameReader(frame, limit=256)
    got = []
    try:
        for c in chunks:
            reader.parse(c, lambda msgid, seq, body: got.append((msgid, seq, bytes(body))))
    except RemoteProtocolError:
        return
    assert all(len(body) <= 256 for _, _, body in got)  # the receive limit holds


@settings(max_examples=300, deadline=5000)
@given(chunks=st.lists(st.binary(max_size=64), max_size=6))
def test_pub_client_on_random_server_bytes(chunks):
    core = PubClientCore("peer", limit=512)
    core.hello()
    for c in chunks:                    # a bad server only fails the client: nothing raises
        core.receive_data(c)
    assert core.state != "Error" or core.reason      # a failure says why


@settings(max_examples=300, deadline=5000)
@given(data=st.binary(max_size=128))
def test_hello_parser_on_random_bytes(data):
    try:
        parse_hello(data)
    except RemoteProtocolError:
        pass


@settings(max_examples=300, deadline=5000)
@given(msgid=st.sampled_from([P.REQUEST_OLD, P.REQUEST, 99]), body=st.binary(max_size=96))
def test_request_decoder_on_random_bytes(msgid, body):
    try:
        P.decode_request(msgid, body)
    except RemoteProtocolError:
        pass


@settings(max_examples=300, deadline=5000)
@given(body=st.binary(max_size=96))
def test_reply_and_error_decoders_on_random_bytes(body):
    for decode in (P.decode_reply, P.decode_error, P.decode_client_done):
        try:
            decode(body)
        except RemoteProtocolError:
            pass
