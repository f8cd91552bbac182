"""Message dumps in the reference's text form (src/channel/log.cc, src/tll/scheme/format.h)."""
from __future__ import annotations

import logging
from decimal import Decimal

import pytest
import yaml

import tllschema
from streamproto import schemas
from streamproto.channels.timer import TIMER_SCHEME
from streamproto.dump import format_fields, hexdump, message_text, parse_dump, state_text
from streamproto.errors import ConfigError
from tests.conftest import GOLDEN

TX = tllschema.load(schemas.url("transaction.yaml")).message("Transaction")
TIMER = tllschema.load(TIMER_SCHEME)
ALL = tllschema.load(f"yaml://{GOLDEN}/scheme/alltypes.yaml")


def _lines(message, case_index: int) -> list[str]:
    vectors = yaml.safe_load((GOLDEN / "scheme" / "vectors.yaml").read_text())
    cases = [c for c in vectors if c["message"] == message.name]
    return format_fields(message, message.decode(bytes.fromhex(cases[case_index]["hex"])))


def test_transaction_as_the_seed_transcript_shows_it():
    body = TX.encode(time="2024-09-09T14:06:11.037913425", id=1, price=Decimal("358.02"), count=42)
    warn, text = message_text("Recv", "auto", control=False, msgid=10, seq=0, body=body,
                              scheme=TX.scheme)
    assert not warn
    assert text == ("Recv message: type: Data, msgid: 10, name: Transaction, seq: 0, size: 26\n"
                    "  time: 2024-09-09T14:06:11.037913425\n  id: 1\n  price: 358.02\n"
                    "  count: 42\n")


def test_single_field_message_is_one_line_and_zero_time_has_no_fraction():
    ts = TIMER.message("absolute")
    assert format_fields(ts, ts.decode(ts.encode(ts=1725292393872665404))) == \
        ["{ts: 2024-09-02T15:53:13.872665404}"]
    assert format_fields(ts, ts.decode(ts.encode(ts=0))) == ["{ts: 1970-01-01T00:00:00}"]
    assert format_fields(ts, ts.decode(ts.encode(ts=500_000_000))) == ["{ts: 1970-01-01T00:00:00.5}"]
    rel = TIMER.message("relative")
    assert format_fields(rel, rel.decode(rel.encode(ts=1500))) == ["{ts: 1500ns}"]


def test_scalars_fixed_decimal128_and_doubles():
    assert _lines(ALL.message("Scalars"), 0)[-2:] == ["f64: 1.5", "dec: 123456.E-3"]
    assert _lines(ALL.message("Scalars"), 1)[-2:] == \
        ["f64: -0", "dec: -9999999999999999999999999999999999.E6111"]
    lines = _lines(ALL.message("Logical"), 0)
    assert lines[:5] == ["side: Sell", "status: Filled", "inl: Y", "flags: a | b | c", "price: 12.345"]
    assert lines[5:] == ["qty: -1.50", "ts_ns: 2024-09-09T14:06:21.038702405",
                         "ts_us: 2024-09-09T14:06:21.038702", "ts_s: 2024-09-09T14:06:21",
                         "ts_d: 2024-09-09T14:06:21.5", "dur_ms: 1500ms", "dur_d: 0.25s"]


def test_bytes_strings_lists_and_nested_messages():
    assert _lines(ALL.message("Bytes"), 0) == [
        r'raw: "\x01\x02\x03\x00\x00\x00\x00\x00"', 'text: "hello"', 'lic: "MIT"', 's: "abc"']
    assert _lines(ALL.message("Arrays"), 0) == [
        "a_i32: [1, 2, 3]", "a_sub:", "  - s0: 1", '    name: "x"', "  - s0: 2", '    name: "yy"']
    assert _lines(ALL.message("Arrays"), 1) == ["a_i32: []", "a_sub: []"]
    assert _lines(ALL.message("Pointers"), 0)[:8] == [
        "p_i16: [1, -2, 3]", "p_str:", '  - "a"', '  - "bc"', '  - ""', "p_sub:", "  - s0: 7",
        '    name: "q"']
    # unions are "scalar" list elements in the reference: one line each, the first line only
    assert _lines(ALL.message("Unions"), 0) == ['v: {s: "str"}', "lv: [{i: 5}, {d: 2.5}, sub:]"]
    nested = _lines(ALL.message("Nested"), 0)
    assert nested[:3] == ["header:", "  s0: 3", '  name: "head"']
    assert "  flags: " in nested and "  qty: 0.00" in nested


