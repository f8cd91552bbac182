"""The `streamproto` click group; each subcommand family lives in its own module."""
from __future__ import annotations

import click

from streamproto.cli import cmd_export, cmd_schema, cmd_storage, cmd_net, cmd_run, demo
from streamproto.cli.errors import ErrorMappingGroup


@click.group(cls=ErrorMappingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="streamproto")
def main() -> None:
    """Speak TLL's data path: schemes, storage, tcp, pub+tcp and stream+; run processor configs."""


cmd_schema.register(main)
cmd_storage.register(main)
cmd_net.register(main)
cmd_run.register(main)
demo.register(main)
cmd_export.register(main)
