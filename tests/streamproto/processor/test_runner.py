"""Processor configs run in-process: tutorial-style services, order, reopen, shutdown, /sys."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from streamproto import schemas
from streamproto.errors import ConfigError
from streamproto.events import ACTIVE
from streamproto.processor import FatalError
from streamproto.storage import open_reader
from tests.streamproto.processor.util import run_config, state, write

#: The tutorial's chapter 2 logic as written (`from tll.channel.logic import Logic`), and a
#: variant that quantizes the value itself, as the reference's encoder rounds it (half-even).
UNCHANGED = (Path(__file__).parent / "tutorial" / "ch02" / "commission.py").read_text()
_POST = "            self._output.post(\n"
assert _POST in UNCHANGED
ROUNDED = UNCHANGED.replace(_POST, "            value = value.quantize(decimal.Decimal('0.01'), "
                            "rounding=decimal.ROUND_HALF_EVEN)\n" + _POST)

INPUT = """
- name: Transaction
  data:
    time: 2024-04-24T11:04:05.123456789
    id: 1
    price: 113.90
    count: 4
- name: Transaction
  data:
    time: 2024-04-28T11:04:05.123456789
    id: 2
    price: 115.74
    count: 8
- name: Transaction
  data:
    time: 2024-05-03T11:04:05.123456789
    id: 3
    price: 120.58
    count: 3
"""

TUTORIAL = """
logger:
  type: spdlog
  levels:
    tll: DEBUG
processor.alias:
  commission: python://;python=./commission:Commission
processor.objects:
  input-channel:
    init:
      tll.proto: yaml
      tll.host: input-data.yaml
      scheme: yaml://./messages/transaction.yaml
      autoseq: true
      dump: yes
    depends: logic
  output-channel:
    init:
      tll.proto: file
      tll.host: output.dat
      dir: w
      scheme: yaml://./messages/commission.yaml
      autoseq: true
      dump: scheme
  logic:
    url: commission://
    channels:
      input: input-channel
      output: output-channel
    depends: output-channel
"""


def tutorial_dir(tmp_path, module: str):
    (tmp_path / "messages").mkdir()
    for name in ("transaction.yaml", "commission.yaml"):
        shutil.copy(schemas.path(name), tmp_path / "messages" / name)
    write(tmp_path, "input-data.yaml", INPUT)
    write(tmp_path, "commission.py", module)


def stored(path) -> list[tuple[int, str, int, str]]:
    with open_reader(f"file://{path}") as r:
        m = r.scheme.message("Commission")
        out = []
        for x in r:
            c = m.decode(x.body)
            out.append((x.seq, c.time.isoformat(), c.id, str(c.value)))
        return out


def out_seq(p) -> int:
    return p.objects["output-channel"].channel.last_seq


def test_tutorial_chapter_2_runs_as_in_tll(tmp_path, caplog):
    tutorial_dir(tmp_path, ROUNDED)
    with caplog.at_level(logging.DEBUG):
        code, _ = run_config(tmp_path, TUTORIAL, until=lambda p: out_seq(p) >= 5)
    assert code == 0
    rows = stored(tmp_path / "output.dat")
    first = [(0, "2024-04-24T11:04:05.123456789Z", 1, "4.56"),
             (1, "2024-04-28T11:04:05.123456789Z", 2, "9.26"),
             (2, "2024-05-03T11:04:05.123456789Z", 3, "3.62")]
    assert rows[:3] == first
    # the input closed ("All messages processed") and was replayed after a back-off
    assert rows[3:6] == [(s + 3, t, i, v) for s, t, i, v in first]
    assert "All messages processed. Closing" in caplog.text
    assert "Next open for input-channel in 1s" in caplog.text
    logged = {(r.name, r.getMessage()) for r in caplog.records}
    assert ("tll.channel.input-channel", "Recv message: type: Data, msgid: 10, name: Transaction, "
            "seq: 0, size: 26\n  time: 2024-04-24T11:04:05.123456789\n  id: 1\n  price: 113.90\n"
            "  count: 4\n") in logged
    assert ("tll.channel.output-channel", "Post message: type: Data, msgid: 20, name: Commission, "
            "seq: 0, size: 24\n  time: 2024-04-24T11:04:05.123456789\n  id: 1\n  value: 4.56\n") in logged


def test_tutorial_chapter_2_module_unchanged(tmp_path):
    """The chapter's own arithmetic (value with 4 places) relies on half-even rounding in the
    encoder, as TLL's `to_integral_value()` does."""
    tutorial_dir(tmp_path, UNCHANGED)
    run_config(tmp_path, TUTORIAL, until=lambda p: out_seq(p) >= 2)
    assert [r[3] for r in stored(tmp_path / "output.dat")[:3]] == ["4.56", "9.26", "3.62"]


