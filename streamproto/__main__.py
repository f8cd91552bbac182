"""`python -m streamproto` runs the `streamproto` command."""
from streamproto.cli.cli import main

main()
