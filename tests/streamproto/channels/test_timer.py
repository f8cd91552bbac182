"""``timer://`` against the reference's src/channel/timer.cc: parameters, scheme, message bytes."""
from __future__ import annotations

import asyncio
import struct
import time

import pytest

from streamproto.errors import ChannelError, ConfigError
from streamproto.events import Data
from streamproto.registry import create_channel


async def _data(ch, n: int, timeout: float = 5.0) -> list[Data]:
    out: list[Data] = []
    end = asyncio.get_running_loop().time() + timeout
    while len(out) < n:
        ev = await ch.next_event(max(0.001, end - asyncio.get_running_loop().time()))
        if isinstance(ev, Data):
            out.append(ev)
    return out


def test_realtime_ticks_are_absolute_messages_with_the_time():
    async def main() -> tuple[list[Data], int, int]:
        ch = create_channel("timer://;interval=20ms;clock=realtime")
        before = time.time_ns()
        await ch.open()
        got = await _data(ch, 3)
        after = time.time_ns()
        await ch.close()
        return got, before, after
    got, before, after = asyncio.run(main())
    for ev in got:
        assert (ev.msgid, ev.seq, len(ev.body)) == (2, 0, 8)      # absolute: int64 ns
    stamps = [struct.unpack("<q", ev.body)[0] for ev in got]
    assert before < stamps[0] < stamps[1] < stamps[2] <= after
    assert stamps[2] - stamps[0] >= 2 * 20_000_000 * 0.9


def test_monotonic_ticks_have_a_zero_body_and_the_reference_scheme():
    async def main() -> tuple[list[Data], object]:
        ch = create_channel("timer://;timer.interval=10ms")      # prefixed, clock monotonic
        await ch.open()
        got = await _data(ch, 2)
        await ch.close()
        return got, ch.scheme
    got, scheme = asyncio.run(main())
    assert [ev.body for ev in got] == [bytes(8), bytes(8)]
    assert [(m.name, m.msgid) for m in scheme.messages] == [("relative", 1), ("absolute", 2)]
    assert [(f.name, f.type.sub.value, f.type.resolution) for m in scheme.messages
            for f in m.fields] == [("ts", "duration", "ns"), ("ts", "time_point", "ns")]


def test_oneshot_open_parameters_and_posted_wakeups():
    async def main() -> tuple[int, int, int]:
        ch = create_channel("timer://;interval=1h")
        await ch.open({"interval": "10ms", "oneshot": "yes"})     # open params win
        first = len(await _data(ch, 1))
        await asyncio.sleep(0.05)
        extra = len([e for e in ch.drain_events() if isinstance(e, Data)])
        ch.post(1, 0, struct.pack("<q", 15_000_000))               # relative: once, in 15ms
        again = len(await _data(ch, 1))
        with pytest.raises(ChannelError, match="absolute timestamps not supported"):
            ch.post(2, 0, struct.pack("<q", time.time_ns()))
        with pytest.raises(ChannelError, match="invalid message size"):
            ch.post(1, 0, b"\x00")
        await ch.close()
        return first, extra, again
    assert asyncio.run(main()) == (1, 0, 1)


def test_initial_is_the_deprecated_oneshot_and_bad_values_are_named():
    ch = create_channel("timer://;initial=5ms")
    assert (ch.interval_init, ch.oneshot_init) == (5_000_000, True)
    with pytest.raises(ConfigError, match="parameter 'interval': invalid duration '10'"):
        create_channel("timer://;interval=10")
    with pytest.raises(ConfigError, match="parameter 'clock': invalid value 'solar'"):
        create_channel("timer://;interval=1s;clock=solar")
    with pytest.raises(ConfigError, match="non equal initial and interval"):
        create_channel("timer://;interval=1s;initial=2s")


def test_skip_old_drops_the_ticks_a_stall_missed():
    """Without skip-old a stalled timer catches up every missed tick; with it, fires once."""
    async def main(skip: str) -> tuple[int, int]:
        ch = create_channel(f"timer://;interval=20ms;skip-old={skip}")
        t0 = time.monotonic()
        await ch.open()
        time.sleep(0.3)                                   # the loop stalls: ~15 ticks due
        await asyncio.sleep(0.1)
        n = len([e for e in ch.drain_events() if isinstance(e, Data)])
        due = int((time.monotonic() - t0) / 0.02)
        await ch.close()
        return n, due
    n, due = asyncio.run(main("no"))
    assert n >= due - 3
    n, due = asyncio.run(main("yes"))
    assert n <= due - 10