TIMER_LOGIC = """
import decimal
from tll.channel.logic import Logic

class Generator(Logic):
    def _init(self, url, master=None):
        super()._init(url, master)
        self._input = self._channels['input'][0]
        self._output = self._channels['output'][0]
        self._id = 0

    def _logic(self, channel, msg):
        if channel != self._input or msg.type != msg.Type.Data:
            return
        t = channel.unpack(msg)
        self._id += 1
        self._output.post({'time': t.ts, 'id': self._id, 'price': decimal.Decimal('1.25'),
                           'count': self._id}, name='Transaction')
        if self._id == 3:
            self._output.post({}, name='Rotate', type=msg.Type.Control)
"""


def test_timer_drives_a_logic_writing_a_rotate_set(tmp_path):
    shutil.copy(schemas.path("transaction.yaml"), tmp_path)
    write(tmp_path, "generator.py", TIMER_LOGIC)
    config = """
    processor.alias:
      generator: python://;python=./generator:Generator
    processor.objects:
      input-channel:
        init: {tll.proto: timer, timer: {clock: realtime, interval: 10ms}}
        depends: generator
      output-channel:
        init: {tll.proto: rotate+file, tll.host: storage/out, dir: w, autoseq: yes,
               scheme: 'yaml://./transaction.yaml'}
      generator:
        init: generator://
        channels: {input: input-channel, output: output-channel}
        depends: output-channel
    """
    run_config(tmp_path, config, until=lambda p: out_seq(p) >= 5)
    names = sorted(p.name for p in (tmp_path / "storage").iterdir())
    assert names == ["out.0.dat", "out.current.dat"]            # rotated after the third
    with open_reader(f"rotate+file://{tmp_path}/storage/out") as r:
        m = r.scheme.message("Transaction")
        got = [(x.seq, m.decode(x.body)) for x in r if x.kind == 0]
    assert [s for s, _ in got[:6]] == list(range(6))
    assert [t.id for _, t in got[:6]] == [1, 2, 3, 4, 5, 6]
    times = [t.time.value for _, t in got]
    assert times == sorted(times) and times[0] > 1.7e18        # realtime stamps of the ticks


def order(caplog, word: str) -> list[str]:
    return [r.getMessage().split()[-1] for r in caplog.records
            if r.name == "tll.processor.worker.default"
            and r.getMessage().startswith(f"{word} object ")]


def test_open_in_dependency_order_close_in_reverse(tmp_path, caplog):
    config = """
    processor.objects:
      a: {init: 'null://', depends: 'b, c'}
      b: {init: 'null://', depends: c}
      c: {init: 'null://'}
      d: {init: 'null://'}
    """
    with caplog.at_level(logging.INFO, logger="tll.processor"):
        run_config(tmp_path, config, until=lambda p: all(
            state(p, n) == ACTIVE for n in "abcd"))
    opened = order(caplog, "Activate")
    assert opened.index("c") < opened.index("b") < opened.index("a")
    closed = order(caplog, "Deactivate")
    assert closed.index("a") < closed.index("b") < closed.index("c") and "d" in closed


