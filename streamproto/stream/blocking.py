"""Blocking facade for scripts: iterate a channel's events without writing asyncio code.

::

    from streamproto.stream.blocking import subscribe
    for ev in subscribe(url, {"mode": "seq", "seq": 0}, timeout=10, count=100):
        print(ev)                       # State / StreamData / Control, as the asyncio API

The channel (any client URL :mod:`streamproto.registry` knows: ``stream+pub+tcp``, ``pub+tcp``,
``tcp``, ``file``, ``rotate+file``) runs on an asyncio loop in a background thread. Iteration
ends after the channel reports Closed or Error (that State is yielded), after ``count`` data
messages, or ``timeout`` seconds after the start; leaving the loop early (``break``) closes the
channel. A channel that cannot connect yields Opening and Error (with the reason) and ends;
a configuration error (bad URL or open parameters) is raised from the iteration.
"""
from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Any, Iterator, Mapping

from streamproto.events import CLOSED, ERROR, Data, Event, State

__all__ = ["subscribe"]

_DONE = object()


def subscribe(url: Any, params: "str | Mapping[str, Any] | None" = None, *,
              timeout: float | None = None, count: int | None = None,
              name: str | None = None) -> Iterator[Event]:
    """Events of a client channel opened with ``params`` (see module docstring)."""
    from streamproto.registry import create_channel

    q: "queue.Queue[Any]" = queue.Queue()
    started = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        box["stop"] = lambda: loop.call_soon_threadsafe(stop.set)
        started.set()
        ch = create_channel(url, on_event=q.put, name=name)
        try:
            await ch.open(params)
            await stop.wait()
        except Exception as e:          # reported to the iterating thread
            q.put((_DONE, e))
            return
        finally:
            try:
                await ch.close()
            except Exception:           # pragma: no cover - best effort on the way out
                pass
        q.put((_DONE, None))

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True,
                              name="streamproto-subscribe")
    thread.start()
    started.wait(10)
    deadline = None if timeout is None else time.monotonic() + timeout
    seen = 0
    try:
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            try:
                item = q.get(timeout=left)
            except queue.Empty:
                return
            if type(item) is tuple and item and item[0] is _DONE:
                if item[1] is not None:
                    raise item[1]
                return
            yield item
            if isinstance(item, Data):
                seen += 1
                if count is not None and seen >= count:
                    return
            elif isinstance(item, State) and item.state in (CLOSED, ERROR):
                return
    finally:
        stop = box.get("stop")
        if stop is not None:
            try:
                stop()
            except RuntimeError:        # loop already gone
                pass
        thread.join(5)
