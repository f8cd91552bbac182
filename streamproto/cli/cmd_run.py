"""`streamproto run CONFIG [-D KEY=VALUE]...`: run a TLL processor config, as tll-pyprocessor."""
from __future__ import annotations

import asyncio
import sys

import click

from streamproto.errors import StreamprotoError


@click.command("run", context_settings={"ignore_unknown_options": False})
@click.argument("config", metavar="CONFIG")
@click.option("-D", "defines", multiple=True, metavar="KEY=VALUE",
              help="Set a config key (dotted path), e.g. "
                   "-D processor.objects.input-channel.open.mode=seq; repeatable.")
def run(config: str, defines: tuple[str, ...]) -> None:
    """Run the objects of a TLL processor config until SIGINT/SIGTERM.

    Channels, dependencies, reopen with back-off, shutdown-on and Python logic
    (python://;python=MODULE:Class, whose `import tll...` resolves to streamproto's API)
    work as in TLL's tll-pyprocessor. Logs go to stderr in TLL's format.
    """
    from streamproto.processor import Processor, load_spec
    from streamproto.processor.logsetup import configure
    from streamproto.tllfacade import installed
    try:
        configure(None)              # the reference's log format from the start (config warnings)
        spec = load_spec(config, defines)
        configure(spec.root.sub("logger", throw=False))
        with installed():
            code = asyncio.run(Processor(spec).run())
    except StreamprotoError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(0)
    sys.exit(code)


def register(group: click.Group) -> None:
    """Add `run` to the `streamproto` group."""
    group.add_command(run)
