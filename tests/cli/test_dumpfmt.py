"""Reference text formats: the hex dump of bodies without a scheme."""
from streamproto.cli.dumpfmt import hexdump


def test_hexdump_lines_like_the_reference():
    out = hexdump(bytes(range(20)) + b"ok")
    assert out.splitlines() == [
        "  00000000:  00 01 02 03  04 05 06 07  08 09 0a 0b  0c 0d 0e 0f  ................",
        "  00000010:  10 11 12 13  6f 6b" + " " * 34 + "....ok",
    ]
    assert hexdump(b"") == ""
