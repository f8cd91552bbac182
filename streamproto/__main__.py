"""`python -m streamproto` runs the `streamproto` command."""
from streamproto.cli import run

run()
