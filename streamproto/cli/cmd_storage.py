"""`streamproto read` and `streamproto convert`: list and copy TLL storage (file://, rotate+file://)."""
from __future__ import annotations

import base64
import json
import sys
import time
from decimal import Decimal
from typing import Any, Iterator

import click

from streamproto.errors import StreamprotoError
from streamproto.events import Kind
from streamproto.cli.dumpfmt import format_message_yaml


def _parse_range(text: str | None) -> tuple[int | None, int | None]:
    """``A:B`` (inclusive), ``A:``, ``:B`` or ``A``."""
    if not text:
        return None, None
    a, sep, b = text.partition(":")
    try:
        lo = int(a) if a.strip() else None
        hi = int(b) if b.strip() else None
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected A:B with integer seqs",
                                 param_hint="'--seq'") from None
    if not sep:
        hi = lo
    if lo is not None and hi is not None and lo > hi:
        raise click.BadParameter(f"{text!r}: the range is empty ({lo} > {hi}); write "
                                 "FIRST:LAST with FIRST <= LAST", param_hint="'--seq'")
    return lo, hi


def _json_default(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, Decimal):
        return str(v)
    return str(v)


class _Progress:
    """Message count on stderr, once a second, when stderr is a terminal."""

    def __init__(self) -> None:
        self.on = sys.stderr.isatty()
        self.start = self.next = time.monotonic() + 1.0
        self.shown = False

    def tick(self, n: int, seq: int) -> None:
        now = time.monotonic()
        if now >= self.next:
            self.next = now + 1.0
            self.shown = True
            sys.stderr.write(f"\r{n} messages, seq {seq}")
            sys.stderr.flush()

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def _events(reader: Any, follow: bool) -> Iterator[Any]:
    if follow:
        return reader.follow(poll=0.1)
    return iter(reader)


def _open_source(source: str, scheme: str | None, seq: int | None) -> Any:
    from streamproto.storage import open_reader, resolve_source
    kw: dict[str, Any] = {}
    if scheme:
        kw["scheme"] = scheme
    if seq is not None:
        kw["seq"] = seq
    return open_reader(resolve_source(source), **kw)


def read_cmd(source: str, seq_range: str | None, dump_seq: bool, fmt: str, raw: bool,
             scheme: str | None, follow: bool, controls: bool) -> None:
    import tllschema
    lo, hi = _parse_range(seq_range)
    reader = _open_source(source, scheme, lo)
    with reader:
        if dump_seq:
            first, last = reader.first_seq, reader.last_seq
            click.echo(f"First seq: {-1 if first is None else first}")
            click.echo(f"Last seq: {-1 if last is None else last}")
            return
        sch = reader.scheme
        out = sys.stdout
        progress = _Progress()
        n = 0
        for m in _events(reader, follow):
            if m.kind is Kind.CONTROL:
                if controls:
                    if fmt == "jsonl":
                        out.write(json.dumps({"seq": m.seq, "msgid": m.msgid, "name": m.name,
                                              "size": len(m.body), "type": "control"}) + "\n")
                    else:
                        out.write(f"- seq: {m.seq}\n  name: {m.name}\n  type: Control\n\n")
                continue
            if hi is not None and m.seq > hi:
                break
            if lo is not None and m.seq < lo:
                continue
            sch = reader.scheme
            msg = sch.by_msgid.get(m.msgid) if sch is not None else None
            name = msg.name if msg is not None else None
            data = None
            if msg is not None:
                try:
                    data = tllschema.plain(msg.decode(m.body), raw=raw)
                except Exception as e:
                    raise StreamprotoError(f"{reader.path}: seq {m.seq} msgid {m.msgid}: {e}") from e
            if fmt == "jsonl":
                rec: dict[str, Any] = {"seq": m.seq, "msgid": m.msgid, "name": name, "size": len(m.body)}
                if data is not None:
                    rec["data"] = data
                else:
                    rec["hex"] = m.body.hex()
                out.write(json.dumps(rec, default=_json_default) + "\n")
            else:
                if data is not None:
                    out.write(format_message_yaml(m.seq, name or f"msgid {m.msgid}", data))
                else:
                    out.write(format_message_yaml(m.seq, name or f"msgid {m.msgid}", None,
                                                  {"msgid": m.msgid, "size": len(m.body),
                                                   "hex": m.body.hex()}))
            n += 1
            if progress.on and not n & 1023:
                progress.tick(n, m.seq)
            if follow:
                out.flush()
        progress.done()


