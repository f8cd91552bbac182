"""`streamproto schema check|encode|decode|dump|compile`: schemes from the command line."""
from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

import tllschema
from tllschema import yamlload
from streamproto.cli.dumpfmt import format_yaml_body


class SchemeParam(click.ParamType):
    """A scheme path or URL, loaded into a tllschema.Scheme."""

    name = "SCHEME"

    def convert(self, value: Any, param: Any, ctx: Any) -> tllschema.Scheme:
        if isinstance(value, tllschema.Scheme):
            return value
        try:
            return tllschema.load(value)
        except tllschema.SchemeError as e:
            self.fail(f"cannot load scheme {value[:80]!r}: {e}", param, ctx)


def _message(scheme: tllschema.Scheme, name: str) -> tllschema.Message:
    try:
        return scheme.message(int(name) if name.lstrip("-").isdigit() else name)
    except tllschema.SchemeError as e:
        raise click.ClickException(str(e)) from None


def _read_value(text: str) -> Any:
    if text == "-":
        text = sys.stdin.read()
    try:
        value = yamlload.load(text)  # YAML is a superset of JSON; !!binary gives bytes, timestamps stay text
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise click.ClickException(f"VALUE is not valid YAML or JSON: {where}{what}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise click.ClickException(f"VALUE must be a mapping of field names, got {type(value).__name__}")
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


@click.group("schema")
def schema() -> None:
    """Check, encode, decode, dump and compile TLL YAML schemes."""


@schema.command("check")
@click.argument("scheme", type=SchemeParam())
def check(scheme: tllschema.Scheme) -> None:
    """Load SCHEME and print its messages: name, msgid, fixed size."""
    rows = [(m.name, str(m.msgid), str(m.size)) for m in scheme.messages]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(("name", "msgid", "size"))]
    click.echo(f"{'name':<{widths[0]}}  {'msgid':>{widths[1]}}  {'size':>{widths[2]}}")
    for name, msgid, size in rows:
        click.echo(f"{name:<{widths[0]}}  {msgid:>{widths[1]}}  {size:>{widths[2]}}")


@schema.command("encode")
@click.argument("scheme", type=SchemeParam())
@click.argument("message")
@click.argument("value")
def encode(scheme: tllschema.Scheme, message: str, value: str) -> None:
    """Encode VALUE (YAML or JSON mapping, or - for stdin) as MESSAGE; print hex."""
    msg = _message(scheme, message)
    try:
        click.echo(msg.encode(_read_value(value)).hex())
    except tllschema.SchemeError as e:
        raise click.ClickException(str(e)) from None


@schema.command("decode")
@click.argument("scheme", type=SchemeParam())
@click.argument("message")
@click.argument("hexdata", metavar="HEX")
@click.option("--raw", is_flag=True, help="Golden `fields` conventions: raw time counts, decimals as strings.")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def decode(scheme: tllschema.Scheme, message: str, hexdata: str, raw: bool, fmt: str) -> None:
    """Decode HEX as MESSAGE and print its fields."""
    msg = _message(scheme, message)
    if hexdata == "-":
        hexdata = sys.stdin.read()
    try:
        body = bytes.fromhex(hexdata.strip())
    except ValueError as e:
        raise click.ClickException(f"HEX is not valid hex: {e}") from None
    try:
        value = tllschema.plain(msg.decode(body), raw=raw)
    except tllschema.SchemeError as e:
        raise click.ClickException(str(e)) from None
    if fmt == "json":
        click.echo(json.dumps(value, default=_json_default, ensure_ascii=False))
    elif raw:
        click.echo(yaml.safe_dump(value, sort_keys=False, allow_unicode=True), nl=False)
    else:
        click.echo(format_yaml_body(value), nl=False)


@schema.command("dump")
@click.argument("scheme", type=SchemeParam())
@click.option("--format", "fmt", type=click.Choice(["yamls", "yamls+gz"]), default="yamls", show_default=True)
def dump(scheme: tllschema.Scheme, fmt: str) -> None:
    """Print SCHEME serialised as the reference does (what storage files embed)."""
    click.echo(scheme.dump(fmt))


@schema.command("compile")
@click.argument("scheme", type=SchemeParam())
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Python module to write.")
def compile_(scheme: tllschema.Scheme, output: Path) -> None:
    """Write an importable Python module with one fast codec class per message."""
    try:
        output.write_text(scheme.source())
    except OSError as e:
        raise click.ClickException(f"cannot write {output}: {e.strerror}") from None
    click.echo(f"wrote {output}: {len(scheme.messages)} messages", err=True)


def register(group: click.Group) -> None:
    """Add `schema` to the `streamproto` group."""
    group.add_command(schema)
