"""The processor's object graph as a state machine, sans I/O (the reference's ``Processor``/``Object``).

:class:`Graph` is fed each object's state changes (:meth:`Graph.update`), the reopen timer
(:meth:`Graph.on_timer`) and the start/stop requests (:meth:`Graph.start`, :meth:`Graph.close`),
and answers through the :class:`Actions` it was given: open an object, close one, rearm the timer,
stop the process. The rules, as in ``src/processor/processor.cc`` and ``deps.h``:

* an object opens once every object it ``depends`` on is Active (roots first);
* when an object fails it is closed; when one closes, the objects depending on it are closed
  first ("decay"), and once that subtree is closed it is reopened — at once, or after the
  back-off of :mod:`streamproto.processor.reopen` — and its dependents after it;
* ``shutdown-on: close`` stops the processor when the object closes (exit code 0) or fails (1);
  ``shutdown-on: error`` when it fails (1);
* stopping closes every object, dependents before what they depend on, then finishes.
"""
from __future__ import annotations

import bisect
import logging
import time
from typing import Callable, Protocol

from streamproto.events import ACTIVE, CLOSED, CLOSING, ERROR, OPENING
from streamproto.processor.reopen import Action, Reopen

__all__ = ["Graph", "Node", "Actions"]

log = logging.getLogger("tll.processor")


class Actions(Protocol):
    """What the graph asks its runner to do (each call must return at once)."""

    def activate(self, node: "Node") -> None: ...
    def deactivate(self, node: "Node", force: bool) -> None: ...
    def rearm(self, when: float | None) -> None: ...
    def finished(self) -> None: ...


class Node:
    """One object's place in the graph (the reference's ``Object``)."""

    def __init__(self, name: str, reopen: Reopen | None = None, shutdown: str = "none",
                 verbose: bool = False) -> None:
        self.name = name
        self.state = CLOSED
        self.state_prev = CLOSED
        self.decay = False
        self.opening = False
        self.closing = False
        self.verbose = verbose
        self.subtree_closed = True
        self.reopen = reopen or Reopen()
        self.shutdown = shutdown
        self.depends: list[Node] = []
        self.rdepends: list[Node] = []

    def __repr__(self) -> str:
        return f"<Node {self.name} {self.state}>"

    def ready_open(self) -> bool:
        if any(d.decay for d in self.depends):
            return False
        return all(d.state == ACTIVE for d in self.depends)

    def ready_close(self) -> bool:
        if self.state in (CLOSED, CLOSING) or self.closing or self.opening:
            return False
        return all(r.subtree_closed for r in self.rdepends)

    def mark_subtree_open(self) -> None:
        if not self.subtree_closed:
            return
        self.subtree_closed = False
        for d in self.depends:
            d.mark_subtree_open()

    def mark_subtree_closed(self, graph: "Graph") -> bool:
        if self.subtree_closed:
            if self.ready_open():
                graph.reactivate(self)
                return True
            return False
        if not all(r.subtree_closed for r in self.rdepends):
            return False
        if self.opening:
            return False
        if self.state not in (CLOSED, CLOSING):
            if self.decay:
                graph.deactivate(self)
            return False
        self.subtree_closed = True
        r = False
        for d in self.depends:
            r = d.mark_subtree_closed(graph) or r
        if self.ready_open():
            graph.reactivate(self)
            r = True
        return r

    def on_state(self, s: str, now: float) -> None:
        self.reopen.on_state(s, now)
        if s != CLOSED:
            self.mark_subtree_open()
        if s == OPENING:
            self.opening = False
        elif s == CLOSING:
            self.closing = False


