"""The transition-table lookup shared by the sans-I/O protocol cores (h11 style).

Each core keeps its state in one attribute and changes it only in its ``_transition(input)``,
which asks :func:`next_state` for the new state in a table ``state -> input -> new state``.
A pair missing from the table means the caller fed the core an input its state does not
accept: :class:`~streamproto.errors.LocalProtocolError` naming the input and the state.
Hot paths may test the state against a table row they handle inline (a self-loop) instead
of looking it up; they never assign the state.
"""
from __future__ import annotations

from typing import Callable, Hashable, Mapping, TypeVar

from streamproto.errors import LocalProtocolError

__all__ = ["next_state"]

S = TypeVar("S", bound=Hashable)
I = TypeVar("I", bound=Hashable)


def next_state(table: Mapping[S, Mapping[I, S]], state: S, inp: I,
               who: str | Callable[[], str]) -> S:
    """``table[state][inp]``; else LocalProtocolError ``"{who}: input 'x' is not valid in
    state Y"`` (``who`` may be a callable, called only then)."""
    try:
        return table[state][inp]
    except KeyError:
        name = who() if callable(who) else who
        raise LocalProtocolError(f"{name}: input {_name(inp)!r} is not valid in state "
                                 f"{_name(state)}") from None


def _name(x: object) -> object:
    return getattr(x, "value", x)
