"""What a channel hands its user: Data, Control and State events (shared by every channel)."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar, Union

#: Channel state names, as TLL reports them (STATE msgid in the golden logs: 1, 2, 3, 0, 4).
CLOSED, OPENING, ACTIVE, CLOSING, ERROR = "Closed", "Opening", "Active", "Closing", "Error"
STATES = (CLOSED, OPENING, ACTIVE, CLOSING, ERROR)
STATE_IDS = {CLOSED: 0, OPENING: 1, ACTIVE: 2, CLOSING: 3, ERROR: 4}


class Kind(enum.IntEnum):
    """Message type, as TLL's ``msg->type``: ``msg.kind is Kind.DATA`` / ``Kind.CONTROL``."""

    DATA = 0
    CONTROL = 1


@dataclass(slots=True)
class Data:
    """A data message: ``msgid``, ``seq``, raw ``body``; ``addr`` = connection id on servers."""

    kind: ClassVar[Kind] = Kind.DATA   # a class attribute, not a field: nothing per message
    msgid: int
    seq: int
    body: bytes
    addr: int | None = None


@dataclass(slots=True)
class Control:
    """A local control message (Connect, Disconnect, Online, ...): never sent on the wire.

    ``data`` optionally holds the decoded body as a plain dict.
    """

    kind: ClassVar[Kind] = Kind.CONTROL
    name: str
    msgid: int
    seq: int = 0
    body: bytes = b""
    addr: int | None = None
    data: dict[str, Any] | None = None


@dataclass(slots=True)
class State:
    """The channel changed state (one of :data:`STATES`); ``reason`` explains Error and Closed."""

    state: str
    reason: str | None = None


Event = Union[Data, Control, State]

__all__ = ["Data", "Control", "State", "Event", "STATES", "STATE_IDS",
           "CLOSED", "OPENING", "ACTIVE", "CLOSING", "ERROR"]


#: Control msgids of TLL's storage channels (file:// and rotate+ control schemes).
SEEK, END_OF_DATA, ROTATE = 10, 20, 150

__all__ += ["Kind", "SEEK", "END_OF_DATA", "ROTATE"]
