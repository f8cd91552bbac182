"""`streamproto serve` and `streamproto subscribe`: run any channel from a URL or processor config.

Channels come from :func:`streamproto.registry.create_channel`, so every protocol registered
there (``tcp``, ``pub+tcp``, and whatever other modules add) works here unchanged.
"""
from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any, TextIO

import click

from streamproto.channel import Channel
from streamproto.config import Url, load_processor_object, load_url, parse_params
from streamproto.errors import StreamprotoError
from streamproto.events import CLOSED, ERROR, STATE_IDS, Control, Data, State
from streamproto.registry import create_channel
from streamproto.dump import message_text


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
        params = parse_params(open_text)
    return init, params


def _decode(ch: Channel, msgid: int, body: bytes) -> tuple[str | None, dict[str, Any] | None]:
    scheme = ch.scheme
    if scheme is None:
        return None, None
    import tllschema
    try:
        msg = scheme.message(msgid)
        return msg.name, tllschema.plain(msg.decode(body))
    except tllschema.SchemeError:
        return None, None


class _Printer:
    """Writes events as reference-style log lines or JSON lines."""

    def __init__(self, ch: Channel, fmt: str, out: TextIO) -> None:
        self.ch, self.fmt, self.out = ch, fmt, out
        self.online = False

    def __call__(self, ev: Any) -> None:
        if self.fmt == "jsonl":
            self.out.write(json.dumps(self._json(ev), default=str) + "\n")
        else:
            self.out.write(self._log(ev))
        self.out.flush()

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
            self.out.flush()

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
        _, line = message_text(text, "auto", control=False, msgid=msgid, seq=seq, body=body,
                               addr=addr, scheme=self.ch.scheme)
        return line if line.endswith("\n") else line + "\n"


