"""The processor's asyncio edge: creates the objects, runs the graph, owns every lifetime.

:class:`Processor` takes a checked :class:`~streamproto.processor.spec.ProcessorSpec` and, in
:meth:`Processor.run`:

1. mounts the read-only ``/sys`` tree (one node per object: ``state``, ``init``, ``open``,
   ``info``) under the config root, so ``!link /sys/...`` values resolve;
2. creates every object's channel in init order (the objects a logic lists in ``channels``
   first) through :func:`streamproto.registry.create_channel` — a ``python://`` logic finds the
   others in the :class:`~streamproto.logic.Context`;
3. opens them in dependency order and keeps them running: state changes go to the sans-I/O
   :class:`~streamproto.processor.graph.Graph`, which says what to open, close and when; each
   object's events also go to the logic objects that listed it;
4. on SIGINT/SIGTERM (or :meth:`Processor.stop`, or ``shutdown-on``) closes everything,
   dependents first, and returns the exit code.

No protocol logic lives here: channels are channels, the graph is the graph.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from collections import deque
from typing import Any

from streamproto.channel import Channel
from streamproto.errors import ConfigError, StreamprotoError
from streamproto.events import CLOSED, ERROR, OPENING, State
from streamproto.logic.context import Context, current
from streamproto.processor.config import Config, LinkError
from streamproto.processor.graph import Graph, Node
from streamproto.processor.reopen import Reopen
from streamproto.processor.spec import (ObjectSpec, ProcessorSpec, channel_url, materialize,
                                        read_object_params, url_of)
from streamproto.registry import create_channel, protocols

__all__ = ["Processor", "FatalError"]

log = logging.getLogger("tll.processor")
worker_log = logging.getLogger("tll.processor.worker.default")   # the reference's worker logger


class FatalError(ConfigError):
    """An object cannot run as configured (its open failed on a config mistake)."""


class _Object:
    """One running object: spec, channel, graph node, the task doing its open or close."""

    __slots__ = ("spec", "channel", "node", "handle", "op", "last_state")

    def __init__(self, spec: ObjectSpec, channel: Channel, node: Node, handle: Any) -> None:
        self.spec, self.channel, self.node, self.handle = spec, channel, node, handle
        self.op: asyncio.Task[None] | None = None
        self.last_state = CLOSED


class Processor:
    """Runs a processor config (see module doc)."""

    def __init__(self, spec: ProcessorSpec) -> None:
        self.spec = spec
        self.context = Context()
        self.objects: dict[str, _Object] = {}
        self.graph: Graph | None = None
        self.fatal: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._updates: deque[tuple[_Object, str]] = deque()
        self._draining = False
        self._timer: asyncio.TimerHandle | None = None
        self._done: asyncio.Event | None = None

    # --- setup --------------------------------------------------------------------------------
    def _mount_sys(self) -> None:
        root = self.spec.root
        sys_node = self.context.sys
        sys_node.readonly = True
        sys_node._parent, sys_node._key = root, "sys"     # noqa: SLF001
        root._kids["sys"] = sys_node                       # noqa: SLF001

    def _unmount_sys(self) -> None:
        self.spec.root._kids.pop("sys", None)              # noqa: SLF001

    def create(self) -> None:
        """Create every object's channel (init order); ConfigError naming the object and key."""
        self._mount_sys()
        token = current.set(self.context)
        try:
            known = set(protocols())
            nodes = []
            for name in self.spec.init_order:
                spec = self.spec.objects[name]
                if spec.deprecated_url:
                    log.warning("object %s: 'url' subtree is deprecated, rename to 'init'", name)
                url = channel_url(spec, self.spec, known)
                params = read_object_params(spec, self.spec.defaults,
                                            url_of(spec.init, f"{spec.where}.init"))
                holder: list[_Object] = []

                def on_event(ev: Any, h: list[_Object] = holder) -> None:
                    self._on_event(h[0], ev)
                try:
                    channel = create_channel(url, name=name, on_event=on_event)
                except ConfigError as e:
                    raise ConfigError(f"{spec.where}.init: {e}") from None
                init_cfg = Config()
                for k, v in url.params.items():
                    init_cfg.set(k, v)
                init_cfg.set("tll.proto", url.proto)
                init_cfg.set("tll.host", url.host)
                handle = self.context.add(channel, init_cfg)
                node = Node(name, Reopen(params.reopen_min, params.reopen_max,
                                         params.open_timeout, params.close_timeout,
                                         params.active_min), params.shutdown, params.verbose)
                obj = _Object(spec, channel, node, handle)
                holder.append(obj)
                self.objects[name] = obj
                nodes.append(node)
                log.debug("Object %s: %s", name, url)
        finally:
            current.reset(token)
        self.graph = Graph(nodes, self, clock=self._clock)
        for obj in self.objects.values():
            self.graph.link(obj.spec.name, obj.spec.depends)

    def _clock(self) -> float:
        return self._loop.time() if self._loop is not None else 0.0

    # --- running ------------------------------------------------------------------------------
    async def run(self, *, signals: bool = True) -> int:
        """Open everything, run until stopped, close everything; the exit code (0 when stopped
        by a signal or :meth:`stop`, 1 after ``shutdown-on`` saw an error)."""
        self._loop = asyncio.get_running_loop()
        self._done = asyncio.Event()
        if self.graph is None:
            self.create()
        assert self.graph is not None
        installed = []
        if signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    self._loop.add_signal_handler(sig, self._signal)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError):   # not the main thread
                    pass
        token = current.set(self.context)
        try:
            self.graph.start(self._clock())
            await self._done.wait()
            for obj in self.objects.values():     # let the last closes finish
                if obj.op is not None and not obj.op.done():
                    await asyncio.wait([obj.op], timeout=5)
        finally:
            current.reset(token)
            for sig in installed:
                self._loop.remove_signal_handler(sig)
            if self._timer is not None:
                self._timer.cancel()
            self._free()
            self._unmount_sys()
        if self.fatal is not None:
            raise FatalError(self.fatal)
        return self.graph.exit_code

    def _signal(self) -> None:
        log.info("Termination signal received, closing")
        self.stop()

    def stop(self) -> None:
        """Close every object (dependents first) and end :meth:`run`."""
        if self.graph is not None:
            self.graph.close(self._clock())

    def _free(self) -> None:
        for obj in reversed(list(self.objects.values())):
            free = getattr(obj.channel, "free", None)
            if free is None:                          # what TLL's channels log when freed
                obj.channel.log.info("Destroy channel")
                continue
            try:
                free()
            except Exception:   # noqa: BLE001 - user code at exit: logged, not fatal
                log.exception("Failed to free object %s", obj.spec.name)

    # --- events from the channels --------------------------------------------------------------
    def _on_event(self, obj: _Object, ev: Any) -> None:
        if type(ev) is State:
            if ev.state != obj.last_state:
                obj.last_state = ev.state
                self._updates.append((obj, ev.state))
                if not self._draining and self._loop is not None:
                    self._draining = True
                    self._loop.call_soon(self._drain)
        obj.handle.deliver(ev)

    def _drain(self) -> None:
        assert self.graph is not None
        try:
            while self._updates:
                obj, state = self._updates.popleft()
                self.graph.update(obj.node, state, self._clock())
        except Exception:   # noqa: BLE001 - a bug here must not hang the process
            log.exception("Processor state machine failed; stopping")
            self._updates.clear()
            self.fatal = self.fatal or "internal error in the processor (see the log)"
            if self._done is not None:
                self._done.set()
        finally:
            self._draining = False

    # --- Actions (called by the graph) ------------------------------------------------------
    def activate(self, node: Node) -> None:
        obj = self.objects[node.name]
        self._chain(obj, self._open(obj), opening=True)

    def deactivate(self, node: Node, force: bool) -> None:
        obj = self.objects[node.name]
        prev = obj.op
        if prev is not None and not prev.done() and getattr(prev, "_opening", False):
            prev.cancel()                         # an open still in progress: stop it
        self._chain(obj, self._close(obj), opening=False)

    def rearm(self, when: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if when is not None and self._loop is not None and self.graph is not None:
            graph = self.graph
            self._timer = self._loop.call_at(when, lambda: graph.on_timer(self._clock()))

    def finished(self) -> None:
        if self._done is not None:
            self._done.set()

    def _chain(self, obj: _Object, coro: Any, opening: bool) -> None:
        """Run ``coro`` (the object's open or close) after the object's previous operation."""
        prev = obj.op

        async def step() -> None:
            if prev is not None and not prev.done():
                try:
                    await prev
                except (asyncio.CancelledError, Exception):   # noqa: BLE001 - reported there
                    pass
            await coro

        assert self._loop is not None
        task = self._loop.create_task(step())
        task._opening = opening                  # type: ignore[attr-defined]  # read by deactivate
        obj.op = task

    async def _open(self, obj: _Object) -> None:
        name = obj.spec.name
        worker_log.info("Activate object %s", name)
        try:
            params = self._open_params(obj)
        except ConfigError as e:
            log.error("%s", e)
            self._failed(obj)
            return
        from streamproto.channels.python import PythonChannel   # (imports the processor)
        if not isinstance(obj.channel, PythonChannel):     # Python channels log it themselves
            obj.channel.log.info("Open channel: %s", ";".join(f"{k}={v}" for k, v in params.items()))
        try:
            await obj.channel.open(params)
        except asyncio.CancelledError:
            raise
        except ConfigError as e:
            self._fatal(obj, f"{obj.spec.where}: {e}")
        except StreamprotoError as e:
            obj.channel.log.error("Open failed: %s", e)
            self._failed(obj)
        except Exception as e:   # noqa: BLE001 - a channel bug: report it, keep running
            obj.channel.log.exception("Open failed: %s", e)
            self._failed(obj)

    def _open_params(self, obj: _Object) -> dict[str, str]:
        node = obj.spec.open_node
        cfg = self.context.object_config(obj.spec.name)
        if node is None:
            cfg.set("open", Config())
            return {}
        where = f"{obj.spec.where}.open"
        try:
            m = materialize(node, where)
        except LinkError as e:
            raise ConfigError(f"{where}: {e}") from None
        if m.value() not in (None, "") and not m.keys():
            raise ConfigError(f"{where}: open parameters must be a mapping, got {m.value()!r}")
        cfg.set("open", m)
        return m.flat()

    def _failed(self, obj: _Object) -> None:
        """An open that failed without the channel saying so: report Opening, Error."""
        if obj.channel.state == ERROR or obj.last_state == ERROR:
            return
        if obj.last_state != OPENING:
            self._on_event(obj, State(OPENING))
        self._on_event(obj, State(ERROR))

    def _fatal(self, obj: _Object, text: str) -> None:
        self.fatal = self.fatal or text          # reported once, by whoever called run()
        self._failed(obj)
        if self.graph is not None:
            self.graph.exit(1, None)

    async def _close(self, obj: _Object) -> None:
        worker_log.info("Deactivate object %s", obj.spec.name)
        try:
            await asyncio.wait_for(obj.channel.close(), obj.node.reopen.timeout_close)
        except asyncio.TimeoutError:
            obj.channel.log.error("Close did not finish in %gs; treated as closed",
                                  obj.node.reopen.timeout_close)
        except Exception as e:   # noqa: BLE001 - reported; the object is treated as closed
            obj.channel.log.error("Close failed: %s", e)
        if obj.last_state != CLOSED:               # a channel that skipped its Closed
            self._on_event(obj, State(CLOSED))
