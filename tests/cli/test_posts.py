"""parse_post: one --post-jsonl line, checked before anything is posted."""
from __future__ import annotations

import pytest

from streamproto.cli.posts import Post, PostLineError, Rotate, Sleep, parse_post


def test_accepted_lines() -> None:
    assert parse_post(b'{"msgid": 10, "seq": 40, "hex": "646464"}') == \
        Post(msgid=10, seq=40, body=b"ddd")
    assert parse_post(b'{"hex": "", "addr": 3}') == Post(msgid=0, body=b"", addr=3)
    assert parse_post(b'{"name": "T", "data": {"id": 1}}') == Post(name="T", data={"id": 1})
    assert parse_post(b'{"sleep": 0}') == Sleep(0.0)
    assert parse_post(b'{"rotate": true}') == Rotate()
    assert parse_post(b'{"seq": -9223372036854775808, "msgid": -2147483648, "hex": "00", '
                      b'"event": "data", "online": true}').seq == -(1 << 63)


@pytest.mark.parametrize("line,text", [
    (b'{"seq": 9223372036854775808, "hex": ""}', "'seq' 9223372036854775808 is out of the int64"),
    (b'{"msgid": 2147483648, "hex": ""}', "'msgid' 2147483648 is out of the int32"),
    (b'{"msgid": true, "hex": ""}', "'msgid' must be an integer, got true"),
    (b'{"addr": "x", "hex": ""}', "'addr' must be an integer"),
    (b'{"sleep": NaN}', "'sleep' nan is not a duration"),
    (b'{"sleep": Infinity}', "'sleep' inf is not a duration"),
    (b'{"sleep": [1]}', "'sleep' must be a number of seconds, got an array"),
    (b'{"name": "T", "data": [1]}', "'data' must be an object"),
    (b"[" * 100_000, "invalid JSON"),
    (b"{}", "expected 'hex'"),
    (b"null", "got null"),
])
def test_rejected_lines(line: bytes, text: str) -> None:
    with pytest.raises(PostLineError) as e:
        parse_post(line)
    assert text in str(e.value)
