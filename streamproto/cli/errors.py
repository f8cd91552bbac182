"""The one place where exceptions become command-line errors.

Every `streamproto` subcommand runs inside :class:`ErrorMappingGroup`, which turns the
package's exception roots (:class:`streamproto.errors.StreamprotoError`,
:class:`tllschema.SchemeError`) and :class:`OSError` (missing file, directory instead of a
file, permission, full disk) into a one-line ``Error: ...`` on stderr with exit code 1, so no
command needs its own ``try``/``except`` for them. A closed stdout (``streamproto read ... |
head``) ends the command quietly with exit code 0. Usage mistakes stay click's (exit code 2).
"""
from __future__ import annotations

import errno
import os
import sys
from typing import Any

import click

from streamproto.errors import StreamprotoError

__all__ = ["ErrorMappingGroup", "one_line", "describe_os_error", "quiet_broken_pipe"]


def one_line(text: str) -> str:
    """``text`` as a single line (multi-line library messages joined with '; ')."""
    parts = [p.strip() for p in str(text).splitlines() if p.strip()]
    return "; ".join(parts) if parts else str(text)


def describe_os_error(e: OSError) -> str:
    """``PATH: reason`` of an OSError (what Python's str() gives, minus the errno noise)."""
    what = e.strerror or str(e) or type(e).__name__
    if e.filename is not None:
        return f"{os.fsdecode(e.filename)}: {what}"
    return what


def quiet_broken_pipe() -> None:
    """The reader of stdout went away: drop whatever is still buffered, without a message."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _scheme_error() -> type[BaseException]:
    try:
        from tllschema import SchemeError
    except ImportError:             # pragma: no cover - tllschema ships with streamproto
        return StreamprotoError
    return SchemeError


class ErrorMappingGroup(click.Group):
    """A click group whose subcommands report library and OS errors as one short line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as e:     # ours or click's: one line as well
            e.message = one_line(e.message)  # type: ignore[misc]  # Final to the stubs
            raise
        except BrokenPipeError:
            quiet_broken_pipe()
            ctx.exit(0)
        except OSError as e:
            if e.errno == errno.EPIPE:
                quiet_broken_pipe()
                ctx.exit(0)
            raise click.ClickException(one_line(describe_os_error(e))) from None
        except (StreamprotoError, _scheme_error()) as e:
            raise click.ClickException(one_line(str(e))) from None
