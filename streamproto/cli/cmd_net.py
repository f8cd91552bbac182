"""`streamproto serve` and `streamproto subscribe`: run any channel from a URL or processor config.

Channels come from :func:`streamproto.registry.create_channel`, so every protocol registered
there (``tcp``, ``pub+tcp``, and whatever other modules add) works here unchanged.

Both commands run an asyncio loop that must never block: their output (stdout events, stderr
reports and log records) goes through :class:`streamproto.cli.output.ThreadedWriter`, and the
``--post-jsonl`` input through :class:`streamproto.cli.lines.LineFeed` (see those modules for why).
SIGINT, SIGTERM and SIGHUP stop them cleanly (sockets closed, socket files removed, everything
already received written out) with exit code 0.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import signal
import stat
import sys
from typing import Any, Callable

import click

from streamproto.channel import Channel
from streamproto.config import Url, load_processor_object, load_url, parse_params
from streamproto.errors import StreamprotoError
from streamproto.events import CLOSED, ERROR, STATE_IDS, Control, Data, State
from streamproto.registry import create_channel
from streamproto.dump import message_text
from streamproto.cli.lines import TOO_LONG, LineFeed
from streamproto.cli.output import ThreadedWriter
from streamproto.cli.posts import INT64, Post, PostLineError, Rotate, Sleep, parse_post


def _channel_args(url: str | None, config: str | None, obj: str | None,
                  open_text: str | None) -> tuple[Url, dict[str, str]]:
    if config:
        if url:
            raise click.UsageError("give either URL or --config/--object, not both")
        if not obj:
            raise click.UsageError("--config needs --object NAME")
        init, params = load_processor_object(config, obj)
    elif url:
        init, params = load_url(url), {}
    else:
        raise click.UsageError("give a channel URL or --config FILE --object NAME")
    if open_text is not None:
        params = parse_params(open_text, "--open")
    return init, params


def _decode(ch: Channel, msgid: int, body: bytes) -> tuple[str | None, dict[str, Any] | None]:
    """Name and plain fields of a message; (None, None) when it does not decode (shown as hex)."""
    try:
        scheme = ch.scheme
    except StreamprotoError:
        return None, None
    if scheme is None:
        return None, None
    import tllschema
    try:
        msg = scheme.message(msgid)
        return msg.name, tllschema.plain(msg.decode(body))
    except Exception:           # a peer's bytes must never stop the printer (or the server)
        return None, None


class _Printer:
    """Writes events as reference-style log lines or JSON lines to a (non-blocking) writer."""

    def __init__(self, ch: Channel, fmt: str, out: ThreadedWriter) -> None:
        self.ch, self.fmt, self.out = ch, fmt, out
        self.online = False

    def __call__(self, ev: Any) -> None:
        if self.fmt == "jsonl":
            self.out.write(json.dumps(self._json(ev), default=str) + "\n")
        else:
            self.out.write(self._log(ev))

    def _json(self, ev: Any) -> dict[str, Any]:
        if isinstance(ev, State):
            d: dict[str, Any] = {"event": "state", "state": ev.state}
            if ev.reason:
                d["reason"] = ev.reason
            return d
        if isinstance(ev, Control):
            if ev.name == "Online":
                self.online = True
            d = {"event": "control", "name": ev.name, "msgid": ev.msgid, "seq": ev.seq}
            if ev.addr is not None:
                d["addr"] = ev.addr
            if ev.body:
                d["hex"] = ev.body.hex()
            if ev.data is not None:
                d["data"] = ev.data
            return d
        d = {"event": "data", "msgid": ev.msgid, "seq": ev.seq, "hex": ev.body.hex(),
             "online": getattr(ev, "online", self.online)}   # stream+ data carries its flag
        if ev.addr is not None:
            d["addr"] = ev.addr
        _name, plain = _decode(self.ch, ev.msgid, ev.body)
        if plain is not None:
            d["data"] = plain
        return d

    def posted(self, msgid: int, seq: int, body: bytes) -> None:
        """A message the server posted, in the log format only (TLL's ``Post message`` dump)."""
        if self.fmt == "log":
            self.out.write(self._data_log("Post", msgid, seq, body, None))

    def _log(self, ev: Any) -> str:
        if isinstance(ev, State):
            why = f" ({ev.reason})" if ev.reason else ""
            return f"State: {ev.state}{why}\n"
        if isinstance(ev, Control):
            if ev.name == "Online":
                self.online = True
            addr = f", addr: 0x{ev.addr & 0xFFFFFFFFFFFFFFFF:x}" if ev.addr else ""
            return (f"Recv message: type: Control, msgid: {ev.msgid}, name: {ev.name}, "
                    f"seq: {ev.seq}, size: {len(ev.body)}{addr}\n")
        return self._data_log("Recv", ev.msgid, ev.seq, ev.body, ev.addr)

    def _data_log(self, text: str, msgid: int, seq: int, body: bytes, addr: int | None) -> str:
        """The reference's ``dump=yes`` text of one message (:mod:`streamproto.dump`)."""
        try:
            scheme = self.ch.scheme
        except StreamprotoError:
            scheme = None
        _, line = message_text(text, "auto", control=False, msgid=msgid, seq=seq, body=body,
                               addr=addr, scheme=scheme)
        return line if line.endswith("\n") else line + "\n"


# ------------------------------------------------------------------ the commands' plumbing

class _LogToWriter(logging.Handler):
    """Library log records (warnings) on stderr through the non-blocking writer."""

    def __init__(self, err: ThreadedWriter) -> None:
        super().__init__(logging.WARNING)
        self.err = err

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.err.write(f"{record.levelname.lower()}: {record.getMessage()}\n")
        except Exception:           # pragma: no cover - logging must not raise
            pass


def _run(coro_fn: Callable[[ThreadedWriter, ThreadedWriter], Any], out_overflow: str) -> None:
    """Run ``coro_fn(out, err)`` with non-blocking stdout/stderr writers; exit with its code.

    Whatever the coroutine queued is written before the process exits (even after a signal);
    errors raised out of it (a click error, or a library error for the CLI's error mapping)
    are reported once both writers are flushed, so they come last. ``out_overflow``: what
    stdout does past its bound (``wait``: back-pressure, ``drop``: a log that must not stall).
    """
    out = ThreadedWriter(sys.stdout, overflow=out_overflow)
    err = ThreadedWriter(sys.stderr, overflow="drop")
    handler = _LogToWriter(err)
    logger = logging.getLogger("streamproto")
    logger.addHandler(handler)
    try:
        code = asyncio.run(coro_fn(out, err))
    finally:
        logger.removeHandler(handler)
        out.close()
        err.close()
    if out.error is not None:
        raise click.ClickException(f"cannot write the output: {out.error.strerror}")
    sys.exit(code)


def _stop_on_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None],
                     *writers: ThreadedWriter) -> Callable[[], None]:
    """SIGINT, SIGTERM (and SIGHUP unless ignored, e.g. under nohup) call ``stop`` on the loop;
    returns the function that puts the previous handlers back.

    A plain ``signal.signal`` handler rather than ``loop.add_signal_handler``: it also runs while
    the loop is held in a writer's back-pressure wait (a stdout nobody reads, 64 MiB queued) and
    releases that wait, so a signal always stops the command. A second signal, once the handlers
    are back (while the output is flushed), has its default effect.
    """
    sigs = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        sigs.append(signal.SIGHUP)

    def on_signal(signum: int, frame: Any) -> None:
        for w in writers:
            w.release()
        try:
            loop.call_soon_threadsafe(stop)  # a deque append and a byte to the loop's self-pipe
        except RuntimeError:                # the loop is closed already
            pass

    old = {sig: signal.signal(sig, on_signal) for sig in sigs}

    def restore() -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return restore


