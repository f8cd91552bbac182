"""Parser for the golden ``wire/*.log`` captures and std-frame helpers (test support only).

Format (golden README): header comments, then one line per socket read
``PUB|REQ connN C>S|S>C HEX`` or ``PUB|REQ connN OPEN`` / ``... C>S|S>C EOF``, then the events the
reference client reported, as comments: ``# STATE msgid=N seq=N size=N addr=N data=HEX``,
``# DATA ...``, ``# CTRL ...``, ``# OPEN r=0``, ``# CLOSED``.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import GOLDEN

WIRE = GOLDEN / "wire"
WIRE_LOGS = sorted(WIRE.glob("*.log"))

_FRAME = struct.Struct("<Iiq")
_EVENT_RE = re.compile(r"^# (STATE|DATA|CTRL) msgid=(-?\d+) seq=(-?\d+) size=(\d+) addr=(-?\d+) "
                       r"data=([0-9a-f]*)$")


@dataclass
class WireLine:
    tag: str            # PUB | REQ
    conn: str           # conn1 ...
    direction: str      # C>S | S>C | "" for OPEN
    kind: str           # OPEN | EOF | DATA
    data: bytes = b""


@dataclass
class EventLine:
    kind: str           # STATE | DATA | CTRL
    msgid: int
    seq: int
    data: bytes


@dataclass
class WireLog:
    path: Path
    protocol: str = "new"
    peer: str = ""
    open_params: dict = field(default_factory=dict)
    wire: list[WireLine] = field(default_factory=list)
    events: list[EventLine] = field(default_factory=list)

    def stream(self, tag: str, direction: str) -> bytes:
        """All bytes sent on ``tag`` in ``direction``, concatenated."""
        return b"".join(w.data for w in self.wire
                        if w.tag == tag and w.direction == direction and w.kind == "DATA")


def parse(path: Path) -> WireLog:
    log = WireLog(Path(path))
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.startswith("# client:"):
            m = re.match(r"# client: (.*) open: (.*)$", line)
            assert m, f"{path}:{lineno}: bad client header"
            for kv in m.group(1).split():
                k, v = kv.split("=", 1)
                if k == "stream.protocol":
                    log.protocol = v
                elif k == "peer":
                    log.peer = v
            log.open_params = dict(kv.split("=", 1) for kv in m.group(2).split(";"))
        elif line.startswith("# "):
            m = _EVENT_RE.match(line)
            if m:
                log.events.append(EventLine(m.group(1), int(m.group(2)), int(m.group(3)),
                                            bytes.fromhex(m.group(6))))
        elif line.strip():
            parts = line.split()
            if parts[2] == "OPEN":
                log.wire.append(WireLine(parts[0], parts[1], "", "OPEN"))
            elif parts[3] == "EOF":
                log.wire.append(WireLine(parts[0], parts[1], parts[2], "EOF"))
            else:
                log.wire.append(WireLine(parts[0], parts[1], parts[2], "DATA",
                                         bytes.fromhex(parts[3])))
    return log


def frame(msgid: int, seq: int, body: bytes) -> bytes:
    """One std frame."""
    return _FRAME.pack(len(body), msgid, seq) + bytes(body)


class FrameSplitter:
    """Accumulates bytes, yields complete std frames ``(msgid, seq, body)``."""

    def __init__(self):
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= 16:
            size, msgid, seq = _FRAME.unpack_from(self.buf)
            if len(self.buf) < 16 + size:
                break
            out.append((msgid, seq, self.buf[16:16 + size]))
            self.buf = self.buf[16 + size:]
        return out


def split(data: bytes) -> list[tuple[int, int, bytes]]:
    s = FrameSplitter()
    out = s.feed(data)
    assert not s.buf, f"{len(s.buf)} trailing bytes"
    return out
