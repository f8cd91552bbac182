"""The public TLL tutorial's examples (tests/streamproto/processor/tutorial/) run unchanged with
`streamproto run`, giving the output TLL gives for them: the log lines the tutorial shows, the
files `streamproto read` lists as the tutorial's `tll-read` does.

Each service is a real `streamproto run` process (logs to a file, stopped with SIGINT as the
tutorial's ^C); tests wait on conditions with deadlines.
"""
from __future__ import annotations

import decimal
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import yaml

import tllschema
from streamproto.storage import open_reader
from tllschema.values import TimePoint

TUTORIAL = Path(__file__).parent / "tutorial"
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ", re.M)
CENT = decimal.Decimal("0.01")


def workdir(tmp_path: Path, *chapters: str) -> Path:
    """The reader's directory after ``chapters``: chapter 2's schemes and input, then each
    chapter's files over the ones before."""
    d = tmp_path / "my-example"
    shutil.copytree(TUTORIAL / "common", d)
    for ch in chapters:
        for f in (TUTORIAL / ch).iterdir():
            shutil.copy(f, d / f.name)
    return d


class Service:
    """One ``streamproto run CONFIG [-D ...]`` process, its log in a file."""

    def __init__(self, cwd: Path, config: str, *defines: str, log: str | None = None) -> None:
        self.log_path = cwd / (log or (Path(config).stem + ".log"))
        self._log = open(self.log_path, "w")
        args = [a for d in defines for a in ("-D", d)]
        self.proc = subprocess.Popen([sys.executable, "-m", "streamproto", "run", config, *args],
                                     cwd=cwd, stdout=subprocess.DEVNULL, stderr=self._log)

    def text(self) -> str:
        """The log so far, without the time stamps."""
        return STAMP.sub("", self.log_path.read_text())

    def stop(self, timeout: float = 30.0) -> int:
        """^C, as in the tutorial; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"{self.log_path.name}: no exit {timeout} s after SIGINT")
        finally:
            self._log.close()
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture
def services():
    started: list[Service] = []

    def start(*args: str | Path, **kw: str) -> Service:
        s = Service(*args, **kw)            # type: ignore[arg-type]
        started.append(s)
        return s
    yield start
    for s in started:
        s.kill()


def wait_until(cond: Callable[[], bool], what: str, *running: Service,
               timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        for s in running:
            if s.proc.poll() is not None:
                raise AssertionError(f"{s.log_path.name} exited ({s.proc.returncode}) while "
                                     f"waiting for {what}:\n{s.text()[-3000:]}")
        time.sleep(0.02)
    raise AssertionError(f"{what}: not within {timeout} s")


def records(url: str) -> list[tuple[int, str, object]]:
    """(seq, message name, record) stored at ``url``; [] while it does not exist yet."""
    try:
        with open_reader(url) as r:
            out = []
            for m in r:
                if m.msgid:
                    msg = r.scheme.by_msgid[m.msgid]
                    out.append((m.seq, msg.name, msg.decode(m.body)))
            return out
    except Exception:   # noqa: BLE001 - not there, or not complete yet: ask again later
        return []


def count(url: str) -> int:
    return len(records(url))


def read(cwd: Path, *args: str) -> str:
    """``streamproto read ARGS`` (the tutorial's ``tll-read``)."""
    r = subprocess.run([sys.executable, "-m", "streamproto", "read", *args], cwd=cwd,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def commission(price: decimal.Decimal, count: int) -> decimal.Decimal:
    """1 % of price x count as stored in the fixed2 field (the encoder rounds half-even)."""
    return (price * count * CENT).quantize(CENT, rounding=decimal.ROUND_HALF_EVEN)


POSTED = re.compile(r"INFO tll\.channel\.output-channel: Post message: type: Data, msgid: 10, "
                    r"name: Transaction, seq: \d+, size: 26\n  time: (\S+)\n  id: (\d+)\n"
                    r"  price: (\S+)\n  count: (\d+)\n")


def posted_transactions(log: str) -> dict[int, tuple[str, decimal.Decimal, int]]:
    """id -> (time, price, count) of the Transactions a generator's dump shows it posted."""
    return {int(i): (t, decimal.Decimal(p), int(c)) for t, i, p, c in POSTED.findall(log)}


# --- chapter 2: yaml input -> Python logic -> file ---------------------------------------------

CH02_LISTING = """\
- seq: {0}
  name: Commission
  data:
    time: '2024-04-24T11:04:05.123456789Z'
    id: 1
    value: '4.56'

- seq: {1}
  name: Commission
  data:
    time: '2024-04-28T11:04:05.123456789Z'
    id: 2
    value: '9.26'

- seq: {2}
  name: Commission
  data:
    time: '2024-05-03T11:04:05.123456789Z'
    id: 3
    value: '3.62'

"""


def test_chapter_2_commission_service(tmp_path, services):
    d = workdir(tmp_path, "ch02")
    svc = services(d, "commission-processor.yaml")
    # the input is read again and again (reopened after it closes): wait for two rounds
    wait_until(lambda: count(f"file://{d}/output.dat") >= 6, "two rounds in output.dat", svc)
    assert svc.stop() == 0
    log = svc.text()
    assert ("INFO tll.channel.input-channel: Recv message: type: Data, msgid: 10, "
            "name: Transaction, seq: 0, size: 26\n  time: 2024-04-24T11:04:05.123456789\n"
            "  id: 1\n  price: 113.90\n  count: 4\n\n") in log
    assert ("INFO tll.channel.output-channel: Post message: type: Data, msgid: 20, "
            "name: Commission, seq: 0, size: 24\n  time: 2024-04-24T11:04:05.123456789\n"
            "  id: 1\n  value: 4.56\n\n") in log
    assert "INFO tll.channel.input-channel: All messages processed. Closing\n" in log
    # tll-read output.dat --seq 0:2, then 3:5: the same three Commissions again
    assert read(d, "output.dat", "--seq", "0:2") == CH02_LISTING.format(0, 1, 2)
    assert read(d, "output.dat", "--seq", "3:5") == CH02_LISTING.format(3, 4, 5)


# --- chapter 3: timer -> logic -> file -----------------------------------------------------------

def test_chapter_3_generator_service(tmp_path, services):
    d = workdir(tmp_path, "ch03")
    # the chapter's timer ticks every 3s; -D makes it 100ms (any config key can be set so)
    svc = services(d, "generator-processor.yaml",
                   "processor.objects.input-channel.init.timer.interval=100ms")
    wait_until(lambda: count(f"file://{d}/output.dat") >= 4, "4 Transactions", svc)
    assert svc.stop() == 0
    log = svc.text()
    assert "INFO tll.channel.input-channel: Initializing with realtime clock\n" in log
    ticks = re.findall(r"INFO tll\.channel\.input-channel: Recv message: type: Data, msgid: 2, "
                       r"name: absolute, seq: 0, size: 8\n  \{ts: (\S+)\}\n", log)
    posted = posted_transactions(log)
    stored = records(f"file://{d}/output.dat")
    assert len(ticks) >= len(stored) >= 4
    for n, (seq, name, tx) in enumerate(stored):
        assert (seq, name, tx.id) == (n, "Transaction", n + 1)
        # each Transaction carries its tick's time, as the dump showed it
        assert tx.time == TimePoint.parse(ticks[n])
        assert posted[tx.id] == (ticks[n], tx.price, tx.count)
        assert decimal.Decimal("0.01") <= tx.price <= 1000 and 1 <= tx.count <= 100
    listing = yaml.safe_load(read(d, "output.dat", "--seq", "0:1"))
    assert [e["data"]["id"] for e in listing] == [1, 2]
    assert listing[0]["data"]["time"] == str(stored[0][2].time)


# --- chapter 4: the two services joined by pub+tcp ------------------------------------------------

def test_chapter_4_services_over_pub_tcp(tmp_path, services):
    d = workdir(tmp_path, "ch02", "ch03", "ch04")
    fast = "processor.objects.input-channel.init.timer.interval=100ms"
    gen = services(d, "generator-processor.yaml", fast)
    wait_until(lambda: (d / "pub.socket").exists(), "the generator's pub.socket", gen)
    com = services(d, "commission-processor.yaml")
    wait_until(lambda: count(f"file://{d}/output.dat") >= 4, "4 Commissions", gen, com)
    assert com.stop() == 0
    wait_until(lambda: "client disconnected!" in gen.text(), "the generator seeing it go", gen)
    assert gen.stop() == 0
    glog = gen.text()
    assert "INFO tll.channel.generator: client connected!\n" in glog
    assert "INFO tll.channel.generator: client disconnected!\n" in glog
    posted = posted_transactions(glog)
    stored = records(f"file://{d}/output.dat")
    ids = [c.id for _, _, c in stored]
    assert ids == list(range(ids[0], ids[0] + len(ids)))      # every one, in order, from connect
    for seq, (_, name, c) in enumerate(stored):
        t, price, n = posted[c.id]
        assert (name, c.time, c.value) == ("Commission", TimePoint.parse(t), commission(price, n))
    assert f"name: Transaction, seq: 0, size: 26\n  time: {posted[ids[0]][0]}\n" in com.text()


# --- chapters 6 and 7: stream+pub+tcp, history and the open parameters ---------------------------

def stream_dir(tmp_path: Path, *more: str) -> Path:
    d = workdir(tmp_path, "ch02", "ch03", "ch04", "ch06", *more)
    (d / "storage").mkdir()                  # the chapter: mkdir storage
    return d


FAST = "processor.objects.input-channel.init.timer.interval=50ms"
STORAGE = "rotate+file://{}/storage/output"


def test_chapter_6_online_then_history_from_seq_0(tmp_path, services):
    d = stream_dir(tmp_path)
    storage = STORAGE.format(d)
    gen = services(d, "generator-processor.yaml", FAST)
    wait_until(lambda: count(storage) >= 10, "10 stored Transactions", gen)
    # open: {mode: online}: live data only
    com = services(d, "commission-processor.yaml", log="online.log")
    wait_until(lambda: count(f"file://{d}/output.dat") >= 3, "3 live Commissions", gen, com)
    assert com.stop() == 0
    live = [c for _, _, c in records(f"file://{d}/output.dat")]
    assert live[0].id > 10 and "name: Online" not in com.text()
    # open: {mode: seq, seq: 0}: the history from seq 0, Online, then live data
    os.remove(d / "output.dat")
    com = services(d, "commission-processor.yaml", "processor.objects.input-channel.open.mode=seq",
                   "processor.objects.input-channel.open.seq=0", log="history.log")
    wait_until(lambda: "name: Online" in com.text(), "Online", gen, com)
    online = int(re.search(r"INFO tll\.channel\.input-channel: Recv message: type: Control, "
                           r"msgid: 10, name: Online, seq: (\d+), size: 0\n", com.text())[1])
    assert f"INFO tll.channel.input-channel: Stream is online on seq {online}\n" in com.text()
    wait_until(lambda: count(f"file://{d}/output.dat") >= online + 5, "live data after Online",
               gen, com)
    assert com.stop() == 0
    assert gen.stop() == 0
    stored = {tx.id: tx for _, _, tx in records(storage)}
    got = [c for _, _, c in records(f"file://{d}/output.dat")]
    assert [c.id for c in got] == list(range(1, len(got) + 1))   # from the first, no gap
    for c in got:
        tx = stored[c.id]
        assert (c.time, c.value) == (tx.time, commission(tx.price, tx.count))
    log = com.text()
    first = log.index("name: Transaction, seq: 0, size: 26")
    assert first < log.index("name: Online, seq:") < log.index(f"seq: {online + 1}, size: 26")


def test_chapter_7_open_parameters_from_the_logic_survive_a_server_restart(tmp_path, services):
    d = stream_dir(tmp_path, "ch07")
    storage = STORAGE.format(d)
    gen = services(d, "generator-processor.yaml", FAST, log="generator-1.log")
    wait_until(lambda: count(storage) >= 5, "5 stored Transactions", gen)
    com = services(d, "commission-processor.yaml")
    wait_until(lambda: "name: Online" in com.text(), "Online", gen, com)
    assert "INFO tll.channel.input-channel: Open channel: mode=seq;seq=0\n" in com.text()
    assert gen.stop() == 0                    # the server goes away ...
    wait_until(lambda: "Channel input-channel state Active -> Error" in com.text(),
               "the client losing its server", com)
    before = count(storage)
    gen = services(d, "generator-processor.yaml", FAST, log="generator-2.log")   # ... and back
    wait_until(lambda: count(f"file://{d}/output.dat") >= before + 3,
               "the client back, on the new server's data", gen, com)
    assert gen.stop() == 0
    total = count(storage)
    wait_until(lambda: count(f"file://{d}/output.dat") >= total, "every stored Transaction", com)
    assert com.stop() == 0
    # reopened from the seq its logic exported: every Transaction once, none twice
    txs = [tx for _, _, tx in records(storage)]
    got = [c for _, _, c in records(f"file://{d}/output.dat")]
    assert [(c.time, c.id) for c in got] == [(t.time, t.id) for t in txs]
    assert all(c.value == commission(t.price, t.count) for c, t in zip(got, txs))
    reopen = re.findall(r"INFO tll\.channel\.input-channel: Open channel: mode=seq;seq=(\d+)\n",
                        com.text())
    assert reopen[0] == "0" and int(reopen[-1]) == before


# --- chapter 12: the all-types scheme from a yaml input through a logic to a file ----------------

CH12_LISTING = """\
- seq: 10
  name: my_message
  data:
    enum_field: SECOND
    string_field: hello
    time_point_field: '2024-09-16T19:31:20.433Z'
    duration_field: 1500ms
    fixed_field: '1.23456789'
    bits_field:
      a: true
      b: false
      c: true
    decimal128_field: '1.5E-10'
    bytes_field: xyz
    message_field: {}
    array_field:
    - 1
    - -2
    - 3
    pointer_field:
    - 10
    - 20
    union_field:
      m: {}
    primitive_field: 2.5

- seq: 11
  name: empty_message
  data: {}

"""


def test_chapter_12_scheme_layout_as_the_chapter_gives_it():
    s = tllschema.load(f"yaml://{TUTORIAL / 'ch12' / 'scheme.yaml'}")
    empty, m = s.message("empty_message"), s.message("my_message")
    assert (empty.msgid, empty.size, empty.fields) == (1, 0, [])
    assert (m.msgid, m.size) == (2, 94)
    assert [(f.name, f.offset, f.size) for f in m.fields] == [
        ("enum_field", 0, 1), ("string_field", 1, 10), ("time_point_field", 11, 8),
        ("duration_field", 19, 4), ("fixed_field", 23, 8), ("bits_field", 31, 1),
        ("decimal128_field", 32, 16), ("bytes_field", 48, 3), ("message_field", 51, 0),
        ("array_field", 51, 18), ("pointer_field", 69, 8), ("union_field", 77, 9),
        ("primitive_field", 86, 8)]


def test_chapter_12_every_type_from_yaml_to_a_file(tmp_path, services):
    d = workdir(tmp_path, "ch12")
    svc = services(d, "processor.yaml")
    assert svc.proc.wait(60) == 0              # shutdown-on: close ends it by itself
    log = svc.text()
    assert ("INFO tll.channel.input: Recv message: type: Data, msgid: 2, name: my_message, "
            "seq: 10, size: 98\n  enum_field: SECOND\n  string_field: \"hello\"\n"
            "  time_point_field: 2024-09-16T19:31:20.433\n  duration_field: 1500ms\n"
            "  fixed_field: 1.23456789\n  bits_field: a | c\n  decimal128_field: 15.E-11\n"
            "  bytes_field: \"xyz\"\n  message_field:\n  array_field: [1, -2, 3]\n"
            "  pointer_field: [10, 20]\n  union_field: m:\n  primitive_field: 2.5\n\n") in log
    assert ("INFO tll.channel.logic: enum my_enum.SECOND, union m, time "
            "2024-09-16T19:31:20.433Z, duration 1500ms, string 'hello'\n") in log
    assert "INFO tll.processor: Shutdown requested by channel input\n" in log
    assert read(d, "output.dat") == CH12_LISTING
