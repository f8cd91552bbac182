"""The seed as two services in two "terminals": real `streamproto run` processes of examples/seed."""
from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from streamproto.errors import StreamprotoError
from streamproto.processor import load_spec
from streamproto.storage import open_reader
from tests.conftest import REPO

SEED = REPO / "examples" / "seed"
SEQ_ZERO = ["-D", "processor.objects.input-channel.open.mode=seq",
            "-D", "processor.objects.input-channel.open.seq=0"]
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (\w+) ([\w.\-/]+): (.*)$")


def service(directory: Path, *args: str) -> subprocess.Popen:
    """A `streamproto run` process, its log (stderr) going to a file (a pipe would fill up)."""
    log = directory / f"log-{time.monotonic_ns()}.txt"
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "streamproto", "run", *args],
                                cwd=directory, stdout=subprocess.DEVNULL, stderr=f, text=True)
    proc.log = log   # type: ignore[attr-defined]
    return proc


def log_of(proc: subprocess.Popen) -> str:
    return proc.log.read_text()   # type: ignore[attr-defined]


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert proc.returncode == 0, log_of(proc)[-3000:]
    return log_of(proc)


def records(url: str) -> list:
    try:
        with open_reader(url) as r:
            scheme = r.scheme
            return [(m.seq, scheme.message(m.msgid).decode(m.body)) for m in r if m.kind == 0]
    except StreamprotoError:
        return []


def wait(cond, procs, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"a service exited: {log_of(p)[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"not reached within {timeout} s")


def test_seed_configs_are_valid_processor_configs():
    gen = load_spec(str(SEED / "generator-processor.yaml"))
    assert set(gen.objects) == {"output-channel", "generator", "timer"}
    assert gen.objects["generator"].channels == {"input": ["timer"], "output": ["output-channel"]}
    com = load_spec(str(SEED / "commission-processor.yaml"), SEQ_ZERO[1::2])
    assert set(com.objects) == {"input-channel", "logic", "output-channel"}
    assert com.root.sub("processor.objects.input-channel.open").flat() == {"mode": "seq", "seq": "0"}
    assert com.root.sub("processor.objects.output-channel.open").flat() == {"overwrite": "yes"}


def test_two_terminals_every_stored_transaction_gets_one_commission(tmp_path):
    for f in SEED.iterdir():
        if f.is_file():
            shutil.copy(f, tmp_path)
    storage = f"rotate+file://{tmp_path}/storage/output"
    output = f"file://{tmp_path}/commission.dat"
    generator = service(tmp_path, "generator-processor.yaml",
                        "-D", "processor.objects.timer.init.interval=20ms")
    procs = [generator]
    try:
        wait(lambda: len(records(storage)) >= 15, procs)
        # terminal 2, as configured: live data only
        online = service(tmp_path, "commission-processor.yaml")
        procs.append(online)
        wait(lambda: len(records(output)) >= 5, procs)
        online_log = stop(online)
        procs.remove(online)
        live = records(output)
        assert live[0][0] > 0                          # no history: it started mid-stream
        # terminal 2 again: history from seq 0, Online, then live data
        replay = service(tmp_path, "commission-processor.yaml", *SEQ_ZERO)
        procs.append(replay)
        wait(lambda: (len(records(storage)) >= 60
                      and len(records(output)) >= len(records(storage)) - 3), procs)
        # the generator restarts: the commission service reconnects by itself (back-off),
        # replays from seq 0 again and skips what it already wrote
        stop(generator)
        procs.remove(generator)
        restarted = len(records(storage))
        generator = service(tmp_path, "generator-processor.yaml",
                            "-D", "processor.objects.timer.init.interval=20ms")
        procs.append(generator)
        wait(lambda: (len(records(storage)) >= max(110, restarted + 20)
                      and len(records(output)) >= len(records(storage)) - 3), procs)
        stop(generator)
        procs.remove(generator)
        stored = records(storage)
        wait(lambda: records(output)[-1:] and records(output)[-1][0] == stored[-1][0], procs, 20)
        replay_log = stop(replay)
        procs.remove(replay)
        assert "Next open for input-channel in" in replay_log     # it waited, then reconnected
    finally:
        for p in procs:
            p.kill()
            p.wait()
    written = records(output)
    assert [s for s, _ in written] == [s for s, _ in stored] == list(range(len(stored)))
    cent = Decimal("0.01")
    for (seq, c), (_, t) in zip(written, stored, strict=True):
        assert (c.time, c.id) == (t.time, t.id), seq
        assert c.value == (t.price * t.count * cent).quantize(cent, rounding=ROUND_HALF_EVEN)
    # a Rotate every 50 Transactions: files named by their first seq
    # (the counter restarts with the generator, so which seqs start a file depends on timing)
    names = {p.name for p in (tmp_path / "storage").iterdir()}
    assert {"output.0.dat", "output.current.dat"} <= names
    rotated = sorted(int(n.split(".")[1]) for n in names - {"output.current.dat"})
    assert len(rotated) >= 1, names
    for first, nxt in zip(rotated, rotated[1:] + [None]):
        with open_reader(f"file://{tmp_path}/storage/output.{first}.dat") as r:
            seqs = [m.seq for m in r]
        assert seqs and seqs[0] == first
        if nxt is not None:
            assert seqs[-1] == nxt - 1
    # the logs look like the seed's transcript
    for log in (online_log, replay_log):
        for line in log.splitlines():
            if line.startswith(" ") or not line:
                continue
            assert LINE.match(line), line
    assert re.search(r"INFO tll\.channel\.input-channel: Recv message: type: Data, msgid: 10, "
                     r"name: Transaction, seq: 0, size: 26\n  time: \d{4}-\d\d-\d\dT[\d:.]+\n"
                     r"  id: 1\n  price: \d+\.\d\d\n  count: \d+\n", replay_log)
    assert re.search(r"INFO tll\.channel\.output-channel: Post message: type: Data, msgid: 20, "
                     r"name: Commission, seq: 0, size: 24\n  time: [\d\-T:.]+\n  id: 1\n"
                     r"  value: \d+\.\d\d\n", replay_log)
    online_line = re.search(r"INFO tll\.channel\.input-channel: Recv message: type: Control, "
                            r"msgid: 10, name: Online, seq: (\d+), size: 0\n", replay_log)
    assert online_line and int(online_line.group(1)) >= 15