def _open_input(path: str) -> int:
    """File descriptor of ``--post-jsonl PATH`` (``-``: stdin), checked before serving."""
    if path == "-":
        try:
            return sys.stdin.fileno()
        except (AttributeError, ValueError, OSError):
            raise click.BadParameter("stdin is not open", param_hint="'--post-jsonl'") from None
    fd = os.open(path, os.O_RDONLY)         # OSError (missing, permission): the error mapping
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise click.BadParameter(f"{path!r} is a directory", param_hint="'--post-jsonl'")
    return fd


# ------------------------------------------------------------------ serve

class _Feed:
    """Posts the ``--post-jsonl`` lines; a bad line is reported on stderr and skipped."""

    def __init__(self, ch: Channel, lines: LineFeed, printer: _Printer, err: ThreadedWriter,
                 name: str) -> None:
        self.ch, self.lines, self.printer, self.err, self.name = ch, lines, printer, err, name
        last = getattr(ch, "last_seq", -1)      # stream+ servers: continue the storage
        self.seq = last if isinstance(last, int) else -1
        self.lineno = 0

    def report(self, text: str) -> None:
        self.err.write(f"error: --post-jsonl {self.name} line {self.lineno}: {text}\n")

    async def run(self) -> None:
        while True:
            try:
                line = await self.lines.readline()
            except OSError as e:
                self.err.write(f"error: --post-jsonl {self.name}: read failed after line "
                               f"{self.lineno}: {e.strerror}; no more posts\n")
                return
            if line is None:
                return
            self.lineno += 1
            if line is TOO_LONG:
                self.report(f"longer than {self.lines.max_line} bytes, skipped")
                continue
            assert isinstance(line, bytes)
            if not line.strip():
                continue
            try:
                cmd = parse_post(line)
                if isinstance(cmd, Sleep):
                    await asyncio.sleep(cmd.seconds)
                elif isinstance(cmd, Rotate):
                    rotate = getattr(self.ch, "rotate", None)
                    if rotate is None:
                        raise PostLineError(f"{self.ch.url.proto} cannot rotate")
                    rotate()
                else:
                    self.post(cmd)
            except (PostLineError, StreamprotoError) as e:
                self.report(str(e))
            except Exception as e:              # a scheme error, or anything else: skip the line
                text = str(e)
                if type(e).__module__ == "builtins" or not text:
                    text = f"{type(e).__name__}: {text}" if text else type(e).__name__
                self.report(text)

    def post(self, cmd: Post) -> None:
        ch = self.ch
        if cmd.body is not None:
            body, msgid = cmd.body, cmd.msgid or 0
        else:
            if ch.scheme is None:
                raise PostLineError("'name' needs a channel with a scheme= parameter")
            msg = ch.scheme.message(cmd.name)
            body, msgid = msg.encode(cmd.data), msg.msgid
        seq = cmd.seq if cmd.seq is not None else self.seq + 1
        if seq > INT64[1]:
            raise PostLineError(f"no 'seq' given and the next seq {seq} is out of the int64 range")
        targets: Any = [cmd.addr] if cmd.addr is not None else getattr(ch, "connections", None)
        if targets is None:
            post: Any = ch.post
            stored = post(msgid, seq, body)
            if isinstance(stored, int):         # stream+ servers return the stored seq
                seq = stored
            self.printer.posted(msgid, seq, body)
        else:                                   # tcp server: every client (or addr)
            failed = []
            for a in list(targets):
                try:
                    ch.post(msgid, seq, body, addr=a)
                except StreamprotoError as e:
                    failed.append(str(e))
            if failed:
                self.report("; ".join(failed))
        self.seq = seq