def test_headers_modes_and_addresses():
    body = b"hi\x00"
    assert message_text("Post", "auto", control=False, msgid=7, seq=3, body=body)[1] == (
        "Post message: type: Data, msgid: 7, name: (no scheme), seq: 3, size: 3\n" + hexdump(body))
    assert message_text("Recv", "frame", control=False, msgid=7, seq=3, body=body)[1] == \
        "Recv message: type: Data, msgid: 7, seq: 3, size: 3"
    assert message_text("Recv", "text", control=False, msgid=7, seq=3, body=body, addr=22)[1] == \
        "Recv message: type: Data, msgid: 7, name: (no scheme), seq: 3, size: 3, addr: 0x16\n  hi."
    warn, text = message_text("Recv", "scheme", control=False, msgid=99, seq=0, body=b"",
                              scheme=TX.scheme)
    assert warn and text.endswith("name: (no message), seq: 0, size: 0\n  (message not found)")
    # a control message without fields: the header, then the reference's empty body line
    online = tllschema.load(schemas.url("stream-control.yaml"))
    assert message_text("Recv", "auto", control=True, msgid=10, seq=37, body=b"",
                        scheme=online)[1] == \
        "Recv message: type: Control, msgid: 10, name: Online, seq: 37, size: 0\n  "
    assert state_text("Recv", "Active") == "Recv message: type: State, msgid: Active"


def test_dump_parameter_values():
    assert [parse_dump(v) for v in ("no", "yes", "frame", "text", "text+hex", "scheme", "auto")] \
        == [None, "auto", "frame", "text", "text+hex", "scheme", "auto"]
    with pytest.raises(ConfigError, match="parameter 'dump': invalid value 'loud'"):
        parse_dump("loud")


def test_every_channel_honours_dump(tmp_path, caplog):
    """A file writer given dump=scheme logs its posts on tll.channel.NAME, before autoseq."""
    import asyncio

    from streamproto.registry import create_channel

    async def main() -> None:
        ch = create_channel(f"file://{tmp_path}/o.dat;dir=w;autoseq=yes;dump=scheme;"
                            f"scheme={schemas.url('transaction.yaml')}", name="out")
        await ch.open()
        ch.post(10, 0, TX.encode(id=5, price="1.5", count=2))
        ch.post(10, 0, TX.encode(id=6, price="2", count=3))
        await ch.close()

    with caplog.at_level(logging.INFO, logger="tll.channel.out"):
        asyncio.run(main())
    posts = [r.getMessage() for r in caplog.records if "Post message" in r.getMessage()]
    assert posts[1] == ("Post message: type: Data, msgid: 10, name: Transaction, seq: 0, size: 26\n"
                        "  time: 1970-01-01T00:00:00\n  id: 6\n  price: 2.00\n  count: 3\n")
    states = [r.getMessage() for r in caplog.records if "State change" in r.getMessage()]
    assert states == ["State change: Closed -> Opening", "State change: Opening -> Active",
                      "State change: Active -> Closing", "State change: Closing -> Closed"]


def test_post_body_is_optional_on_every_channel():
    """``post(msgid, seq)`` (empty body) is accepted by every channel's own ``post``, not only
    through the dump= wrapper, whose ``body`` defaults to ``b""``: one post signature."""
    import inspect

    from streamproto.channel import Channel
    from streamproto.registry import protocols

    protocols()                                     # imports every built-in channel

    def subclasses(c: type) -> list[type]:
        return [s for d in c.__subclasses__() for s in (d, *subclasses(d))]

    own = {c for c in subclasses(Channel) if "post" in vars(c)}
    assert {"TcpServer", "TcpClient", "PubServer", "FileChannel"} <= {c.__name__ for c in own}
    assert {c.__name__ for c in own
            if inspect.signature(c.post).parameters["body"].default != b""} == set()


def test_unset_strings_and_secret_fields_as_the_reference_shows_them():
    # to_strings: an empty string pointer is "" (never left out); tll.secret hides the value
    s = tllschema.load("""yamls://
- name: M
  id: 1
  fields:
    - {name: note, type: string}
    - {name: pin, type: int64, options.tll.secret: yes}
    - {name: amount, type: int64, options: {type: fixed2, tll.secret: yes}}
    - {name: password, type: string, options.tll.secret: yes}
    - {name: key, type: byte4, options.tll.secret: yes}
""")
    m = s.message("M")
    record = m.decode(m.encode({"pin": 1234, "amount": "1.5", "password": "abc", "key": b"xy"}))
    assert format_fields(m, record) == ['note: ""', "pin: 0", "amount: 0.00",
                                        'password: "***"', 'key: "****"']