def _post_line(ch: Channel, line: str, lineno: int, state: dict[str, int],
               printer: "_Printer | None" = None) -> float | None:
    """Post one JSON line; returns a sleep duration for ``{"sleep": S}``."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        raise click.ClickException(f"--post-jsonl line {lineno}: invalid JSON: {e}") from None
    if not isinstance(rec, dict):
        raise click.ClickException(f"--post-jsonl line {lineno}: expected a JSON object")
    if "sleep" in rec:
        return float(rec["sleep"])
    if rec.get("rotate"):                       # stream+ / rotate+file servers
        rotate = getattr(ch, "rotate", None)
        if rotate is None:
            raise click.ClickException(f"--post-jsonl line {lineno}: {ch.url.proto} cannot "
                                       "rotate")
        _report(lineno, rotate)
        return None
    seq = int(rec.get("seq", state["seq"] + 1))
    if "hex" in rec:
        body, msgid = bytes.fromhex(rec["hex"]), int(rec.get("msgid", 0))
    elif "name" in rec:
        if ch.scheme is None:
            raise click.ClickException(f"--post-jsonl line {lineno}: 'name' needs a channel "
                                       "with a scheme= parameter")
        import tllschema
        try:
            msg = ch.scheme.message(rec["name"])
            body, msgid = msg.encode(rec.get("data", {})), msg.msgid
        except tllschema.SchemeError as e:
            raise click.ClickException(f"--post-jsonl line {lineno}: {e}") from None
    else:
        raise click.ClickException(f"--post-jsonl line {lineno}: expected 'hex', 'name' or "
                                   "'sleep'")
    addr = rec.get("addr")
    targets = [addr] if addr is not None else getattr(ch, "connections", None)
    if targets is not None and not isinstance(targets, list):   # tcp server: every client
        targets = list(targets)
    ok = True
    if targets is None:
        stored = _report(lineno, ch.post, msgid, seq, body)
        if isinstance(stored, int):             # stream+ servers return the stored seq
            seq = stored
        ok = stored is not _FAILED
        if ok and printer is not None:
            printer.posted(msgid, seq, body)
    else:
        for a in targets:
            _report(lineno, ch.post, msgid, seq, body, addr=a)
    if ok:
        state["seq"] = seq
    return None


_FAILED = object()


def _report(lineno: int, fn: Any, *args: Any, **kw: Any) -> Any:
    """Run one post; a rejected post (bad seq, too large, storage failure) is reported on
    stderr and the server keeps running."""
    try:
        return fn(*args, **kw)
    except StreamprotoError as e:
        click.echo(f"error: --post-jsonl line {lineno}: {e}", err=True)
        return _FAILED


async def _serve(init: Url, params: dict[str, str], post_jsonl: str | None, fmt: str) -> int:
    printer: _Printer | None = None
    ch = create_channel(init, on_event=lambda ev: printer(ev))  # type: ignore[misc]
    printer = _Printer(ch, fmt, sys.stdout)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await ch.open(params)
    addresses = getattr(ch, "addresses", None)
    if addresses:
        click.echo(f"serving {init.proto} on {', '.join(addresses)}", err=True)

    async def feed() -> None:
        f = sys.stdin if post_jsonl == "-" else open(post_jsonl, encoding="utf-8")  # noqa: SIM115
        last = getattr(ch, "last_seq", -1)      # stream+ servers: continue the storage
        state = {"seq": last if isinstance(last, int) else -1}
        try:
            lineno = 0
            while not stop.is_set():
                line = await loop.run_in_executor(None, f.readline)
                if not line:
                    return
                lineno += 1
                if line.strip():
                    pause = _post_line(ch, line, lineno, state, printer)
                    if pause:
                        await asyncio.sleep(pause)
        finally:
            if f is not sys.stdin:
                f.close()

    feeder = asyncio.create_task(feed()) if post_jsonl else None
    waiter = asyncio.create_task(stop.wait())
    tasks = {waiter} | ({feeder} if feeder else set())
    while not stop.is_set():
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if feeder in done:
            feeder.result()                  # raise errors from the input
            tasks.discard(feeder)
            feeder = None
        if ch.state in (ERROR, CLOSED):
            break
    waiter.cancel()
    failed = ch.state == ERROR
    await ch.close()
    return 1 if failed else 0


async def _subscribe(init: Url, params: dict[str, str], fmt: str, count: int | None,
                     timeout: float | None) -> int:
    ch = create_channel(init)
    printer = _Printer(ch, fmt, sys.stdout)
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    seen = 0
    try:
        await ch.open(params)
    except StreamprotoError as e:
        for ev in ch.drain_events():        # the Opening/Error states, then fail
            printer(ev)
        click.echo(f"error: {e}", err=True)
        return 1
    while not stop.is_set():
        left = None if deadline is None else deadline - loop.time()
        if left is not None and left <= 0:
            break
        try:
            ev = await ch.next_event(min(left, 0.2) if left is not None else 0.2)
        except asyncio.TimeoutError:
            continue
        printer(ev)
        if isinstance(ev, Data):
            seen += 1
            if count is not None and seen >= count:
                break
        if isinstance(ev, State) and ev.state in (ERROR, CLOSED):
            break
    failed = ch.state == ERROR
    await ch.close()
    return 1 if failed else 0


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


@click.command("serve")
@_url_arg
@_with(_config_opts)
@click.option("--post-jsonl", "post_jsonl", metavar="FILE|-",
              help='post JSON lines: {"msgid": 10, "seq": 40, "hex": "646464"}, '
                   '{"name": "Transaction", "data": {...}} or {"sleep": 0.5}')
def serve(url: str | None, config: str | None, obj: str | None, open_text: str | None,
          fmt: str, post_jsonl: str | None) -> None:
    """Run a server channel (mode=server is implied) until SIGINT/SIGTERM."""
    init, params = _channel_args(url, config, obj, open_text)
    init.params.setdefault("mode", "server")
    try:
        code = asyncio.run(_serve(init, params, post_jsonl, fmt))
    except StreamprotoError as e:
        raise click.ClickException(str(e)) from None
    sys.exit(code)


@click.command("subscribe")
@_url_arg
@_with(_config_opts)
@click.option("--count", type=int, help="stop after N data messages")
@click.option("--timeout", type=float, help="stop after S seconds")
def subscribe(url: str | None, config: str | None, obj: str | None, open_text: str | None,
              fmt: str, count: int | None, timeout: float | None) -> None:
    """Open a client channel and print its events; exit code 1 if it ended in Error."""
    init, params = _channel_args(url, config, obj, open_text)
    try:
        code = asyncio.run(_subscribe(init, params, fmt, count, timeout))
    except StreamprotoError as e:
        raise click.ClickException(str(e)) from None
    sys.exit(code)


def register(group: click.Group) -> None:
    """Add ``serve`` and ``subscribe`` to the `streamproto` group."""
    group.add_command(serve)
    group.add_command(subscribe)


__all__ = ["register", "serve", "subscribe", "STATE_IDS"]