async def _serve(init: Url, params: dict[str, str], post_fd: int | None, post_name: str,
                 fmt: str, out: ThreadedWriter, err: ThreadedWriter) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    printer: _Printer | None = None
    opened = False

    def on_event(ev: Any) -> None:
        printer(ev)  # type: ignore[misc]  # set before the channel can emit
        if opened and isinstance(ev, State) and ev.state in (ERROR, CLOSED):
            stop.set()                          # the server failed (or closed) by itself

    ch = create_channel(init, on_event=on_event)    # every init parameter is checked here
    _ = ch.scheme                                   # and a scheme= that does not load
    printer = _Printer(ch, fmt, out)
    feeder: asyncio.Task | None = None
    restore_signals = _stop_on_signals(loop, stop.set, out, err)
    try:
        await ch.open(params)
        opened = True
        addresses = getattr(ch, "addresses", None)
        if addresses:
            err.write(f"serving {init.proto} on {', '.join(addresses)}\n")
        if post_fd is not None:
            feed = _Feed(ch, LineFeed(post_fd, loop), printer, err, post_name)
            feeder = asyncio.create_task(feed.run())
        await stop.wait()
    finally:
        opened = False
        try:
            if feeder is not None:
                feeder.cancel()
                await asyncio.gather(feeder, return_exceptions=True)
            failed = ch.state == ERROR
            reason = ch.reason
            await ch.close()                    # sockets closed, socket files removed
        finally:
            restore_signals()
    if failed:
        raise click.ClickException(f"{init.proto} server failed: {reason}")
    return 0


# ------------------------------------------------------------------ subscribe

async def _subscribe(init: Url, params: dict[str, str], fmt: str, count: int | None,
                     timeout: float | None, out: ThreadedWriter, err: ThreadedWriter) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def reader_gone() -> None:                      # `| head` went away (writer thread)
        loop.call_soon_threadsafe(stop.set)
    out.on_broken = reader_gone
    ch = create_channel(init)                       # every init parameter is checked here
    _ = ch.scheme                                   # and a scheme= that does not load
    printer = _Printer(ch, fmt, out)
    restore_signals = _stop_on_signals(loop, stop.set, out, err)
    try:
        seen, ended = await _receive(ch, params, printer, stop, count, timeout)
    finally:
        try:
            failed = ch.state == ERROR
            reason = ch.reason
            await ch.close()
        finally:
            restore_signals()
    if out.broken or (stop.is_set() and ended is None):
        return 0                            # a signal, or the reader of stdout went away
    if failed:
        raise click.ClickException(f"channel ended in Error: {reason}")
    if count is not None and seen < count:
        why = f"timed out after {timeout:g} s" if ended == "timeout" else "channel closed"
        raise click.ClickException(f"{why}: got {seen} of {count} data messages")
    return 0


