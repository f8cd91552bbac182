"""`streamproto export`: a storage source into a Parquet, Arrow IPC or CSV file."""
from __future__ import annotations

import sys
import time

import click

from streamproto.errors import StreamprotoError
from streamproto.export.sinks import FORMATS


class _Progress:
    """Percent of the source read and rows written, on stderr once a second (a terminal by default)."""

    def __init__(self, on: bool | None) -> None:
        self.on = sys.stderr.isatty() if on is None else on
        self.next = time.monotonic() + 1.0
        self.shown = False
        self.rows = 0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.on and now >= self.next:
            self.next = now + 1.0
            self.shown = True
            sys.stderr.write(f"\r{min(100.0, 100.0 * done / total):5.1f}%  {self.rows} rows")
            sys.stderr.flush()

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def export_cmd(source: str, output: str, message: str | None, seq_range: str | None,
               fmt: str | None, scheme: str | None, progress: bool | None) -> tuple[int, str, str]:
    """Export; returns (rows, message name or 'raw records', format)."""
    from streamproto.export.sinks import Sink, check_output, format_of
    from streamproto.export.table import iter_batches, require_arrow
    require_arrow()
    check_output(output)
    fmt = format_of(output, fmt)
    show = _Progress(progress)
    stream = iter_batches(source, message=message, seq=seq_range, scheme=scheme, progress=show)
    sink = Sink(output, fmt, stream.schema)
    try:
        for batch in stream.batches:
            sink.write(batch)
            show.rows = sink.rows
        sink.commit()
    except BaseException:
        sink.abort()
        raise
    finally:
        show.done()
    return sink.rows, stream.message.name if stream.message is not None else "raw records", fmt


def register(group: click.Group) -> None:
    """Add ``export`` to the `streamproto` group."""

    @group.command("export")
    @click.argument("source")
    @click.argument("output")
    @click.option("--message", help="Message name or msgid (needed when SOURCE holds several types).")
    @click.option("--seq", "seq_range", metavar="A:B", help="Inclusive seq range (A:B, A:, :B or A).")
    @click.option("--format", "fmt", type=click.Choice(FORMATS),
                  help="Output format (default: from OUTPUT's extension: .parquet, .arrow, .csv).")
    @click.option("--scheme", help="Scheme URL for files without one (or overriding the stored one).")
    @click.option("--progress/--no-progress", default=None,
                  help="Progress on stderr (default: when stderr is a terminal).")
    def export(source: str, output: str, message: str | None, seq_range: str | None,
               fmt: str | None, scheme: str | None, progress: bool | None) -> None:
        """Write one message type of a storage SOURCE (file, rotate prefix or URL) to OUTPUT.

        Columns: seq, then the message's fields (without a scheme: seq, msgid, body). Needs
        the optional extra: pip install 'streamproto[arrow]'.
        """
        try:
            rows, what, fmt = export_cmd(source, output, message, seq_range, fmt, scheme, progress)
        except KeyboardInterrupt:
            raise click.Abort() from None
        except StreamprotoError as e:
            raise click.ClickException(str(e)) from None
        click.echo(f"{rows} rows of {what} written to {output} ({fmt})", err=True)
