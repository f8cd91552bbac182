"""`python -m streamproto` runs the `streamproto` command."""
from tools.cli import main

main()