async def _receive(ch: Channel, params: dict[str, str], printer: _Printer, stop: asyncio.Event,
                   count: int | None, timeout: float | None) -> tuple[int, str | None]:
    """Open ``ch`` and print its events until ``count`` data messages, ``timeout``, Closed or
    Error, or ``stop``; returns (data messages seen, why it ended: None for ``stop``)."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    try:
        await ch.open(params)
    except StreamprotoError:
        for ev in ch.drain_events():        # the Opening/Error states, then the error
            printer(ev)
        raise
    seen = 0
    while not stop.is_set():
        left = None if deadline is None else deadline - loop.time()
        if left is not None and left <= 0:
            return seen, "timeout"
        try:
            first = await ch.next_event(min(left, 0.2) if left is not None else 0.2)
        except asyncio.TimeoutError:
            continue
        for ev in [first, *ch.drain_events()]:
            printer(ev)
            if isinstance(ev, Data):
                seen += 1
                if count is not None and seen >= count:
                    return seen, "count"
            elif isinstance(ev, State) and ev.state in (ERROR, CLOSED):
                return seen, ev.state
    return seen, None


# ------------------------------------------------------------------ click wiring

_url_arg = click.argument("url", required=False, metavar="URL")
_config_opts = [
    click.option("--config", "config", type=click.Path(exists=True, dir_okay=False),
                 help="TLL processor YAML file"),
    click.option("--object", "obj", metavar="NAME", help="object in processor.objects"),
    click.option("--open", "open_text", metavar="PARAMS",
                 help="open parameters, e.g. 'mode=seq;seq=20' (overrides the config's open)"),
    click.option("--format", "fmt", type=click.Choice(["log", "jsonl"]), default="log",
                 show_default=True),
]


def _with(opts: list[Any]) -> Any:
    def deco(f: Any) -> Any:
        for o in reversed(opts):
            f = o(f)
        return f
    return deco


def _seconds(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise click.BadParameter(f"{value} is not a number of seconds >= 0")
    return value


@click.command("serve")
@_url_arg
@_with(_config_opts)
@click.option("--post-jsonl", "post_jsonl", metavar="FILE|-",
              type=click.Path(exists=True, dir_okay=False, allow_dash=True),
              help='post JSON lines: {"msgid": 10, "seq": 40, "hex": "646464"}, '
                   '{"name": "Transaction", "data": {...}}, {"sleep": 0.5} or {"rotate": true}; '
                   'a bad line is reported on stderr (with its number) and skipped')
def serve(url: str | None, config: str | None, obj: str | None, open_text: str | None,
          fmt: str, post_jsonl: str | None) -> None:
    """Run a server channel (mode=server is implied) until SIGINT/SIGTERM/SIGHUP.

    Exit status: 0 when stopped by a signal, 1 when the server failed or could not start
    (invalid parameter, address in use), 2 for a usage error.
    """
    init, params = _channel_args(url, config, obj, open_text)
    if init.proto not in ("file", "rotate+file"):  # storage: 'mode' is the read mode there
        init.params.setdefault("mode", "server")
    post_fd = _open_input(post_jsonl) if post_jsonl else None
    name = "stdin" if post_jsonl == "-" else str(post_jsonl)
    _run(lambda out, err: _serve(init, params, post_fd, name, fmt, out, err), "drop")


@click.command("subscribe")
@_url_arg
@_with(_config_opts)
@click.option("--count", type=click.IntRange(min=1), help="stop after N data messages")
@click.option("--timeout", type=float, callback=_seconds, help="stop after S seconds")
def subscribe(url: str | None, config: str | None, obj: str | None, open_text: str | None,
              fmt: str, count: int | None, timeout: float | None) -> None:
    """Open a client channel and print its events.

    Exit status: 0 on success (--count reached, --timeout passed without --count, the channel
    closed, or a signal); 1 when the channel ended in Error or could not open, or when it
    ended (timeout, close) before --count data messages arrived (stderr says how many did);
    2 for a usage error.
    """
    init, params = _channel_args(url, config, obj, open_text)
    _run(lambda out, err: _subscribe(init, params, fmt, count, timeout, out, err), "wait")


def register(group: click.Group) -> None:
    """Add ``serve`` and ``subscribe`` to the `streamproto` group."""
    group.add_command(serve)
    group.add_command(subscribe)


__all__ = ["register", "serve", "subscribe", "STATE_IDS"]
