"""Shared shape of storage readers and writers: context management and polling follow."""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterable, Iterator

from streamproto.events import END_OF_DATA, Control, Data


class Closeable:
    """`with` support and a best-effort close when garbage collected; subclasses define close()."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception as e:   # nobody to raise to: say it (a writer's last batch, ...)
            logging.getLogger("streamproto.storage").error("closing when collected: %s", e)


class MetaView:
    """Properties read from the file's metadata record (`self.meta`, a FileMeta)."""

    meta: Any

    @property
    def block(self) -> int:
        return self.meta.block

    @property
    def version(self) -> int:
        return self.meta.version

    @property
    def compression(self) -> str:
        return self.meta.compression_name

    @property
    def scheme_url(self) -> str:
        """The scheme string stored in the file ("" if none)."""
        return self.meta.scheme


def follow(batches: Callable[[], Iterable[Data | Control]], at_end: Callable[[], bool], poll: float,
           timeout: float | None, stop: Callable[[], bool] | None,
           end_of_data: str | None) -> Iterator[Data | Control]:
    """Poll `batches()` for appended messages every `poll` seconds (see FileReader.follow)."""
    idle_since = time.monotonic()
    eod_sent = False
    while True:
        got = False
        for m in batches():
            got = True
            yield m
        now = time.monotonic()
        if got:
            idle_since = now
        if end_of_data and at_end() and (not eod_sent or (end_of_data == "many" and got)):
            eod_sent = True
            yield Control("EndOfData", END_OF_DATA, 0)
        if stop is not None and stop():
            return
        if timeout is not None and now - idle_since >= timeout:
            return
        time.sleep(poll)
