"""`streamproto demo`: the seed scenario, by running the seed's two processor configs.

The configs and logic modules are the ones in ``examples/seed`` (installed as
``streamproto.examples.seed``), copied into a work directory and started as separate
``streamproto run`` processes, as a user would in two terminals:

1. the generator service (``generator-processor.yaml``): a stream+ server storing into
   ``rotate+file://storage/output``, a random Transaction every ``--interval``, a Rotate every 50;
2. the commission service (``commission-processor.yaml``) with its ``open: {mode: online}``:
   live data only;
3. the commission service again with ``-D ...open.mode=seq -D ...open.seq=0``: history from seq
   0, ``Online``, live data; commission.dat is written afresh (``overwrite: yes``).

Then the generator stops, the commission service catches up and stops, and the demo checks that
every stored Transaction got exactly one Commission and lists the first ones.
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import IO, Any

import click

import tllschema
from streamproto.cli.dumpfmt import format_message_yaml
from streamproto.errors import StreamprotoError
from streamproto.storage import open_reader

__all__ = ["commission_value", "seed_dir", "run_demo", "demo", "register"]

SEED_FILES = ("generator-processor.yaml", "commission-processor.yaml", "transaction.yaml",
              "commission.yaml", "generator.py", "commission.py")
SEQ_ZERO = ("-D", "processor.objects.input-channel.open.mode=seq",
            "-D", "processor.objects.input-channel.open.seq=0")


def commission_value(price: Decimal, count: int) -> Decimal:
    """1 % of price x count, rounded half-even to 2 places (as examples/seed/commission.py)."""
    cent = Decimal("0.01")
    return (price * count * cent).quantize(cent, rounding=ROUND_HALF_EVEN)


def seed_dir() -> Path:
    """The directory holding the seed's configs and logic modules: ``streamproto/examples/seed``
    when installed, ``examples/seed`` in a source checkout."""
    package = Path(__file__).resolve().parents[1]
    for path in (package / "examples" / "seed", package.parent / "examples" / "seed"):
        if (path / SEED_FILES[0]).is_file():
            return path
    raise click.ClickException("the seed examples are not installed (streamproto/examples/seed)")


class _Service:
    """One `streamproto run` child process, its stderr forwarded with a prefix."""

    def __init__(self, label: str, args: list[str], cwd: Path, out: IO[str]) -> None:
        self.label = label
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamproto", "run", *args], cwd=cwd,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1)
        self.lines: list[str] = []
        self._out = out
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        forward = True
        for line in self.proc.stdout:
            self.lines.append(line)
            if forward:
                try:
                    self._out.write(f"[{self.label}] {line}")
                    self._out.flush()
                except (OSError, ValueError):
                    # our stderr is gone (`2>&1 | head`): stop forwarding but keep reading,
                    # or the child blocks on a full pipe and the demo waits for nothing
                    forward = False

    def stop(self, timeout: float = 15.0) -> int:
        """SIGINT, as Ctrl-C in its terminal; wait for the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(5)
        return code

    def running(self) -> bool:
        return self.proc.poll() is None

    def saw(self, text: str) -> bool:
        """Whether a log line so far contains ``text``."""
        return any(text in line for line in list(self.lines))

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        if not _wait(lambda: self.saw(text) or not self.running(), timeout):
            raise click.ClickException(f"the {self.label} service did not log {text!r} "
                                       f"within {timeout:g} s")
        if not self.saw(text):
            raise click.ClickException(f"the {self.label} service failed:\n"
                                       + "".join(self.lines[-20:]))


