"""The `streamproto` command line: thin click wrappers over tllschema and streamproto."""
from __future__ import annotations

import sys


def run() -> None:
    """Entry point of the `streamproto` command (and ``python -m streamproto``).

    The click group does the work (:data:`streamproto.cli.cli.main`); importing it takes a
    moment, and a Ctrl-C during that moment ends the command like one later does (``Aborted!``,
    exit code 1) instead of with a traceback from the middle of an import.
    """
    try:
        from streamproto.cli.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("Aborted!\n")
        sys.exit(1)
    main()
