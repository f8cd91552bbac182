"""The `streamproto` command line: thin click wrappers over tllschema and streamproto."""
from __future__ import annotations

import os
import sys


def _reopen_closed_std_streams() -> None:
    """A standard descriptor closed when the command started (``>&-``) gets /dev/null, so output
    has somewhere to go and input ends at once, instead of ``None`` streams failing later."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        if getattr(sys, name) is not None:
            continue
        try:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, open(fd, mode, closefd=False))   # noqa: SIM115
        except OSError:
            pass


def run() -> None:
    """Entry point of the `streamproto` command (and ``python -m streamproto``).

    The click group does the work (:data:`streamproto.cli.cli.main`); importing it takes a
    moment, and a Ctrl-C during that moment ends the command like one later does (``Aborted!``,
    exit code 1) instead of with a traceback from the middle of an import.
    """
    _reopen_closed_std_streams()
    try:
        from streamproto.cli.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("Aborted!\n")
        sys.exit(1)
    main()