FLAKY = """
from tll.channel.logic import Logic

class Flaky(Logic):
    def _init(self, url, master=None):
        super()._init(url, master)
        self._input = self._channels['input'][0]
        self.seen = 0

    def _logic(self, channel, msg):
        if msg.type != msg.Type.Data:
            return
        self.seen += 1
        if self.seen == 2:
            raise ValueError("bad message number two")
"""

COUNTER = """
from tll.channel.logic import Logic

class Counter(Logic):
    def _init(self, url, master=None):
        super()._init(url, master)
        self.ticks = 0

    def _logic(self, channel, msg):
        if msg.type == msg.Type.Data:
            self.ticks += 1
"""


def test_a_logic_exception_is_isolated(tmp_path, caplog):
    write(tmp_path, "flaky.py", FLAKY)
    write(tmp_path, "counter.py", COUNTER)
    config = """
    processor.objects:
      source: {init: 'timer://;interval=10ms', depends: flaky}
      flaky:
        init: 'python://;python=./flaky:Flaky'
        channels: {input: source}
      ticker: {init: 'timer://;interval=10ms'}
      counter:
        init: 'python://;python=./counter:Counter'
        channels: {input: ticker}
    """
    states: list[str] = []

    def until(p) -> bool:
        states.append(state(p, "ticker"))
        return p.objects["flaky"].channel.obj.seen >= 4 and state(p, "source") == ACTIVE
    with caplog.at_level(logging.INFO):
        run_config(tmp_path, config, until=until)
    text = caplog.text
    assert "Logic callback failed" in text and "Traceback (most recent call last)" in text
    assert "ValueError: bad message number two" in text
    assert "Channel flaky state Active -> Error" in text
    opened, closed = order(caplog, "Activate"), order(caplog, "Deactivate")
    assert opened.count("flaky") == 2 and opened.count("source") == 2   # reopened, then its dependent
    assert closed[:2] == ["flaky", "source"]             # the dependent closed with it
    # the unrelated timer and its logic never left Active until the processor stopped
    assert set(states[states.index(ACTIVE):]) == {ACTIVE}
    stop = text.index("Close processor")
    assert "Deactivate object ticker" not in text[:stop]


SHUTDOWN = """
processor.objects:
  input:
    init: {tll.proto: yaml, tll.host: data.yaml, processor.shutdown-on: close}
"""


def test_shutdown_on_close_stops_the_processor(tmp_path):
    write(tmp_path, "data.yaml", "- {msgid: 1, data: x}\n")
    code, p = run_config(tmp_path, SHUTDOWN, timeout=10)
    assert code == 0 and p.graph.state == "Closed"


def test_shutdown_on_error_exits_with_one(tmp_path):
    write(tmp_path, "data.yaml", "- {msgid: 1, data: x}\n")
    write(tmp_path, "flaky.py", FLAKY.replace("self.seen == 2", "self.seen == 1"))
    config = """
    processor.objects:
      input: {init: 'yaml://data.yaml;autoclose=no', depends: flaky}
      flaky:
        init: {tll.proto: python, python: ./flaky:Flaky, shutdown-on: error}
        channels: {input: input}
    """
    code, p = run_config(tmp_path, config, timeout=10)
    assert code == 1 and p.graph.state == "Closed"


CH7 = """
from tll.channel.logic import Logic
from tll.config import Config

class Commission(Logic):
    def _init(self, url, master=None):
        super()._init(url, master)
        self._input = self._channels['input'][0]
        request_config = Config()
        request_config["mode"] = 'seq'
        request_config["seq"] = '2'
        self.config_info.set("input-open-params", request_config)
        self.got = []

    def _open(self, props):
        super()._open(props)
        self._last_seq = int(self.config_info["input-open-params.seq"])
        self.config_info["input-open-params.seq"] = lambda: str(self._last_seq)

    def _close(self):
        super()._close()
        self.config_info["input-open-params.seq"] = str(self._last_seq)

    def _logic(self, channel, msg):
        if msg.type != msg.Type.Data:
            return
        self.got.append(msg.seq)
        self._last_seq = msg.seq + 1
"""