class Graph:
    """Objects and their dependencies (see module doc). ``nodes`` in init order."""

    def __init__(self, nodes: list[Node], actions: Actions,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.nodes = nodes
        self.clock = clock
        self.by_name = {n.name: n for n in nodes}
        self.actions = actions
        self.state = CLOSED
        self.exit_code = 0
        self._pending: list[tuple[float, int, Node]] = []
        self._seq = 0
        self._armed: float | None = None

    def link(self, name: str, depends: list[str]) -> None:
        """``name`` depends on each of ``depends`` (opened after them, closed before)."""
        node = self.by_name[name]
        for d in depends:
            dep = self.by_name[d]
            node.depends.append(dep)
            dep.rdepends.append(node)

    # --- requests -----------------------------------------------------------------------------
    def start(self, now: float) -> None:
        """Open every object without dependencies (the rest follow as they become Active)."""
        self.state = ACTIVE
        for n in self.nodes:
            if not n.depends:
                self._activate(n)

    def close(self, now: float) -> None:
        """Stop: close every object, dependents first; ``finished()`` when all are Closed."""
        if self.state in (CLOSING, CLOSED):
            return
        log.info("Close processor")
        self.state = CLOSING
        for n in self.nodes:
            log.debug("Force decay of object %s", n.name)
            n.decay = True
            if n.ready_close():
                self.deactivate(n, "decayed leaf ")
        self._check_finished()

    def exit(self, code: int, node: Node | None) -> None:
        """``shutdown-on`` fired (or an exit was requested): stop with ``code``."""
        if self.state in (CLOSING, CLOSED):
            return
        self.exit_code = code
        if node is not None:
            log.info("Shutdown requested by channel %s", node.name)
        else:
            log.info("Shutdown")
        self.close(0.0)

    # --- inputs -------------------------------------------------------------------------------
    def update(self, node: Node, s: str, now: float) -> None:
        """Object ``node`` changed state to ``s``."""
        if s == CLOSING and node.shutdown == "close":
            self.exit(0, node)
        elif s == ERROR and node.shutdown in ("close", "error"):
            self.exit(1, node)
        log.info("Channel %s state %s -> %s", node.name, node.state, s)
        node.state_prev, node.state = node.state, s
        if node.verbose:
            log.info("Object %s state %s", node.name, s)
        if node.reopen.pending():
            self._pending_del(node)
        node.on_state(s, now)
        if s in (OPENING, CLOSING):
            if s == OPENING and node.decay and node.ready_close():
                self.deactivate(node, "decayed ")
            if node.reopen.pending():
                self._pending_add(node)
        elif s == ACTIVE:
            for d in node.rdepends:
                if d.ready_open():
                    self._activate(d)
            return
        elif s == ERROR:
            self.deactivate(node, "failed ", failure=True)
        elif s == CLOSED:
            if not (node.mark_subtree_closed(self) and self.state == ACTIVE):
                self.decay(node)
                for d in node.depends:
                    if d.ready_close():
                        self.deactivate(d)
        if s == CLOSED and self.state in (CLOSING, CLOSED):
            self._check_finished()

    def on_timer(self, now: float) -> None:
        """The reopen timer fired: run what is due."""
        self._armed = None
        while self._pending and self._pending[0][0] <= now:
            _, _, node = self._pending.pop(0)
            action, warning = node.reopen.on_timer(now)
            if warning:
                log.warning("%s for channel %s", warning, node.name)
            if action is Action.OPEN:
                if not node.ready_open() or self.state != ACTIVE:
                    log.debug("Skip pending activate on object %s", node.name)
                    node.reopen.next = None
                else:
                    self._activate(node)
            elif action is Action.CLOSE:
                self.deactivate(node, "pending ")
        self._rearm()

    # --- the reference's helpers --------------------------------------------------------------
    def decay(self, node: Node) -> None:
        if node.subtree_closed:
            return
        node.decay = True
        log.debug("Decay subtree of object %s", node.name)
        for r in node.rdepends:
            self.decay(r)
        if node.ready_close():
            self.deactivate(node, "decayed leaf ")

    def _activate(self, node: Node) -> None:
        log.debug("Activate object %s", node.name)
        node.decay = False
        node.opening = True
        node.reopen.next = None
        node.mark_subtree_open()
        self.actions.activate(node)

    def deactivate(self, node: Node, why: str = "", failure: bool = False) -> None:
        log.debug("Deactivate %sobject %s", why, node.name)
        if node.closing:
            return
        if not failure:
            node.reopen.active_ts = None
        if node.state != CLOSING:
            node.closing = True
        self.actions.deactivate(node, node.state in (ERROR, CLOSING))

    def reactivate(self, node: Node) -> None:
        if self.state != ACTIVE:
            return
        log.debug("Reactivate object %s", node.name)
        if node.ready_open():
            nxt = node.reopen.next
            if nxt is not None and nxt > self.clock():
                log.info("Next open for %s in %gs", node.name, round(node.reopen.timeout(), 3))
                self._pending_add(node)
            else:
                self._activate(node)

    def _check_finished(self) -> None:
        if all(n.state == CLOSED for n in self.nodes):
            log.info("All objects closed")
            self.state = CLOSED
            self.actions.finished()

    # --- the pending list (reopen timer) ------------------------------------------------------
    def _pending_add(self, node: Node) -> None:
        when = node.reopen.next
        if when is None:
            return
        if any(n is node and t == when for t, _, n in self._pending):
            return
        self._seq += 1
        bisect.insort(self._pending, (when, self._seq, node))
        self._rearm()

    def _pending_del(self, node: Node) -> None:
        when = node.reopen.next
        self._pending = [p for p in self._pending if not (p[2] is node and p[0] == when)]
        self._rearm()

    def _rearm(self) -> None:
        first = self._pending[0][0] if self._pending else None
        if first != self._armed:
            self._armed = first
            self.actions.rearm(first)