def convert_cmd(source: str, dest: str) -> int:
    """Copy SOURCE into DEST; returns the number of messages written.

    A write that fails (full disk, ...) ends the copy with one StreamprotoError naming the
    output file and how many messages it holds: the writer has cut the failed batch off, so the
    output is complete up to its last stored record.
    """
    from streamproto.storage import FileReader, RotateWriter, open_writer
    from streamproto.storage.openers import storage_options
    from streamproto.storage.writer import StorageWriteError
    reader = _open_source(source, None, None)
    with reader:
        _, dopts = storage_options(dest)
        kw: dict[str, Any] = {"buffer": dopts.get("buffer", 1 << 20)}
        if "scheme" not in dopts:
            stored = reader.scheme_url if isinstance(reader, FileReader) else _rotate_scheme(reader)
            kw["stored_scheme"] = stored
        n = 0                       # posted: stored, or waiting in the writer's buffer
        try:
            with open_writer(dest, **kw) as w:
                post = w.post
                for m in reader:
                    if m.kind is Kind.CONTROL:
                        if isinstance(w, RotateWriter):
                            w.rotate()
                        continue
                    n += 1          # before the post: a failing post is among the lost ones
                    post(m.msgid, m.seq, m.body)
        except StorageWriteError as e:
            raise StreamprotoError(f"{e}; convert stopped: {n - e.lost} messages written") from None
    return n


def _rotate_scheme(reader: Any) -> str:
    child = reader._child
    return child.scheme_url if child is not None else ""


def register(group: click.Group) -> None:
    """Add ``read`` and ``convert`` to the `streamproto` group."""

    @group.command("read")
    @click.argument("source")
    @click.option("--seq", "seq_range", metavar="A:B", help="Inclusive seq range (seek, not scan).")
    @click.option("--dump-seq", is_flag=True, help="Print the first and last seq and exit.")
    @click.option("--format", "fmt", type=click.Choice(["yaml", "jsonl"]), default="yaml",
                  show_default=True)
    @click.option("--raw", is_flag=True, help="Raw decoded values (golden `fields` conventions).")
    @click.option("--scheme", help="Scheme URL overriding the stored one.")
    @click.option("--follow", is_flag=True,
                  help="Keep reading appended data (Ctrl-C to stop, exit code 0). A file cut "
                       "back or rewritten meanwhile is an error (exit code 1).")
    @click.option("--controls", is_flag=True, help="Also print control events (Rotate).")
    def read(source: str, seq_range: str | None, dump_seq: bool, fmt: str, raw: bool,
             scheme: str | None, follow: bool, controls: bool) -> None:
        """List the messages of a storage file, rotate set (path prefix) or storage URL."""
        try:                            # other errors: streamproto.cli.errors
            read_cmd(source, seq_range, dump_seq, fmt, raw, scheme, follow, controls)
        except KeyboardInterrupt:       # the way to end --follow
            sys.stdout.flush()

    @group.command("convert")
    @click.argument("source")
    @click.argument("dest")
    def convert(source: str, dest: str) -> None:
        """Copy every message of SOURCE into the storage URL DEST (its block, compression, ...)."""
        try:
            n = convert_cmd(source, dest)
        except StreamprotoError as e:
            raise click.ClickException(str(e)) from None
        click.echo(f"{n} messages copied", err=True)