def test_open_parameters_linked_from_the_logics_sys_info(tmp_path):
    """Chapter 7: `open: !link /sys/logic/info/input-open-params`, resolved at each open."""
    from streamproto.storage import open_writer
    with open_writer(f"file://{tmp_path}/in.dat") as w:
        for seq in range(6):
            w.post(1, seq, b"x")
    write(tmp_path, "commission.py", CH7)
    config = """
    processor.objects:
      input-channel:
        init: 'file://in.dat'
        open: !link /sys/logic/info/input-open-params
        depends: logic
      logic:
        init: 'python://;python=./commission:Commission'
        channels: {input: input-channel}
    """
    code, p = run_config(tmp_path, config,
                         until=lambda p: p.objects["logic"].channel.obj.got[-1:] == [5])
    got = p.objects["logic"].channel.obj.got
    assert got[:4] == [2, 3, 4, 5]                       # opened from seq 2, as linked
    # reopened after the reader's autoclose: from the seq the callback exported (6: no data)
    assert got.count(2) == 1


def test_sys_is_read_only_from_the_config(tmp_path):
    write(tmp_path, "p.yaml", "processor.objects: {a: {init: 'null://'}}\n")
    from streamproto.processor import load_spec
    with pytest.raises(ConfigError, match="key 'sys' is reserved"):
        load_spec(str(tmp_path / "p.yaml"), ["sys.a.state=Active"])


def test_python_objects_that_cannot_start_are_named(tmp_path):
    write(tmp_path, "broken.py", "from tll.channel.logic import Logic\n"
                                 "class Broken(Logic):\n"
                                 "    def _init(self, url, master=None):\n"
                                 "        super()._init(url, master)\n"
                                 "        raise RuntimeError('Need exactly one input, got: []')\n")
    cases = [
        ("python://;python=./nosuch:X", "processor.objects.logic.init: parameter 'python': "
                                        "module 'nosuch' not found in ."),
        ("python://;python=./broken:Nope", "module 'broken' has no 'Nope'"),
        ("python://;python=./broken", "need MODULE:Class"),
        ("python://;python=./broken:Broken", "processor.objects.logic.init: logic: Broken._init "
                                             "failed: RuntimeError: Need exactly one input"),
    ]
    for url, message in cases:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
            run_config(tmp_path, f"processor.objects: {{logic: {{init: '{url}'}}}}\n")


def test_an_open_config_mistake_stops_with_one_message(tmp_path):
    config = "processor.objects: {t: {init: 'timer://', open: {interval: 10}}}\n"
    with pytest.raises(FatalError, match=r"processor.objects.t: parameter 'interval': "
                                         "invalid duration '10'"):
        run_config(tmp_path, config, timeout=5)


def test_a_client_without_its_server_is_reopened_with_doubling_back_off(tmp_path, caplog):
    config = f"""
    processor.objects:
      client:
        init:
          tll.proto: stream+pub+tcp
          tll.host: {tmp_path}/nobody.sock
          request: tcp://{tmp_path}/nobody-request.sock
          reopen-timeout: 50ms
          reopen-timeout-max: 400ms
        open: {{mode: online}}
    """

    def waits() -> list[str]:
        return [r.getMessage().rsplit(" ", 1)[-1] for r in caplog.records
                if r.getMessage().startswith("Next open for client in")]
    with caplog.at_level(logging.INFO):
        run_config(tmp_path, config, until=lambda p: len(waits()) >= 6)
    assert waits()[:6] == ["0.05s", "0.1s", "0.2s", "0.4s", "0.4s", "0.4s"]
    assert "cannot connect to" in caplog.text and "Traceback" not in caplog.text
