"""`streamproto run CONFIG [-D KEY=VALUE]...` as a real process: signals, exit codes, errors."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest


def start(directory: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "streamproto", "run", *args], cwd=directory,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen, path: Path, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and path.stat().st_size > 0:
            return
        if proc.poll() is not None:
            raise AssertionError(f"exited early: {proc.communicate()[1][-2000:]}")
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"{path} did not appear within {timeout} s")


CONFIG = """
logger:
  levels:
    tll: INFO
processor.objects:
  sink: {init: 'null://'}
  writer:
    init: {tll.proto: file, tll.host: out.dat, dir: w, autoseq: yes}
    depends: sink
  marker:
    init: {tll.proto: file, tll.host: started.dat, dir: w}
    depends: writer
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_close_every_object_in_reverse_order_and_exit_zero(tmp_path, sig):
    (tmp_path / "p.yaml").write_text(textwrap.dedent(CONFIG))
    proc = start(tmp_path, "p.yaml")
    wait_for(proc, tmp_path / "started.dat")
    time.sleep(0.2)                       # let the last Active be logged (not a deadline)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err[-2000:]
    assert "Termination signal received, closing" in err
    closes = [line.split()[-1] for line in err.splitlines()
              if "tll.processor.worker.default: Deactivate object" in line]
    assert closes == ["marker", "writer", "sink"]
    assert "All objects closed" in err


def test_config_mistakes_are_one_line_and_exit_one(tmp_path):
    cases = {
        "missing.yaml": "cannot read config missing.yaml",
        "cycle.yaml": "processor.objects: depends cycle: a -> b -> a",
        "proto.yaml": "processor.objects.a.init: unknown protocol 'nosuch'",
        "module.yaml": "processor.objects.a.init: parameter 'python': module 'nosuch' not found",
    }
    (tmp_path / "cycle.yaml").write_text(
        "processor.objects: {a: {init: 'null://', depends: b}, b: {init: 'null://', depends: a}}\n")
    (tmp_path / "proto.yaml").write_text("processor.objects: {a: {init: 'nosuch://'}}\n")
    (tmp_path / "module.yaml").write_text(
        "processor.objects: {a: {init: 'python://;python=./nosuch:X'}}\n")
    for name, message in cases.items():
        r = subprocess.run([sys.executable, "-m", "streamproto", "run", name], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, (name, r.stderr)
        assert r.stderr.strip().splitlines()[-1].startswith(f"error: {message}"), r.stderr
        assert "Traceback" not in r.stderr


def test_defines_override_config_keys(tmp_path):
    (tmp_path / "p.yaml").write_text(textwrap.dedent("""
    processor.objects:
      input: {init: 'yaml://nosuch.yaml;processor.shutdown-on=close'}
    """))
    (tmp_path / "data.yaml").write_text("- {msgid: 1, data: x}\n")
    r = subprocess.run([sys.executable, "-m", "streamproto", "run", "p.yaml", "-D",
                        "processor.objects.input.init=yaml://data.yaml;processor.shutdown-on=close"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "All messages processed. Closing" in r.stderr
    assert "Shutdown requested by channel input" in r.stderr


def test_an_open_failure_exits_one_with_the_key(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "processor.objects: {t: {init: 'timer://', open: {interval: soon}}}\n")
    r = subprocess.run([sys.executable, "-m", "streamproto", "run", "p.yaml"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        "error: processor.objects.t: parameter 'interval': invalid duration 'soon' (expected a "
        "number with a unit ns, us, ms, s, m, h or d, e.g. 100ms)")
    assert "Traceback" not in r.stderr


def test_tll_is_only_importable_inside_run():
    r = subprocess.run([sys.executable, "-c", "import tll"], capture_output=True, text=True,
                       cwd=os.path.dirname(__file__), timeout=60)
    assert r.returncode != 0 and "No module named 'tll'" in r.stderr
