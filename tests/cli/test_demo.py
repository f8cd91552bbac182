"""`streamproto demo` (the main job) and the README's promises."""
from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import tllschema
from streamproto import schemas
from streamproto.storage import open_reader
from tests.conftest import REPO
from streamproto.cli.demo import commission_value


def test_commission_rounds_half_even():
    assert commission_value(Decimal("97.21"), 45) == Decimal("43.74")
    assert commission_value(Decimal("0.50"), 1) == Decimal("0.00")  # 0.005 -> 0.00 (half-even)
    assert commission_value(Decimal("1.50"), 1) == Decimal("0.02")  # 0.015 -> 0.02
    assert commission_value(Decimal("113.90"), 4) == Decimal("4.56")
    assert str(commission_value(Decimal("10.00"), 10)) == "1.00"


def test_demo_runs_the_seed_scenario(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "streamproto", "demo", "--duration", "3", "--interval", "0.02",
         "--dir", str(tmp_path), "--seed", "7"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stderr
    # the seed's own configs ran: generator, then commission online, then from seq 0
    assert "[generator] " in log and "[commission] " in log
    assert "name: Online" in log and "name: Rotate" in log
    assert "Post message: type: Data, msgid: 20, name: Commission, seq: 0, size: 24" in log
    # storage rotated every 50 messages: closed files are named by their first seq
    names = sorted(p.name for p in (tmp_path / "storage").iterdir())
    assert "output.0.dat" in names and "output.50.dat" in names and "output.current.dat" in names
    with open_reader(f"rotate+file://{tmp_path}/storage/output") as reader:
        transactions = [m for m in reader if m.kind == 0]
    with open_reader(f"file://{tmp_path}/commission.dat") as reader:
        commissions = list(reader)
    tx = tllschema.load(schemas.url("transaction.yaml")).message("Transaction")
    cm = tllschema.load(schemas.url("commission.yaml")).message("Commission")
    by_seq = {m.seq: tx.decode(m.body) for m in transactions}
    # history from seq 0 then live data: every stored seq, exactly once, in order
    seqs = [m.seq for m in commissions]
    assert seqs == sorted(by_seq) and len(seqs) >= 60
    for m in commissions:
        c, t = cm.decode(m.body), by_seq[m.seq]
        assert (c.time, c.id) == (t.time, t.id)
        assert c.value == commission_value(t.price, t.count)
    assert "one per Transaction" in proc.stdout
    # ends by listing the output as `streamproto read` shows it, from the kept directory
    assert f"$ cd {tmp_path} && streamproto read commission.dat" in proc.stdout
    assert "- seq: 0\n  name: Commission\n  data:\n    time: '" in proc.stdout


def test_demo_in_a_temporary_directory_suggests_no_command_on_it():
    proc = subprocess.run(
        [sys.executable, "-m", "streamproto", "demo", "--duration", "1.5", "--interval", "0.05"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "streamproto-demo-" not in proc.stdout and "$ " not in proc.stdout
    assert "The first Commissions (commission.dat):" in proc.stdout


def test_readme_commands_are_what_ci_runs():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    test_cmd = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest -q"
    assert test_cmd in readme and test_cmd in ci
    assert ".venv/bin/streamproto demo" in readme


def test_demo_with_its_output_piped_to_head_ends_at_once(tmp_path):
    """`streamproto demo 2>&1 | head -1`: the closed pipe stops the forwarding of the services'
    logs, not the reading of them (a service blocked on a full pipe hung the demo for 30 s
    and made it fail); the demo still checks the Commissions and exits 0."""
    p = subprocess.Popen(
        [sys.executable, "-m", "streamproto", "demo", "--duration", "2", "--interval", "0.01",
         "--dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    assert p.stdout is not None
    p.stdout.readline()
    p.stdout.close()
    assert p.wait(timeout=25) == 0
    with open_reader(f"file://{tmp_path}/commission.dat") as reader:
        assert len(list(reader)) >= 50
