"""Configs in the tutorial's style that the tutorial does not show (other schemes, timers, two
outputs, links, -D, failures, storage rotation), run as TLL runs them. In-process (the chapter
tests run the same code through `streamproto run`); every run ends by itself or on a condition.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from streamproto.events import Kind
from streamproto.storage import open_reader
from tests.streamproto.processor.util import run_config, write
from tllschema.values import Duration, TimePoint

TUTORIAL = Path(__file__).parent / "tutorial"
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ", re.M)


def messages(tmp_path: Path) -> None:
    """Chapter 2's schemes and input data in ``tmp_path``."""
    shutil.copytree(TUTORIAL / "common", tmp_path, dirs_exist_ok=True)


def stored(url: str) -> list[tuple[int, str, object]]:
    with open_reader(url) as r:
        out = []
        for m in r:
            if m.kind is not Kind.CONTROL:
                msg = r.scheme.by_msgid[m.msgid]
                out.append((m.seq, msg.name, msg.decode(m.body)))
        return out


def lines(caplog, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


COMMISSION = (TUTORIAL / "ch02" / "commission.py").read_text()


# --- a logic with two outputs, a depends chain, links, -D, logger levels -------------------------

TWO_OUTPUTS = """
from tll.channel.logic import Logic
import decimal

class Split(Logic):
    def _init(self, url, master=None):
        super()._init(url, master)
        self._input = self._channels['input'][0]
        self._small, self._large = self._channels['output']

    def _open(self, props):
        super()._open(props)
        self._limit = decimal.Decimal(props.get('limit', '5'))
        self.log.info("limit {}", self._limit)

    def _logic(self, channel, msg):
        if channel != self._input or msg.type != msg.Type.Data:
            return
        tx = channel.unpack(msg)
        value = tx.price * tx.count * decimal.Decimal('0.01')
        out = self._small if value < self._limit else self._large
        out.post({'time': tx.time, 'id': tx.id, 'value': value}, name='Commission', seq=msg.seq)
"""

TWO_OUTPUTS_CONFIG = """
logger:
  type: spdlog
  levels:
    tll: INFO
    tll.channel.large: WARNING
processor.alias:
  split: python://;python=./split:Split
commission-scheme: yaml://./messages/commission.yaml
processor.objects:
  input-channel:
    init:
      tll.proto: yaml
      tll.host: input-data.yaml
      scheme: yaml://./messages/transaction.yaml
      autoseq: true
      shutdown-on: close
    depends: logic
  logic:
    init: split://
    open: {limit: '100'}
    channels: {input: input-channel, output: 'small, large'}
    depends: small, large
    dump: yes
  small:
    init: {tll.proto: file, tll.host: small.dat, dir: w, dump: yes,
           scheme: !link /commission-scheme}
    depends: large
  large:
    init: {tll.proto: file, tll.host: large.dat, dir: w, dump: yes,
           scheme: !link /processor/objects/small/init/scheme}
"""


def test_two_outputs_a_depends_chain_links_and_defines(tmp_path):
    messages(tmp_path)
    write(tmp_path, "split.py", TWO_OUTPUTS)
    write(tmp_path, "split-processor.yaml", TWO_OUTPUTS_CONFIG)
    r = subprocess.run([sys.executable, "-m", "streamproto", "run", "split-processor.yaml",
                        "-D", "processor.objects.logic.open.limit=5"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]        # shutdown-on: close on the input
    log = STAMP.sub("", r.stderr)
    # 4.556 and 3.6174 are under the limit -D set, 9.2592 is not
    small = [(s, c.id, str(c.value)) for s, _, c in stored(f"file://{tmp_path}/small.dat")]
    large = [(s, c.id, str(c.value)) for s, _, c in stored(f"file://{tmp_path}/large.dat")]
    assert (small, large) == ([(0, 1, "4.56"), (2, 3, "3.62")], [(1, 2, "9.26")])
    assert "INFO tll.channel.logic: limit 5\n" in log
    # opened along the chains: large, small, logic, input-channel
    opened = re.findall(r"INFO tll\.processor\.worker\.default: Activate object (\S+)\n", log)
    assert opened == ["large", "small", "logic", "input-channel"]
    # `tll: INFO` beside `tll.channel.large: WARNING` (a value and keys on one node, as TLL
    # reads logger levels): the small file's dump is logged, nothing of the large one
    assert ("INFO tll.channel.small: Post message: type: Data, msgid: 20, name: Commission, "
            "seq: 0, size: 24\n") in log
    assert "tll.channel.large:" not in log
    assert ("ERROR tll.config.yaml: Parent 'tll' with value conflicts with new node "
            "'logger.levels.tll.channel.large' at line 5\n") in log
    # `dump: yes` beside `init` (as the tutorial's chapter 10 writes it): ignored, as by TLL
    assert "WARNING tll.processor: processor.objects.logic.dump: unknown key, ignored" in log
    assert "tll.channel.logic: Recv message" not in log


# --- a yaml input whose logic fails ----------------------------------------------------------------

FAILING = COMMISSION.replace("        if msg.SCHEME.name == 'Transaction':",
                             "        if msg.id == 2:\n"
                             "            raise ValueError('cannot take transaction 2')\n"
                             "        if msg.SCHEME.name == 'Transaction':")


def test_a_failing_logic_with_shutdown_on_error_stops_the_run_with_one(tmp_path, caplog):
    messages(tmp_path)
    write(tmp_path, "commission.py", FAILING)
    config = (TUTORIAL / "ch02" / "commission-processor.yaml").read_text().replace(
        "    url: commission://", "    url: commission://;processor.shutdown-on=error")
    with caplog.at_level(logging.INFO):
        code, _ = run_config(tmp_path, config)
    assert code == 1
    assert [c.id for _, _, c in stored(f"file://{tmp_path}/output.dat")] == [1]
    assert "Logic callback failed" in lines(caplog, "tll.channel.logic")
    assert "ValueError: cannot take transaction 2" in caplog.text
    assert "Shutdown requested by channel logic" in lines(caplog, "tll.processor")


def test_a_failing_logic_is_reopened_and_the_input_replayed(tmp_path, caplog):
    messages(tmp_path)
    write(tmp_path, "commission.py", FAILING)
    config = (TUTORIAL / "ch02" / "commission-processor.yaml").read_text().replace(
        "    url: commission://", "    url: commission://;reopen-timeout=100ms")

    def reopened(p) -> bool:
        return p.objects["output-channel"].channel.last_seq >= 1
    with caplog.at_level(logging.INFO):
        code, _ = run_config(tmp_path, config, until=reopened)
    assert code == 0
    # each round: Transaction 1 gets its Commission, 2 fails the logic, 3 finds it failed
    assert [c.id for _, _, c in stored(f"file://{tmp_path}/output.dat")][:2] == [1, 1]
    states = lines(caplog, "tll.processor")
    assert states.count("Channel logic state Active -> Error") >= 2
    assert "Channel input-channel state Active -> Closing" in states


# --- timers: oneshot, initial, a logic that ends the run -------------------------------------------

TICKS = """
from tll.channel.logic import Logic

class Ticks(Logic):
    def _init(self, url, master=None):
        super()._init(url, master)
        self._input = self._channels['input'][0]
        self._output = self._channels['output'][0]
        self._limit = int(url.get('limit', '1'))
        self._n = 0

    def _logic(self, channel, msg):
        if channel != self._input or msg.type != msg.Type.Data:
            return
        tick = channel.unpack(msg)
        self._n += 1
        self._output.post({'time': tick.ts, 'id': self._n, 'price': '0.01', 'count': self._n},
                          name='Transaction')
        if self._n == self._limit:
            self.close()
"""


@pytest.mark.parametrize("timer, warning", [
    ("{tll.proto: timer, interval: 50ms, oneshot: yes}", None),
    ("{tll.proto: timer, initial: 50ms}",
     "'initial' parameter is deprecated, use 'interval=...;oneshot=yes'"),
])
def test_a_oneshot_timer_and_a_logic_closing_with_shutdown_on_close(tmp_path, caplog, timer,
                                                                     warning):
    messages(tmp_path)
    write(tmp_path, "ticks.py", TICKS)
    config = f"""
    processor.alias:
      ticks: python://;python=./ticks:Ticks
    processor.objects:
      timer:
        init: {timer}
        depends: logic
      logic:
        init: ticks://;limit=1;shutdown-on=close
        channels: {{input: timer, output: out}}
        depends: out
      out:
        init: {{tll.proto: file, tll.host: out.dat, dir: w, autoseq: yes,
               scheme: 'yaml://./messages/transaction.yaml'}}
    """
    with caplog.at_level(logging.INFO):
        code, _ = run_config(tmp_path, config)
    assert code == 0
    rows = stored(f"file://{tmp_path}/out.dat")
    # a monotonic timer's ticks carry ts 0, as in TLL
    assert [(s, t.id, t.time) for s, _, t in rows] == [(0, 1, TimePoint(0, "ns"))]
    assert "Initializing with monotonic clock" in lines(caplog, "tll.channel.timer")
    if warning:
        assert warning in lines(caplog, "tll.channel.timer")
    assert "Shutdown requested by channel logic" in lines(caplog, "tll.processor")


def test_a_realtime_timer_driving_three_ticks(tmp_path):
    messages(tmp_path)
    write(tmp_path, "ticks.py", TICKS)
    config = """
    processor.alias.ticks: python://;python=./ticks:Ticks
    processor.objects:
      timer: {init: 'timer://;interval=20ms;clock=realtime', depends: logic}
      logic:
        init: {tll.proto: ticks, limit: '3', processor.shutdown-on: close}
        channels.input: timer
        channels.output: out
        depends: out
      out: {init: 'file://out.dat;dir=w;autoseq=yes;scheme=yaml://./messages/transaction.yaml'}
    """
    before = time.time_ns()
    code, _ = run_config(tmp_path, config)
    after = time.time_ns()
    rows = stored(f"file://{tmp_path}/out.dat")
    assert code == 0 and [t.id for _, _, t in rows] == [1, 2, 3]
    times = [t.time.value for _, _, t in rows]
    assert before < times[0] < times[1] < times[2] < after


# --- yaml inputs: autoseq, autoclose: no, other schemes --------------------------------------------

ORDERS_SCHEME = """
- name: ''
  enums:
    Side: {type: int8, enum: {Buy: 1, Sell: 2}}
- name: Leg
  fields:
    - {name: venue, type: string}
    - {name: qty, type: int32}
- name: Order
  id: 30
  fields:
    - {name: time, type: uint64, options.type: time_point, options.resolution: us}
    - {name: side, type: Side}
    - {name: client, type: byte8, options.type: string}
    - {name: note, type: string}
    - {name: legs, type: '*Leg'}
    - {name: tags, type: 'int16[4]'}
    - {name: price, type: int64, options.type: fixed3}
    - {name: ttl, type: int32, options.type: duration, options.resolution: ms}
- name: Summary
  id: 40
  fields:
    - {name: time, type: uint64, options.type: time_point, options.resolution: us}
    - {name: seen, type: uint64, options.type: time_point, options.resolution: ns}
    - {name: expires, type: int64, options.type: time_point, options.resolution: ms}
    - {name: side, type: Side}
    - {name: text, type: string}
    - {name: qty, type: int64}
    - {name: notional, type: int64, options.type: fixed2}
    - {name: ttl, type: int64, options.type: duration, options.resolution: us}
"""

ORDERS = """
- name: Order
  seq: 100
  data:
    time: 2024-06-01T10:00:00.250
    side: Sell
    client: acme
    note: first
    legs: [{venue: X, qty: 3}, {venue: Y, qty: 4}]
    tags: [1, 2]
    price: 10.125
    ttl: 2s
- name: Order
  data:
    time: 2024-06-01 10:00:01
    side: 1
    client: bob
    legs: []
    price: 0.5
    ttl: 1500ms
"""

SUMMARY = """
import datetime
from tll.channel.logic import Logic
from tll.chrono import Duration

class Summary(Logic):
    def _init(self, url, master=None):
        super()._init(url, master)
        self._input = self._channels['input'][0]
        self._output = self._channels['output'][0]

    def _logic(self, channel, msg):
        if channel != self._input or msg.type != msg.Type.Data:
            return
        o = channel.unpack(msg)
        qty = sum(leg.qty for leg in o.legs)
        text = '{} {} {} [{}] {!r}'.format(o.side, o.side.name, o.client,
                                           ','.join(leg.venue for leg in o.legs), o.note)
        self.log.info("{} at {}, ttl {}", text, o.time, o.ttl)
        self._output.post({'time': o.time, 'seen': 1717236000.5,
                           'expires': o.time + o.ttl, 'side': o.side, 'text': text,
                           'qty': qty, 'notional': o.price * qty, 'ttl': o.ttl + Duration(1)},
                          name='Summary', seq=msg.seq)
"""


def test_another_scheme_through_yaml_autoseq_and_a_logic(tmp_path, caplog):
    write(tmp_path, "orders.yaml", ORDERS_SCHEME)
    write(tmp_path, "orders-data.yaml", ORDERS)
    write(tmp_path, "summary.py", SUMMARY)
    config = """
    processor.alias:
      summary: python://;python=./summary:Summary
    processor.objects:
      orders:
        init: {tll.proto: yaml, tll.host: orders-data.yaml, scheme: 'yaml://orders.yaml',
               autoseq: yes, processor.shutdown-on: close}
        depends: logic
      logic:
        init: summary://
        channels: {input: orders, output: summary}
        depends: summary
      summary:
        init: {tll.proto: file, tll.host: summary.dat, dir: w, scheme: 'yaml://orders.yaml'}
    """
    with caplog.at_level(logging.INFO):
        code, _ = run_config(tmp_path, config)
    assert code == 0
    # logged as TLL's binding prints its values: enums as Side.Sell, time points with Z,
    # an unset string as ''
    assert [m for m in lines(caplog, "tll.channel.logic") if m.startswith("Side.")] == [
        "Side.Sell Sell acme [X,Y] 'first' at 2024-06-01T10:00:00.250Z, ttl 2000ms",
        "Side.Buy Buy bob [] '' at 2024-06-01T10:00:01Z, ttl 1500ms",
    ]
    rows = stored(f"file://{tmp_path}/summary.dat")
    assert [s for s, _, _ in rows] == [100, 101]            # autoseq from the first seq
    first, second = rows[0][2], rows[1][2]
    assert (first.qty, first.notional, str(first.side)) == (7, Decimal("70.88"), "Side.Sell")
    assert second.notional == Decimal("0.00") and second.text.startswith("Side.Buy Buy bob")
    # a number posted into a time point field is seconds, as in TLL's binding
    assert first.seen == TimePoint(1_717_236_000_500_000_000, "ns")
    # time point + duration, duration + tll.chrono.Duration(1) (one second)
    assert first.expires == TimePoint(1_717_236_002_250, "ms")
    assert (first.ttl, second.ttl) == (Duration(3_000_000, "us"), Duration(2_500_000, "us"))


def test_autoclose_no_keeps_the_input_open(tmp_path, caplog):
    messages(tmp_path)
    write(tmp_path, "commission.py", COMMISSION)
    config = (TUTORIAL / "ch02" / "commission-processor.yaml").read_text().replace(
        "      autoseq: true\n      dump: yes", "      autoseq: true\n      autoclose: no")

    def three(p) -> bool:
        return p.objects["output-channel"].channel.last_seq >= 2
    with caplog.at_level(logging.INFO):
        _, p = run_config(tmp_path, config, until=three)
    assert [c.id for _, _, c in stored(f"file://{tmp_path}/output.dat")] == [1, 2, 3]
    assert "All messages processed. Closing" not in caplog.text
    stop = caplog.text.index("Close processor")          # closed only when the run stopped
    assert "Channel input-channel state Active -> Closing" not in caplog.text[:stop]


def test_naive_datetimes_posted_by_a_logic_are_local_time(tmp_path):
    messages(tmp_path)
    write(tmp_path, "stamp.py", TICKS.replace("'time': tick.ts",
                                              "'time': datetime.datetime(2024, 1, 2, 3, 4, 5)")
          .replace("from tll.channel.logic import Logic",
                   "import datetime\nfrom tll.channel.logic import Logic"))
    config = """
    processor.objects:
      timer: {init: 'timer://;interval=10ms', depends: logic}
      logic:
        init: 'python://;python=./stamp:Ticks;limit=1;shutdown-on=close'
        channels: {input: timer, output: out}
        depends: out
      out: {init: 'file://out.dat;dir=w;autoseq=yes;scheme=yaml://./messages/transaction.yaml'}
    """
    tz = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Moscow"              # UTC+3 all year
    time.tzset()
    try:
        run_config(tmp_path, config)
    finally:
        if tz is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = tz
        time.tzset()
    (_, _, tx), = stored(f"file://{tmp_path}/out.dat")
    assert tx.time == TimePoint.from_datetime(dt.datetime(2024, 1, 2, 0, 4, 5))


# --- rotate+file storage rotated by a logic ---------------------------------------------------------

ROTATING = COMMISSION.replace(
    "            self._output.post(",
    "            if msg.id != 1:\n"
    "                rotate = self._output.Type.Control\n"
    "                self._output.post({}, name='Rotate', type=rotate)\n"
    "                self._output.post({}, name='Rotate', type=rotate)\n"
    "            self._output.post(")


def test_a_rotate_file_storage_rotated_by_its_logic(tmp_path, caplog):
    messages(tmp_path)
    write(tmp_path, "commission.py", ROTATING)
    config = (TUTORIAL / "ch02" / "commission-processor.yaml").read_text() \
        .replace("      dump: yes\n    depends: logic", "      shutdown-on: close\n    depends: logic") \
        .replace("      tll.proto: file\n      tll.host: output.dat",
                 "      tll.proto: rotate+file\n      tll.host: storage/commission")
    with caplog.at_level(logging.INFO):
        code, _ = run_config(tmp_path, config)
    assert code == 0
    # a Rotate after a Rotate finds the current file empty and does nothing (as in TLL)
    assert sorted(os.listdir(tmp_path / "storage")) == [
        "commission.0.dat", "commission.1.dat", "commission.current.dat"]
    rows = stored(f"rotate+file://{tmp_path}/storage/commission")
    assert [(s, c.id, str(c.value)) for s, _, c in rows] == [
        (0, 1, "4.56"), (1, 2, "9.26"), (2, 3, "3.62")]
    posts = [m.splitlines()[0] for m in lines(caplog, "tll.channel.output-channel")
             if m.startswith("Post message")]
    assert posts.count("Post message: type: Control, msgid: 150, name: Rotate, seq: 0, size: 0") == 4
