"""Shared history windows (issue 11, part 2): storage read and framed once, sliced for every client.

Unit tests drive :class:`SharedHistory` readers directly over a real storage file; the
asyncio tests run clients at different positions, a slow one, one that leaves mid-window,
a rotation and posts during the replay through a real server.
"""
from __future__ import annotations

import asyncio
import random
import tempfile
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproto import events as ev
from streamproto.config import parse_url
from streamproto.errors import StorageError
from streamproto.frames import frame_format
from streamproto.storage import FileReader, FileWriter, RotateWriter
from streamproto.stream.client import StreamBatch
from streamproto.stream.history import FramedRun, SharedHistory, StorageHistory
from tests.streamproto.netutil import run
from tests.streamproto.storage.test_read_runs import write_tll_lz4
from tests.streamproto.stream.stream_net import (Collector, StreamClient, StreamServer,
                                                 client_url, is_online, seed, server_url,
                                                 wait_for)

T = 20.0


def stored_messages(n: int, first: int = 0, size: int | None = None) -> list[tuple]:
    """Messages with varied msgids, and bodies of one size or of varied sizes."""
    if size is None:
        return [(10 + s % 3, s, b"m%d" % s * (1 + s % 4)) for s in range(first, first + n)]
    return [(10 + s % 3, s, (b"%08d" % s * (size // 8 + 1))[:size])
            for s in range(first, first + n)]


def shared_over(tmp_path, messages, frame="std", compression="none", **kw):
    """A SharedHistory over a write-through storage file holding ``messages``."""
    path = tmp_path / "s.dat"
    w = FileWriter(str(path), block=64 * 1024, compression=compression)
    for m in messages:
        w.post(*m)
    hist = StorageHistory(parse_url(f"file://{path}"), w)
    return SharedHistory(hist, frame_format(frame), **kw), w


def drain(reader, limit=None, check=None) -> tuple[list, bytes]:
    """Everything a reader has now: decoded messages and the framed bytes."""
    msgs: list = []
    raw = bytearray()
    while True:
        b = reader.read(limit or 1000)
        if check is not None:
            check()
        if not b:
            return msgs, bytes(raw)
        assert isinstance(b, FramedRun)
        msgs += list(b)
        raw += b.frames()


@pytest.mark.parametrize("frame", ["std", "short", "tiny", "size32", "none"])
@pytest.mark.parametrize("size", [None, 26])
@pytest.mark.parametrize("compression", ["none", "lz4"])
def test_readers_at_different_positions_share_each_window(tmp_path, frame, size, compression):
    stored = stored_messages(5000, size=size)
    sh, w = shared_over(tmp_path, stored, frame, compression, window=300, max_windows=1000)
    fmt = frame_format(frame)
    starts = [0, 1234, 1235, 2500, 4999, 5000, 7000]
    readers = {s: sh.open_reader(s) for s in starts}
    got: dict[int, list] = {s: [] for s in starts}
    raw = {s: bytearray() for s in starts}
    rnd = random.Random(5)
    active = set(starts)
    while active:                   # interleaved, with batch sizes that cut windows anywhere
        s = rnd.choice(sorted(active))
        b = readers[s].read(rnd.randint(1, 700))
        if not b:
            active.discard(s)
            continue
        got[s] += list(b)
        raw[s] += b.frames()
    for s in starts:
        want = [m for m in stored if m[1] >= s]
        if fmt.fields == "sms":
            assert got[s] == want, s
        else:                       # these frames carry no msgid/seq: bodies only on the wire
            assert [m[2] for m in got[s]] == [m[2] for m in want], s
        assert bytes(raw[s]) == b"".join(fmt.encode(*m) for m in want), s
    # every stored message was read from storage and framed exactly once
    assert sh.stats["framed"] == 5000 and sh.stats["hits"] > 0
    w.close()


def test_reader_follows_posts_at_the_live_end(tmp_path):
    sh, w = shared_over(tmp_path, stored_messages(100), window=64)
    a, b = sh.open_reader(50), sh.open_reader(0)
    assert [m[1] for m in drain(a)[0]] == list(range(50, 100))
    assert a.read(10) == ()                      # at the end for now
    for s in range(100, 130):
        w.post(1, s, b"live")
    assert [m[1] for m in drain(a)[0]] == list(range(100, 130))
    assert [m[1] for m in drain(b)[0]] == list(range(130))   # reuses a's windows
    w.post(1, 200, b"gap")
    assert [m[1] for m in drain(a)[0]] == [200] and [m[1] for m in drain(b)[0]] == [200]
    assert sh.stats["framed"] == 131
    w.close()


def test_slow_reader_never_holds_the_others_and_memory_stays_bounded(tmp_path):
    stored = stored_messages(6000, size=40)
    sh, w = shared_over(tmp_path, stored, window=200, max_windows=4, max_readers=2)
    fast, slow = sh.open_reader(0), sh.open_reader(0)
    first = list(slow.read(50))                  # the slow one takes one batch, then stalls

    def bounded():
        assert len(sh.windows) <= 4

    got_fast, _ = drain(fast, 170, bounded)      # runs to the end without waiting
    assert got_fast == stored
    got_slow, raw = drain(slow, 170, bounded)    # then the slow one: its own reads
    assert first + got_slow == stored
    assert raw == b"".join(frame_format("std").encode(*m) for m in stored[50:])
    assert sh.stats["framed"] > 6000             # what was evicted was read again
    w.close()


def test_closed_reader_is_forgotten(tmp_path):
    sh, w = shared_over(tmp_path, stored_messages(3000), window=100, max_windows=3)
    a, b = sh.open_reader(0), sh.open_reader(0)
    a.read(30)
    assert sh.positions == [0, 30]
    a.close()                                    # leaves in the middle of a window
    assert sh.positions == [0]                   # eviction no longer keeps windows for it
    assert [m[1] for m in drain(b)[0]] == list(range(3000))
    assert sh.positions == [3000]
    w.close()


def test_seq_the_frame_cannot_carry_ends_the_reader_with_its_seq(tmp_path):
    first = (1 << 31) - 3
    sh, w = shared_over(tmp_path, stored_messages(6, first=first), "tiny")
    r = sh.open_reader(0)
    b = r.read(100)
    assert [m[1] for m in b] == [first, first + 1, first + 2]
    with pytest.raises(StorageError, match=r"seq 2147483648 cannot be sent: frame tiny: "
                                           r"seq 2147483648 does not fit int32"):
        r.read(100)
    with pytest.raises(StorageError, match="seq 2147483648"):
        sh.open_reader(1 << 31).read(100)        # starting right at it
    w.close()


@st.composite
def history_plan(draw):
    """Stored messages (runs of equal body sizes between odd ones, seqs with gaps), the
    storage layout, and what happens while readers replay it."""
    n = draw(st.integers(1, 1500))
    sizes: list[int] = []
    while len(sizes) < n:
        sizes += [draw(st.integers(0, 60))] * draw(st.sampled_from([1, 3, 9, 50, 400]))
    rnd = random.Random(draw(st.integers(0, 1 << 30)))
    seq = draw(st.integers(-(1 << 40), 1 << 40))
    msgs = []
    for size in sizes[:n]:
        msgs.append((rnd.randint(0, 3), seq, rnd.randbytes(size)))
        seq += 1 if rnd.random() < 0.95 else rnd.randint(2, 5)
    return {
        "msgs": msgs,
        "version": draw(st.sampled_from([0, 1])),
        "block": draw(st.sampled_from([1024, 1500, 8192])),
        "compression": draw(st.sampled_from(["none", "lz4"])),
        "rotate": draw(st.booleans()),
        "window": draw(st.sampled_from([7, 64, 300, 4096])),
        "starts": draw(st.lists(st.integers(0, n + 2), min_size=1, max_size=4)),
        "posted": draw(st.integers(0, n - 1)),  # stored before the readers start
        "seed": draw(st.integers(0, 1 << 30)),
    }


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=history_plan())
def test_windows_from_record_runs_frame_what_per_message_framing_does(tmp_path, plan):
    """Shared windows built from the storage reader's RecordRuns (std frames) and built per
    message hold the same bytes; through readers at different positions, while the writer
    appends (and rotates), each reader gets exactly its range, in order, in both."""
    msgs = plan["msgs"]
    d = tempfile.mkdtemp(dir=tmp_path)
    kw = {"block": plan["block"], "version": plan["version"], "compression": plan["compression"]}
    w: FileWriter | RotateWriter
    if plan["rotate"]:
        w = RotateWriter(f"{d}/s", **kw)
        url = f"rotate+file://{d}/s"
    else:
        w = FileWriter(f"{d}/s.dat", **kw)
        url = f"file://{d}/s.dat"
    hist = StorageHistory(parse_url(url), w)
    std = frame_format("std")
    fast = SharedHistory(hist, std, window=plan["window"], max_windows=3)
    slow = SharedHistory(hist, std, window=plan["window"], max_windows=3)
    assert fast._runs
    slow._runs = False                          # the per-message path, for comparison
    rnd = random.Random(plan["seed"])
    posted = 0

    def post(k: int) -> None:
        nonlocal posted
        for m in msgs[posted:posted + k]:
            if plan["rotate"] and rnd.random() < 0.01 and w.rotate():
                hist.rotated()
            w.post(*m)
        posted = min(len(msgs), posted + k)

    post(plan["posted"] + 1)
    starts = [msgs[min(i, len(msgs) - 1)][1] + (i >= len(msgs)) for i in plan["starts"]]
    readers = [sh.open_reader(s) for s in starts for sh in (fast, slow)]
    got: list[list] = [[] for _ in readers]

    def step(k: int, limit: int) -> bool:
        b = readers[k].read(limit)
        if not b:
            return False
        assert isinstance(b, FramedRun) and 0 < len(b) <= limit
        assert bytes(b.frames()) == b"".join(std.encode(*m) for m in b)
        got[k] += list(b)
        return True

    while posted < len(msgs):                   # readers interleaved with appends
        if rnd.random() < 0.2:
            post(rnd.randint(1, 200))
        step(rnd.randrange(len(readers)), rnd.randint(1, 600))
    for k in range(len(readers)):               # then each to the end
        while step(k, rnd.randint(1, 600)):
            pass
    for k, g in enumerate(got):
        assert g == [m for m in msgs if m[1] >= starts[k // 2]]
    w.close()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=history_plan(), limits=st.lists(st.integers(1, 5000), min_size=1, max_size=5))
def test_window_from_record_runs_is_the_per_message_window(tmp_path, plan, limits):
    """Byte for byte and offset for offset, whatever mix of runs and single records."""
    path = f"{tempfile.mkdtemp(dir=tmp_path)}/s.dat"
    with FileWriter(path, block=plan["block"], version=plan["version"],
                    compression=plan["compression"]) as w:
        for m in plan["msgs"]:
            w.post(*m)
    sh = SharedHistory(StorageHistory(parse_url(f"file://{path}"), w), frame_format("std"))
    with FileReader(path) as a, FileReader(path) as b:
        for limit in limits:
            items, msgs = a.read_runs(limit), b.read(limit)
            if not msgs:
                assert not items
                break
            lo = msgs[0].seq
            x, y = sh._build_runs(lo, items), sh._build(lo, msgs)
            assert (x.lo, x.hi, x.n, x.error) == (y.lo, y.hi, y.n, y.error)
            assert x.data == y.data and list(x.offs) == list(y.offs)
            assert [x.seq(i) for i in range(x.n)] == [m.seq for m in msgs]


def test_reader_opened_past_the_end_gets_nothing_below_its_seq(tmp_path):
    """Regression: storage readers seek to the end when nothing >= seq is stored yet, and
    then read what is stored from there on, smaller seqs included; those used to end up in
    the window (lo > hi) and the reader stalled."""
    for runs in (True, False):
        sh, w = shared_over(tmp_path, [(1, 0, b"a")], window=7)
        sh._runs = runs
        r = sh.open_reader(13)
        assert r.read(5) == ()
        for s in (1, 2, 3, 7, 8, 9, 10, 13, 14, 15):
            w.post(2, s, b"b" * 5)
        assert [m[1] for m in drain(r)[0]] == [13, 14, 15]
        assert all(lo <= hi for lo, hi in sh.windows)
        w.close()
        (tmp_path / "s.dat").unlink()


def test_rotation_seen_by_a_window_that_ends_inside_the_old_file(tmp_path):
    """Regression: the first read after a rotation used the news up even when it stopped
    before the end of its file; at that end the reader then did not look for the new file,
    and a request stalled there for good."""
    for runs in (True, False):
        d = tempfile.mkdtemp(dir=tmp_path)
        w = RotateWriter(f"{d}/s", block=4096)
        hist = StorageHistory(parse_url(f"rotate+file://{d}/s"), w)
        sh = SharedHistory(hist, frame_format("std"), window=7)
        sh._runs = runs
        for s in range(2):
            w.post(1, s, b"x" * 26)
        r = sh.open_reader(0)                    # a storage reader opened before the rotation
        for s in range(2, 10):
            w.post(1, s, b"x" * 26)
        w.rotate()
        hist.rotated()
        w.post(1, 10, b"y" * 26)
        assert [m[1] for m in drain(r, 100)[0]] == list(range(11))
        w.close()


def test_open_failure_is_reported_when_opening(tmp_path):
    sh, w = shared_over(tmp_path, stored_messages(10))
    (tmp_path / "s.dat").unlink()
    with pytest.raises(StorageError):
        sh.open_reader(3)
    w.close()


# --- through a real server ----------------------------------------------------------------

def history_then_online(col: Collector) -> tuple[list[int], int | None]:
    """Seqs delivered and the seq the Online control carried; checks the online flags."""
    seqs, online_seq, online = [], None, False
    for e in col.events:
        if is_online(e):
            assert online_seq is None, "Online twice"
            online_seq, online = e.seq, True
            assert e.seq == (seqs[-1] if seqs else e.seq), "Online not at the last delivered seq"
        elif isinstance(e, StreamBatch):
            assert e.online is online
            seqs += [m[1] for m in e]
        elif isinstance(e, ev.Data):
            assert e.online is online
            seqs.append(e.seq)
    return seqs, online_seq


def delivered(col: Collector) -> list[tuple]:
    """(msgid, seq, body) of every data message, from batches and single events alike."""
    out: list = []
    for e in col.events:
        if isinstance(e, StreamBatch):
            out += e.messages
        elif isinstance(e, ev.Data):
            out.append((e.msgid, e.seq, bytes(e.body)))
    return out


def batch_client(tmp_path, name: str, extra: str = "") -> tuple[StreamClient, Collector]:
    col = Collector()
    return StreamClient(client_url(tmp_path, f";peer={name}{extra}"), on_event=col,
                        on_batch=col), col


@pytest.mark.parametrize("frame", ["std", "short", "tiny"])
@run
async def test_clients_at_different_positions(tmp_path, frame):
    stored = stored_messages(20000)
    seed(tmp_path / "storage.dat", stored, block=256 * 1024)
    extra = f";request.frame={frame}"
    async with StreamServer(server_url(tmp_path, extra=extra)) as server:
        starts = [0, 0, 777, 9000, 19999, 20000]
        pairs = [batch_client(tmp_path, f"c{i}", extra) for i in range(len(starts))]
        await asyncio.gather(*(c.open({"mode": "seq", "seq": s})
                               for (c, _), s in zip(pairs, starts)))
        await wait_for(lambda: all(any(map(is_online, col.events)) for _, col in pairs), T,
                       "every client online")
        for (c, col), s in zip(pairs, starts):
            seqs, online_seq = history_then_online(col)
            assert seqs == list(range(s, 20000)), s
            assert online_seq == 19999
            assert delivered(col) == stored[s:]
            data = [e for e in col.events if isinstance(e, (ev.Data, StreamBatch))]
            if s < 19999:   # history arrives in batches; only the switch message goes alone
                assert isinstance(data[0], StreamBatch)
        assert server.shared.stats["framed"] <= 20000 + 4096   # read about once
        await asyncio.gather(*(c.close() for c, _ in pairs))


@run
async def test_slow_client_and_one_that_leaves_mid_window(tmp_path):
    stored = stored_messages(30000, size=60)
    seed(tmp_path / "storage.dat", stored, block=1 << 20)
    async with StreamServer(server_url(tmp_path)) as server:
        # a request connection that asks for everything and never reads
        from streamproto.stream import protocol as P
        from tests.streamproto.stream.stream_wirelog import frame
        _, w = await asyncio.open_unix_connection(f"{tmp_path}/request.sock")
        msgid, req = P.encode_request(P.Request(P.REQUEST_SEQ, 0))
        w.write(frame(msgid, 0, req))
        leaver_col = Collector()
        leaver = StreamClient(client_url(tmp_path, ";peer=leaver"), on_event=leaver_col)

        def leave(e):
            if isinstance(e, ev.Data) and e.seq == 5000:
                leaver.close_nowait()            # in the middle of a window
        leaver_col.hook = leave
        pairs = [batch_client(tmp_path, f"c{i}") for i in range(3)]
        await asyncio.gather(leaver.open("mode=seq;seq=0"),
                             *(c.open("mode=seq;seq=0") for c, _ in pairs))
        await wait_for(lambda: all(any(map(is_online, col.events)) for _, col in pairs), T,
                       "the others online")
        assert len(server.shared.windows) <= server.shared.max_windows
        for c, col in pairs:
            assert history_then_online(col) == (list(range(30000)), 29999)
        assert leaver_col.seqs() == list(range(5001)) and leaver.state == ev.CLOSED
        assert leaver.last_seq == 5000           # resumes with no gap
        await asyncio.gather(*(c.close() for c, _ in pairs))
        await wait_for(lambda: len(server.sessions) == 1, T, "only the sleeper left")
        w.close()


@run
async def test_rotation_and_posts_during_replay(tmp_path):
    url = server_url(tmp_path, storage=f"rotate+file://{tmp_path}/st", extra=";autoseq=yes")
    async with StreamServer(url) as server:
        body = b"x" * 30
        for i in range(0, 12000, 1000):
            server.post_many([(10, 0, body)] * 1000)
            if i % 3000 == 2000:
                server.rotate()
        starts = [0, 0, 4321, 11999]
        pairs = [batch_client(tmp_path, f"c{i}") for i in range(len(starts))]
        per_message = Collector()                # and one with per-message delivery
        pm = StreamClient(client_url(tmp_path, ";peer=pm"), on_event=per_message)
        await asyncio.gather(pm.open("mode=seq;seq=100"),
                             *(c.open({"mode": "seq", "seq": s})
                               for (c, _), s in zip(pairs, starts)))
        for i in range(40):                      # posts and rotations while they replay
            if i % 2:
                server.post_many([(11, 0, b"live %d" % i)] * 50)
            else:
                for _ in range(50):
                    server.post(12, 0, b"one %d" % i)
            if i % 10 == 5:
                server.rotate()
            await asyncio.sleep(0)
        last = server.last_seq
        assert last == 12000 + 40 * 50 - 1
        cols = [col for _, col in pairs] + [per_message]
        await wait_for(lambda: all(c.last_seq == last for c, _ in pairs)
                       and pm.last_seq == last, T, "everyone at the last seq")
        for s, col in zip(starts + [100], cols):
            seqs, online_seq = history_then_online(col)
            assert seqs == list(range(s, last + 1)), s
            assert online_seq is not None
        await asyncio.gather(pm.close(), *(c.close() for c, _ in pairs))


def test_lz4_seq_past_int64_ends_the_reader_with_its_seq(tmp_path):
    """Regression: a stored LZ4 seq field that takes the seq past int64 (a corrupt delta) is
    delivered by the storage reader as it is; framing it raised struct.error out of the
    shared window (it used to crash the request), now the reader ends with its seq."""
    path = tmp_path / "s.dat"
    msgs = [(1, s, b"%026d" % s) for s in range(100)] + [(1, 0, b"x" * 26, (1 << 63) - 1)]
    write_tll_lz4(path, msgs, 0, 64 * 1024, random.Random(1), ("prev",))
    with FileReader(path) as r:
        assert [m.seq for m in r.read()][-2:] == [99, 99 + (1 << 63) - 1]
    hist = StorageHistory(parse_url(f"file://{path}"), SimpleNamespace())
    r = SharedHistory(hist, frame_format("std")).open_reader(0)
    got = []
    with pytest.raises(StorageError, match=f"seq {99 + (1 << 63) - 1} cannot be sent"):
        while b := r.read(30):
            got += list(b)
    assert got == [m[:3] for m in msgs[:100]]
