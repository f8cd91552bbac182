"""`streamproto demo`: the seed's scenario end to end, in one process.

A generator service (a `stream+pub+tcp` server over Unix sockets, `rotate+file` storage, autoseq)
posts a random Transaction every `--interval` seconds and rotates its storage every 50 messages.
A commission service first subscribes in `online` mode, then reopens with `{mode: seq, seq: 0}`:
it receives the stored history, the `Online` control and live data, computes each Commission
(1 % of price x count, rounded half-up to 2 places) and writes it to a `file://` output. The run
ends by listing the first Commissions of the output as `streamproto read` shows them.
"""
from __future__ import annotations

import asyncio
import logging
import random
import shutil
import tempfile
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import click

import tllschema
from streamproto import schemas
from streamproto.events import Control, State
from streamproto.storage import FileWriter, open_reader, open_writer
from streamproto.stream.channel import StreamClient, StreamData, StreamServer
from streamproto.cli.dumpfmt import format_message_yaml, format_yaml_body

ROTATE_EVERY = 50
log = logging.getLogger("tll")


def commission_value(price: Decimal, count: int) -> Decimal:
    """1 % of price x count, rounded half-up to 2 places."""
    return (price * count / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def commission_for(transaction: tllschema.Record) -> dict:
    """The Commission fields for a decoded Transaction."""
    return {"time": transaction.time, "id": transaction.id,
            "value": commission_value(transaction.price, transaction.count)}


def dump_text(text: str, msg: tllschema.Message, seq: int, body: bytes, kind: str = "Data") -> str:
    """A message as TLL's `dump=yes` logs it: the header line, then the decoded fields."""
    head = f"{text} message: type: {kind}, msgid: {msg.msgid}, name: {msg.name}, seq: {seq}, size: {len(body)}"
    return head + "\n" + format_yaml_body(tllschema.plain(msg.decode(body)), 2).rstrip("\n")


class Generator:
    """The generator service: a stream server posting random Transactions."""

    def __init__(self, directory: Path, interval: float, rng: random.Random):
        self.url = (f"stream+pub+tcp://{directory}/generator.sock;mode=server;"
                    f"request=tcp://{directory}/generator-request.sock;"
                    f"storage=rotate+file://{directory}/storage/output;autoseq=yes;"
                    f"scheme={schemas.url('transaction.yaml')}")
        self.client_url = (f"stream+pub+tcp://{directory}/generator.sock;"
                           f"request=tcp://{directory}/generator-request.sock")
        self.interval = interval
        self.rng = rng
        self.transaction = tllschema.load(schemas.url("transaction.yaml")).message("Transaction")
        self.server = StreamServer(self.url)
        self.log = logging.getLogger("tll.channel.generator")
        self.posted = 0

    async def run(self, stop: asyncio.Event) -> None:
        await self.server.open()
        self.log.info("Open stream server, storage %s, last seq %d", "rotate+file://…/storage/output",
                      self.server.last_seq)
        while not stop.is_set():
            if self.posted and self.posted % ROTATE_EVERY == 0:
                self.server.rotate()
                self.log.info("Rotate storage after %d messages", self.posted)
            body = self.transaction.encode(
                time=time.time_ns(), id=self.posted + 1,
                price=Decimal(self.rng.randrange(100, 100_000)).scaleb(-2), count=self.rng.randrange(1, 100))
            seq = self.server.post(self.transaction.msgid, 0, body)
            self.posted += 1
            self.log.info("%s", dump_text("Post", self.transaction, seq, body))
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
        await self.server.close()


class CommissionService:
    """The commission service: a stream client writing a Commission per Transaction."""

    def __init__(self, url: str, output: Path):
        self.url = url + ";peer=commission"
        self.output = output
        self.transaction = tllschema.load(schemas.url("transaction.yaml")).message("Transaction")
        self.commission = tllschema.load(schemas.url("commission.yaml")).message("Commission")
        self.log = logging.getLogger("tll.channel.commission")
        self.written = 0

    async def online_only(self, seconds: float) -> None:
        """First open: `mode: online`, live data only."""
        client = StreamClient(self.url)
        await client.open({"mode": "online"})
        self.log.info("Open in mode online")
        try:
            await self._consume(client, time.monotonic() + seconds, writer=None)
        finally:
            await client.close()
        self.log.info("Close, last seq %d", client.last_seq)

    async def from_history(self, seconds: float) -> None:
        """Second open: `{mode: seq, seq: 0}`: history, Online, then live data."""
        client = StreamClient(self.url)
        writer = open_writer(f"file://{self.output};scheme={schemas.url('commission.yaml')}")
        await client.open({"mode": "seq", "seq": 0})
        self.log.info("Open in mode seq from seq 0")
        try:
            await self._consume(client, time.monotonic() + seconds, writer)
        finally:
            await client.close()
            writer.close()

    async def _consume(self, client: StreamClient, deadline: float, writer: FileWriter | None) -> None:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                ev = await client.next_event(timeout=left)
            except asyncio.TimeoutError:
                return
            if isinstance(ev, StreamData):
                self.log.info("%s", dump_text("Recv", self.transaction, ev.seq, ev.body))
                if writer is not None:
                    value = commission_for(self.transaction.decode(ev.body))
                    body = self.commission.encode(value)
                    writer.post(self.commission.msgid, ev.seq, body)
                    self.written += 1
                    self.log.info("%s", dump_text("Post", self.commission, ev.seq, body))
            elif isinstance(ev, Control):
                self.log.info("Recv message: type: Control, msgid: %d, name: %s, seq: %d, size: %d",
                              ev.msgid, ev.name, ev.seq, len(ev.body))
            elif isinstance(ev, State):
                self.log.info("State %s%s", ev.state, f": {ev.reason}" if ev.reason else "")
                if ev.state in ("Error", "Closed"):
                    return


async def run_demo(directory: Path, duration: float, interval: float, seed: int | None) -> Path:
    """Run the scenario in `directory`; returns the commission output path."""
    rng = random.Random(seed)
    (directory / "storage").mkdir(exist_ok=True)
    generator = Generator(directory, interval, rng)
    service = CommissionService(generator.client_url, directory / "commission.dat")
    stop = asyncio.Event()
    task = asyncio.create_task(generator.run(stop))
    try:
        while not generator.server.state == "Active":
            if task.done():
                await task  # raises the open error
            await asyncio.sleep(0.01)
        online_for = min(max(duration / 4, 3 * interval), duration / 2)
        await service.online_only(online_for)
        await service.from_history(duration - online_for)
    finally:
        stop.set()
        await task
    return service.output


def print_output(path: Path, lines: int) -> None:
    """The first Commissions of the output, as `streamproto read` prints them."""
    click.echo(f"\n$ streamproto read {path}")
    with open_reader(f"file://{path}") as reader:
        scheme = reader.scheme
        shown = 0
        for msg in reader:
            if shown >= lines:
                click.echo("...")
                break
            m = scheme.message(msg.msgid)
            click.echo(format_message_yaml(msg.seq, m.name, tllschema.plain(m.decode(msg.body))), nl=False)
            shown += 1


@click.command("demo")
@click.option("--duration", type=click.FloatRange(min=0.5), default=8.0, show_default=True,
              help="Seconds the services run.")
@click.option("--interval", type=click.FloatRange(min=0.001), default=0.1, show_default=True,
              help="Seconds between generated Transactions.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep sockets, storage and output here (default: a temporary directory, removed).")
@click.option("--seed", type=int, default=None, help="Random seed for reproducible Transactions.")
@click.option("--show", type=int, default=3, show_default=True, help="Output messages to list at the end.")
def demo(duration: float, interval: float, directory: Path | None, seed: int | None, show: int) -> None:
    """Run the seed scenario: generator -> stream+ server -> commission service -> file."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s",
                        datefmt="%Y-%m-%d %H:%M:%S")
    keep = directory is not None
    work = Path(directory) if keep else Path(tempfile.mkdtemp(prefix="streamproto-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        output = asyncio.run(run_demo(work.resolve(), duration, interval, seed))
        print_output(output, show)
        if keep:
            click.echo(f"\nfiles kept in {work}")
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def register(group: click.Group) -> None:
    """Add `demo` to the `streamproto` group."""
    group.add_command(demo)