def _wait(cond: Any, timeout: float, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def _seqs(url: str) -> list[int]:
    try:
        with open_reader(url) as reader:
            return [m.seq for m in reader if m.kind == 0]
    except (StreamprotoError, OSError):
        return []


def run_demo(work: Path, duration: float, interval: float, seed: int | None,
             out: IO[str]) -> tuple[list[int], list[int]]:
    """Run the scenario in ``work``; (stored Transaction seqs, Commission seqs)."""
    for name in SEED_FILES:
        shutil.copyfile(seed_dir() / name, work / name)
    gen_args = ["generator-processor.yaml",
                "-D", f"processor.objects.timer.init.interval={max(1, round(interval * 1e6))}us"]
    if seed is not None:
        gen_args += ["-D", f"processor.objects.generator.open.seed={seed}"]
    generator = _Service("generator", gen_args, work, out)
    services = [generator]
    try:
        if not _wait(lambda: (work / "generator.sock").exists() or not generator.running(), 20):
            raise click.ClickException("the generator service did not start within 20 s")
        if not generator.running():
            raise click.ClickException("the generator service failed:\n" + "".join(generator.lines[-20:]))
        online_for = min(max(duration / 4, 3 * interval), duration / 2)
        online = _Service("commission", ["commission-processor.yaml"], work, out)
        services.append(online)
        online.wait_for("Channel input-channel state Opening -> Active")
        time.sleep(online_for)
        online.stop()
        replay = _Service("commission", ["commission-processor.yaml", *SEQ_ZERO], work, out)
        services.append(replay)
        replay.wait_for("name: Online")
        time.sleep(max(duration - online_for, 0.5))
        generator.stop()
        stored = _seqs("rotate+file://" + str(work / "storage" / "output"))
        _wait(lambda: _seqs("file://" + str(work / "commission.dat"))[-1:] == stored[-1:], 10)
        replay.stop()
    finally:
        for s in services:
            s.stop()
    return stored, _seqs("file://" + str(work / "commission.dat"))


def print_output(path: Path, lines: int, out: IO[str]) -> None:
    """The first Commissions of the output, in `streamproto read`'s format."""
    with open_reader(f"file://{path}") as reader:
        scheme = reader.scheme
        shown = 0
        for msg in reader:
            if shown >= lines:
                out.write("...\n")
                break
            m = scheme.message(msg.msgid)
            out.write(format_message_yaml(msg.seq, m.name, tllschema.plain(m.decode(msg.body))))
            shown += 1


@click.command("demo")
@click.option("--duration", type=click.FloatRange(min=0.5), default=8.0, show_default=True,
              help="Seconds the services run.")
@click.option("--interval", type=click.FloatRange(min=0.001), default=0.1, show_default=True,
              help="Seconds between generated Transactions.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep configs, sockets, storage and output here (default: a temporary "
                   "directory, removed at the end).")
@click.option("--seed", type=int, default=None, help="Random seed for reproducible Transactions.")
@click.option("--show", type=int, default=3, show_default=True,
              help="Output messages to list at the end.")
def demo(duration: float, interval: float, directory: Path | None, seed: int | None,
         show: int) -> None:
    """Run the seed: the generator and commission services of examples/seed."""
    keep = directory is not None
    work = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="streamproto-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    work = work.resolve()
    try:
        stored, written = run_demo(work, duration, interval, seed, sys.stderr)
        missing = sorted(set(stored) - set(written))
        click.echo(f"\n{len(stored)} Transactions stored in storage/output, {len(written)} "
                   f"Commissions written to commission.dat"
                   + (f"; no Commission for seq {missing[:10]}" if missing else
                      ", one per Transaction"))
        if keep:
            click.echo(f"\n$ cd {work} && streamproto read commission.dat")
        else:
            click.echo("\nThe first Commissions (commission.dat):")
        print_output(work / "commission.dat", show, sys.stdout)
        if keep:
            click.echo(f"\nThe services' files are kept in {work}; run them yourself from there,"
                       " in two terminals:\n  streamproto run generator-processor.yaml\n"
                       "  streamproto run commission-processor.yaml " + " ".join(SEQ_ZERO))
        if missing or len(written) != len(set(written)):
            raise click.ClickException("the commission service missed Transactions")
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def register(group: click.Group) -> None:
    """Add `demo` to the `streamproto` group."""
    group.add_command(demo)
