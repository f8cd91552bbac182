"""The dependency state machine and reopen back-off, sans I/O (the reference's processor rules)."""
from __future__ import annotations

from streamproto.events import ACTIVE, CLOSED, CLOSING, ERROR, OPENING
from streamproto.processor.graph import Graph, Node
from streamproto.processor.reopen import Action, Reopen


class Runner:
    """Plays the channels: records what the graph asks, answers with state changes."""

    def __init__(self, deps: dict[str, list[str]], fail: set[str] = frozenset(),
                 shutdown: dict[str, str] | None = None) -> None:
        self.now = 0.0
        self.log: list[str] = []
        self.fail = set(fail)          # objects whose open fails
        self.timer: float | None = None
        self.done = False
        nodes = [Node(n, Reopen(), (shutdown or {}).get(n, "none")) for n in deps]
        self.graph = Graph(nodes, self, clock=lambda: self.now)
        for n, d in deps.items():
            self.graph.link(n, d)
        self.queue: list[tuple[str, str]] = []

    # Actions
    def activate(self, node: Node) -> None:
        self.log.append(f"open {node.name}")
        self.queue += [(node.name, OPENING), (node.name, ERROR if node.name in self.fail else ACTIVE)]

    def deactivate(self, node: Node, force: bool) -> None:
        self.log.append(f"close {node.name}")
        self.queue += [(node.name, CLOSING), (node.name, CLOSED)]

    def rearm(self, when: float | None) -> None:
        self.timer = when

    def finished(self) -> None:
        self.done = True

    # driving
    def settle(self) -> None:
        while self.queue:
            name, state = self.queue.pop(0)
            self.graph.update(self.graph.by_name[name], state, self.now)

    def advance(self, dt: float) -> None:
        self.now += dt
        self.settle()

    def fire(self) -> float:
        """Jump to the armed timer and run it; the time it fired at."""
        assert self.timer is not None
        self.now = self.timer
        self.graph.on_timer(self.now)
        self.settle()
        return self.now


CHAIN = {"input": ["logic"], "logic": ["output"], "output": [], "other": []}


def test_objects_open_after_what_they_depend_on():
    r = Runner(CHAIN)
    r.graph.start(0)
    r.settle()
    assert r.log == ["open output", "open other", "open logic", "open input"]
    assert all(n.state == ACTIVE for n in r.graph.nodes)


def test_close_goes_dependents_first_and_finishes():
    r = Runner(CHAIN)
    r.graph.start(0)
    r.advance(1)
    r.log.clear()
    r.graph.close(r.now)
    r.settle()
    assert r.log.index("close input") < r.log.index("close logic") < r.log.index("close output")
    assert "close other" in r.log and r.done and r.graph.exit_code == 0


def test_a_failure_closes_dependents_reopens_it_then_them_and_spares_the_rest():
    r = Runner(CHAIN)
    r.graph.start(0)
    r.settle()
    r.now = 5.0                                    # everything Active for a while
    r.log.clear()
    r.graph.update(r.graph.by_name["logic"], ERROR, r.now)
    r.settle()
    assert r.log == ["close logic", "close input", "open logic", "open input"]
    assert "other" not in " ".join(r.log)
    assert all(n.state == ACTIVE for n in r.graph.nodes)


def test_reopen_back_off_doubles_up_to_the_maximum():
    r = Runner({"a": []}, fail={"a"})
    r.graph.by_name["a"].reopen = Reopen(timeout_min=1, timeout_max=8)
    r.graph.start(0)
    r.settle()
    opens = [0.0]
    for _ in range(6):
        opens.append(r.fire())
    gaps = [b - a for a, b in zip(opens, opens[1:], strict=False)]
    assert gaps == [1, 2, 4, 8, 8, 8]


def test_a_quick_close_waits_a_long_active_one_reopens_at_once():
    r = Runner({"a": []})
    r.graph.start(0)
    r.settle()
    node = r.graph.by_name["a"]
    r.graph.update(node, CLOSING, r.now + 0.01)    # closed 10ms after Active (< 100ms)
    r.graph.update(node, CLOSED, r.now + 0.01)
    r.settle()
    assert r.timer == 0.01 + 1 and r.log == ["open a"]     # waits 1s
    assert r.fire() == 1.01 and r.log == ["open a", "open a"]
    r.now = 10.0                                           # Active for ~9s this time
    r.graph.update(node, CLOSING, r.now)
    r.graph.update(node, CLOSED, r.now)
    r.settle()
    assert r.log == ["open a", "open a", "open a"]         # at once, count reset


def test_shutdown_on_close_and_on_error():
    r = Runner({"a": [], "b": []}, shutdown={"a": "close"})
    r.graph.start(0)
    r.advance(1)
    r.graph.update(r.graph.by_name["a"], CLOSING, r.now)
    r.graph.update(r.graph.by_name["a"], CLOSED, r.now)
    r.settle()
    assert r.done and r.graph.exit_code == 0 and "close b" in r.log
    r = Runner({"a": [], "b": []}, shutdown={"a": "error"})
    r.graph.start(0)
    r.advance(1)
    r.graph.update(r.graph.by_name["a"], ERROR, r.now)
    r.settle()
    assert r.done and r.graph.exit_code == 1


def test_reopen_timer_actions():
    ro = Reopen(timeout_open=5, timeout_close=2)
    ro.on_state(OPENING, 0)
    assert ro.on_timer(4.9) == (Action.NONE, None)
    assert ro.on_timer(5) == (Action.CLOSE, "Open timeout")
    ro.on_state(CLOSING, 6)
    assert ro.on_timer(8) == (Action.CLOSE, "Close timeout, force close")
    ro.on_state(CLOSED, 9)        # closed (not failed) after an open timeout: at once
    assert ro.next == 9 and ro.on_timer(9) == (Action.OPEN, None)
    ro.on_state(OPENING, 10)
    ro.on_state(ERROR, 11)        # failed while opening: back-off 1s
    assert ro.on_timer(11) == (Action.CLOSE, None)
    ro.on_state(CLOSING, 11)
    ro.on_state(CLOSED, 11)
    assert ro.next == 12
