"""``yaml://`` against the reference's src/channel/yaml.cc and yaml.rst."""
from __future__ import annotations

import asyncio
import logging
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

import tllschema
from streamproto import schemas
from streamproto.errors import ConfigError
from streamproto.events import ACTIVE, CLOSED, ERROR, Control, Data, State
from streamproto.registry import create_channel
from tests.conftest import GOLDEN

TX = tllschema.load(schemas.url("transaction.yaml")).message("Transaction")


def run(url: str, expect_end: bool = True, timeout: float = 5.0) -> list:
    """Every event until the channel ends (Closed/Error), or, with autoclose=no, Active + data."""
    async def main() -> list:
        ch = create_channel(url)
        events: list = []
        try:
            await ch.open()
        except ConfigError as e:
            return [e]
        end = asyncio.get_running_loop().time() + timeout
        while True:
            left = end - asyncio.get_running_loop().time()
            try:
                ev = await ch.next_event(max(left, 0.001) if expect_end else 0.2)
            except asyncio.TimeoutError:
                break
            events.append(ev)
            if isinstance(ev, State) and ev.state in (CLOSED, ERROR):
                break
        await ch.close()
        return events
    return asyncio.run(main())


def write(tmp_path: Path, text: str, name: str = "in.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_messages_encoded_with_the_scheme_time_stamps_exact(tmp_path, caplog):
    f = write(tmp_path, """
    - name: Transaction
      data: {time: 2024-04-24T11:04:05.123456789, id: 1, price: 113.90, count: 4}
    - name: Transaction
      seq: 7
      data:
        time: 2024-04-28 11:04:05.987654321
        id: 0x10
        price: 1157.4E-1
        count: 8
    """)
    with caplog.at_level(logging.INFO):
        events = run(f"yaml://{f};scheme={schemas.url('transaction.yaml')};name=in")
    data = [e for e in events if isinstance(e, Data)]
    assert [(d.msgid, d.seq) for d in data] == [(10, 0), (10, 7)]
    first, second = (TX.decode(d.body) for d in data)
    assert first.time.value == 1713956645123456789 and first.price == Decimal("113.90")
    assert second.time.value == 1714302245987654321
    assert (second.id, second.price, second.count) == (16, Decimal("115.74"), 8)
    assert [e.state for e in events if isinstance(e, State)][-2:] == ["Closing", "Closed"]
    assert "All messages processed. Closing" in caplog.text


def test_autoseq_numbers_from_the_first_message(tmp_path):
    f = write(tmp_path, """
    - {name: Transaction, seq: 100, data: {id: 1}}
    - {name: Transaction, seq: 5, data: {id: 2}}
    - {name: Transaction, data: {id: 3}}
    """)
    events = run(f"yaml://{f};scheme={schemas.url('transaction.yaml')};autoseq=yes")
    assert [e.seq for e in events if isinstance(e, Data)] == [100, 101, 102]


def test_autoclose_no_keeps_the_channel_active(tmp_path):
    f = write(tmp_path, "- {name: Transaction, data: {id: 1}}\n")
    events = run(f"yaml://{f};scheme={schemas.url('transaction.yaml')};autoclose=no",
                 expect_end=False)
    assert [type(e).__name__ for e in events] == ["State", "State", "Data"]
    assert events[1].state == ACTIVE


def test_strict_refuses_unknown_fields_and_names_the_message(tmp_path):
    f = write(tmp_path, "- {name: Transaction, data: {id: 1}}\n"
                        "- {name: Transaction, data: {id: 2, colour: red}}\n")
    url = f"yaml://{f};scheme={schemas.url('transaction.yaml')}"
    events = run(url)
    assert isinstance(events[-1], State) and events[-1].state == ERROR
    assert "message 1: Failed to encode message Transaction at colour: no such field" \
        in events[-1].reason
    assert len([e for e in events if isinstance(e, Data)]) == 1
    events = run(url + ";strict=no")
    assert len([e for e in events if isinstance(e, Data)]) == 2


def test_without_scheme_bodies_are_the_data_text_and_controls_use_their_scheme(tmp_path):
    f = write(tmp_path, """
    - {seq: 10, msgid: 10, data: aaa}
    - {msgid: 20, data: bbb}
    - {type: control, msgid: 40, data: end}
    """)
    events = run(f"yaml://{f};autoseq=yes")
    msgs = [e for e in events if isinstance(e, (Data, Control))]
    assert [(type(m).__name__, m.msgid, m.seq, m.body) for m in msgs] == [
        ("Data", 10, 10, b"aaa"), ("Data", 20, 11, b"bbb"), ("Control", 40, 12, b"end")]
    f2 = write(tmp_path, "- {type: control, name: Online, data: {}}\n", "c.yaml")
    events = run(f"yaml://{f2};scheme-control={schemas.url('stream-control.yaml')}")
    assert [(e.name, e.msgid) for e in events if isinstance(e, Control)] == [("Online", 10)]


def test_every_field_type_from_text(tmp_path):
    scheme = tllschema.load(f"yaml://{GOLDEN}/scheme/alltypes.yaml")
    f = write(tmp_path, """
    - name: Logical
      data: {side: Sell, status: 1, inl: Y, flags: 'a | c', price: 12.345, qty: -1.50,
             ts_ns: 2024-09-09T14:06:21.038702405, ts_us: 2024-09-09T14:06:21.038702,
             ts_s: 2024-09-09T14:06:21, ts_d: 2024-09-09T14:06:21.5, dur_ms: 1500ms, dur_d: 250ms}
    - name: Pointers
      data: {p_i16: [1, -2, 3], p_str: [a, bc], pp: [[1, 2], [], [3]], p_sub: [{s0: 7, name: q}]}
    - name: Unions
      data: {v: {s: str}, lv: [{i: 5}, {d: 2.5}]}
    - name: Logical
      data: {flags: [a, c]}
    - name: Logical
      data: {flags: {a: yes, b: 5}}
    """)
    events = run(f"yaml://{f};scheme=yaml://{GOLDEN}/scheme/alltypes.yaml")
    data = [e for e in events if isinstance(e, Data)]
    assert len(data) == 5, events[-1]
    logical = scheme.message("Logical").decode(data[0].body)
    assert (logical.side.name, logical.status.name, logical.inl.name) == ("Sell", "Filled", "Y")
    assert (logical.flags.a, logical.flags.b, logical.flags.c) == (True, 0, True)
    assert logical.ts_ns.value == 1725890781038702405 and logical.ts_us.value == 1725890781038702
    assert (logical.ts_d.value, logical.dur_ms.value, logical.dur_d.value) == (1725890781.5, 1500, 0.25)
    ptr = scheme.message("Pointers").decode(data[1].body)
    assert (ptr.p_i16, ptr.p_str, ptr.pp, ptr.p_sub[0].name) == ([1, -2, 3], ["a", "bc"], [[1, 2], [], [3]], "q")
    uni = scheme.message("Unions").decode(data[2].body)
    assert (uni.v.type, uni.v.value, [x.type for x in uni.lv]) == ("s", "str", ["i", "d"])
    assert scheme.message("Logical").decode(data[3].body).flags.c is True
    assert scheme.message("Logical").decode(data[4].body).flags.b == 5


def test_inline_config_and_file_errors(tmp_path):
    events = run("yaml://;config.0000.msgid=1;config.0000.data=x;config.0001.msgid=2;"
                 "config.0001.data=y")
    assert [e.body for e in events if isinstance(e, Data)] == [b"x", b"y"]
    [err] = run(f"yaml://{tmp_path}/missing.yaml")
    assert isinstance(err, ConfigError) and "cannot read config" in str(err)
    with pytest.raises(ConfigError, match="need either a file name"):
        create_channel("yaml://")


def test_null_accepts_everything_and_produces_nothing():
    async def main() -> list:
        ch = create_channel("null://")
        await ch.open()
        ch.post(1, 2, b"x")
        ch.post_control(150)
        await asyncio.sleep(0.01)
        events = ch.drain_events()
        await ch.close()
        return events
    assert [e.state for e in asyncio.run(main())] == ["Opening", "Active"]


async def _ids_until_end(ch, timeout: float = 5.0) -> tuple[list[int], str]:
    """Ids of the Transactions the channel delivers until it closes or fails; its end state."""
    ids = []
    end = asyncio.get_running_loop().time() + timeout
    while True:
        ev = await ch.next_event(max(end - asyncio.get_running_loop().time(), 0.001))
        if isinstance(ev, Data):
            ids.append(TX.decode(ev.body).id)
        elif isinstance(ev, State) and ev.state in (CLOSED, ERROR):
            return ids, ev.state


async def _close(ch) -> list[int]:
    """Close; the ids of the Transactions still queued (delivered before the close)."""
    await ch.close()
    ids = []
    while True:
        try:
            ev = await ch.next_event(0.05)
        except asyncio.TimeoutError:
            return ids
        if isinstance(ev, Data):
            ids.append(TX.decode(ev.body).id)


def test_a_reopen_goes_on_where_the_last_open_stopped(tmp_path):
    # the reference keeps _messages and _idx over a close: a message that cannot be encoded
    # fails every reopen, and those before it are not delivered again
    f = write(tmp_path, "- {name: Transaction, data: {id: 1}}\n"
                        "- {name: Transaction, data: {id: two}}\n")

    async def main() -> list:
        ch = create_channel(f"yaml://{f};scheme={schemas.url('transaction.yaml')}")
        out = []
        for _ in range(3):
            await ch.open()
            out.append(await _ids_until_end(ch))
            await _close(ch)
        return out
    assert asyncio.run(main()) == [([1], ERROR), ([], ERROR), ([], ERROR)]


def test_an_input_closed_part_way_continues_then_replays(tmp_path):
    n = 3000                                 # many delivery batches: the close cuts in
    f = write(tmp_path, "".join(f"- {{name: Transaction, data: {{id: {i}}}}}\n"
                                for i in range(1, n + 1)))

    async def main() -> tuple[list[int], list[int]]:
        ch = create_channel(f"yaml://{f};scheme={schemas.url('transaction.yaml')}")
        await ch.open()
        ev = await ch.next_event(5)
        while not isinstance(ev, Data):
            ev = await ch.next_event(5)
        first = [TX.decode(ev.body).id] + await _close(ch)
        await ch.open()
        rest = (await _ids_until_end(ch))[0]
        await _close(ch)
        return first, rest
    first, rest = asyncio.run(main())
    assert len(first) < n
    assert first + rest == list(range(1, n + 1)) * 2


@pytest.mark.parametrize("item, lines", [
    ("{name: Nope, data: {}}", ["Message 'Nope' not found in scheme for 0",
                                "Failed to fill message 0", "Process failed"]),
    ("{data: {id: 1}}", ["No 'name' field for message 0", "Failed to fill message 0",
                         "Process failed"]),
    ("{name: Transaction, seq: x, data: {}}",
     ["Invalid parameters in message 0: parameter 'seq': invalid integer 'x' (expected decimal "
      "or 0x hex digits)", "Process failed"]),
])
def test_fill_errors_are_the_references_log_lines(tmp_path, caplog, item, lines):
    f = write(tmp_path, f"- {item}\n")
    with caplog.at_level(logging.ERROR):
        events = run(f"yaml://{f};scheme={schemas.url('transaction.yaml')};name=in")
    assert events[-1].state == ERROR
    assert [r.getMessage() for r in caplog.records if r.name == "tll.channel.in"] == lines
