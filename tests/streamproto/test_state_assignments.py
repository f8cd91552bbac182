"""No state is assigned outside a transition: checked on the source of every streamproto module.

The protocol cores (stream client, request session, pub client, pub subscribers) keep their
state in a ``state``/``_state`` attribute that only their ``_transition`` may assign (and
``__init__`` may initialise on ``self``). The asyncio channels' own lifecycle state changes in
one place too, ``Channel._set_state``.

Not checked: ``processor/`` and ``logic/``. The processor is an edge that records the states
its objects report (it owns order and lifetimes, no protocol), and ``logic/`` implements TLL's
Python channel API, where user code assigns ``self.state`` itself.
"""
from __future__ import annotations

import ast
from pathlib import Path

import streamproto

PACKAGE = Path(streamproto.__file__).resolve().parent
STATE_ATTRS = {"state", "_state"}
#: (module, function qualname) allowed to assign besides ``_transition`` / ``self.`` in __init__
ALLOWED = {("channel.py", "Channel._set_state"), ("channel.py", "Channel.__init__")}
#: sub-packages outside the check (see the module docstring)
EDGES = ("processor/", "logic/")
#: the cores whose transitions this guards: each must still have one _transition
CORES = {"stream/client.py": ["StreamClientCore"], "stream/server.py": ["RequestSession"],
         "pub/protocol.py": ["PubServerCore", "PubClientCore"]}


def _targets(node: ast.AST):
    if isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            yield from _targets(elt)
    elif isinstance(node, ast.Starred):
        yield from _targets(node.value)
    else:
        yield node


def state_assignments(tree: ast.Module):
    """``(qualname of the enclosing function, target source, line)`` of each state assignment."""
    found = []

    def visit(node: ast.AST, scope: list[str]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            scope = scope + [node.name]
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.NamedExpr):
            targets = [node.target]
        for t in targets:
            for leaf in _targets(t):
                if isinstance(leaf, ast.Attribute) and leaf.attr in STATE_ATTRS:
                    found.append((".".join(scope), ast.unparse(leaf), node.lineno))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "setattr" and len(node.args) > 1 \
                and isinstance(node.args[1], ast.Constant) and node.args[1].value in STATE_ATTRS:
            found.append((".".join(scope), ast.unparse(node), node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, scope)

    visit(tree, [])
    return found


def test_the_check_sees_assignments():
    tree = ast.parse("class C:\n def f(self, o):\n  o.core.state = 1\n"
                     "  self.a, self._state = 1, 2\n  setattr(self, 'state', 3)\n")
    assert [(q, t) for q, t, _ in state_assignments(tree)] == [
        ("C.f", "o.core.state"), ("C.f", "self._state"), ("C.f", "setattr(self, 'state', 3)")]


def test_states_change_only_in_transitions():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(EDGES):
            continue
        for qualname, target, line in state_assignments(ast.parse(path.read_text(), rel)):
            func = qualname.rsplit(".", 1)[-1]
            if func == "_transition" or (rel, qualname) in ALLOWED:
                continue
            if func == "__init__" and target.startswith("self."):
                continue
            offenders.append(f"{rel}:{line} {qualname}: {target}")
    assert offenders == []


def test_every_core_has_its_transition():
    for rel, classes in CORES.items():
        tree = ast.parse((PACKAGE / rel).read_text())
        methods = {(c.name, f.name) for c in tree.body if isinstance(c, ast.ClassDef)
                   for f in c.body if isinstance(f, ast.FunctionDef)}
        for cls in classes:
            assert (cls, "_transition") in methods, (rel, cls)
