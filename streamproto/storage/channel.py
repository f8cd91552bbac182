"""``file://`` and ``rotate+file://`` as asyncio channels (registered in streamproto.registry).

Reading (default ``dir=r``)::

    ch = FileChannel("file://data.dat;autoclose=no")   # or create_channel(url)
    await ch.open({"seq": 20})                          # open params: seq, mode (seq|last|end)
    async for ev in ch: ...                             # Data ..., Control('Rotate') for sets

Events: State(Opening, Active), every stored message as ``Data`` (rotate sets also emit
``Control('Rotate', 150)`` between files), then, with ``autoclose=yes`` (default, as in TLL),
Closing/Closed at the end of the data; with ``autoclose=no`` the channel keeps following the
storage, polling every ``poll`` (default 50ms). Messages are emitted in batches of 1024 with a
loop yield between batches. Writing (``dir=w``): ``post(msgid, seq, body) -> seq`` stores one
message (``autoseq`` honoured); ``rotate()`` for sets (or ``post_control(150)``, TLL's ``Rotate``);
open parameter ``overwrite=yes`` starts the file afresh.
"""
from __future__ import annotations

import asyncio
from itertools import islice
from typing import Any, Mapping

from streamproto.channel import Channel
from streamproto.config import Url, duration_seconds, parse_bool, parse_int, parse_params
from streamproto.errors import ChannelError, ConfigError, StreamprotoError
from streamproto.events import ACTIVE, CLOSED, CLOSING, ERROR, OPENING
from streamproto.registry import register_protocol
from streamproto.storage.reader import FileReader
from streamproto.storage.rotate import RotateWriter
from streamproto.storage.openers import open_reader, open_writer, storage_options

__all__ = ["FileChannel"]

BATCH = 1024


class FileChannel(Channel):
    """Storage channel for ``file://PATH`` and ``rotate+file://DIR/PREFIX`` (see module doc)."""

    PREFIX = "file"
    PARAMS = {"autoclose": parse_bool, "poll": duration_seconds}

    def __init__(self, url: "Url | str | Mapping[str, Any]", **kw: Any) -> None:
        super().__init__(url, **kw)
        _, opts = storage_options(self.url)
        self.dir = opts["dir"]
        self.autoclose = self.param("autoclose", True, parse_bool)
        self.poll = self.param("poll", 0.05, duration_seconds)
        self.storage: Any = None
        self._stored_scheme: Any = None
        self._task: asyncio.Task | None = None

    @property
    def scheme(self) -> Any:
        """The ``scheme`` parameter's scheme, else the one stored in the file being read."""
        given = super().scheme
        return given if given is not None else self._stored_scheme

    @property
    def control_scheme(self) -> Any:
        """Readers: Seek, EndOfData, Rotate; a rotate+file writer: Rotate; a file writer: none."""
        if self.dir != "w":
            self.CONTROL_SCHEME = "storage-control.yaml"
        elif self.url.proto == "rotate+file":
            self.CONTROL_SCHEME = "rotate-control.yaml"
        return super().control_scheme

    @property
    def last_seq(self) -> int:
        s = self.storage.last_seq if self.storage is not None else None
        return -1 if s is None else s

    async def open(self, params: "str | Mapping[str, Any] | None" = None) -> None:
        """Open the reader (``seq``/``mode`` open params) or the writer (``dir=w``)."""
        self._check_can_open()
        p = parse_params(params)
        self._ended = False
        self._set_state(OPENING)
        try:
            kw: dict[str, Any] = {}
            if self.dir == "w":
                if p.get("overwrite") not in (None, ""):   # an open parameter, as in TLL
                    kw["overwrite"] = parse_bool(p["overwrite"], "overwrite")
                self.storage = open_writer(self.url, **kw)
            else:
                if p.get("seq") not in (None, ""):
                    kw["seq"] = parse_int(p["seq"], "seq")
                if p.get("mode") not in (None, ""):
                    if p["mode"] not in ("seq", "last", "end"):
                        raise ConfigError(f"{self.name}: open parameter 'mode': invalid value "
                                          f"{p['mode']!r} (expected seq, last or end)")
                    kw["mode"] = p["mode"]
                self.storage = open_reader(self.url, **kw)
        except StreamprotoError as e:
            self._set_state(ERROR, str(e))
            raise
        try:                                    # kept for decoding after an autoclose
            self._stored_scheme = getattr(self.storage, "scheme", None)   # rotate writers: none
        except StreamprotoError:
            self._stored_scheme = None
        self._set_state(ACTIVE)
        if self.dir != "w":
            self._task = asyncio.get_running_loop().create_task(self._run())
            self._task.add_done_callback(self._run_done)

    def _run_done(self, task: asyncio.Task) -> None:
        """An unexpected exception of the reading task fails the channel (not lost)."""
        if task.cancelled():
            return
        e = task.exception()
        if e is not None and self.state == ACTIVE:
            self._set_state(ERROR, f"internal error: {type(e).__name__}: {e}")

    async def _run(self) -> None:
        r = self.storage
        file = type(r) is FileReader
        emit = self._emit
        try:
            while self.state == ACTIVE:
                batch = r.read(BATCH) if file else list(islice(iter(r), BATCH))
                for ev in batch:
                    emit(ev)
                if len(batch) >= BATCH:
                    await asyncio.sleep(0)
                elif self.autoclose:
                    break
                else:
                    await asyncio.sleep(self.poll if not batch else 0)
        except StreamprotoError as e:
            self._set_state(ERROR, str(e))
            return
        if self.state == ACTIVE:
            await self._close(current=True)

    def post(self, msgid: int, seq: int, body: bytes = b"", *, addr: int | None = None) -> int:
        """Store one message (``dir=w``); returns its seq."""
        if self.dir != "w" or self.state != ACTIVE:
            raise ChannelError(f"{self.name}: post needs an open dir=w channel "
                               f"(state {self.state}, dir={self.dir})")
        return self.storage.post(msgid, seq, body)

    def rotate(self) -> str | None:
        """Start a new file of a rotate set (``dir=w``)."""
        if not isinstance(self.storage, RotateWriter):
            raise ChannelError(f"{self.name}: rotate needs a rotate+file:// writer")
        return self.storage.rotate()

    async def _close(self, current: bool = False) -> None:
        if self.state == CLOSED:
            return
        self._set_state(CLOSING)
        task, self._task = self._task, None
        if task is not None and not current:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self.storage is not None:
            self.storage.close()
            self.storage = None
        self._set_state(CLOSED)

    async def close(self) -> None:
        await self._close()


register_protocol("file", FileChannel)
register_protocol("rotate+file", FileChannel)
