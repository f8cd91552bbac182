"""What a channel hands its user: Data, Control and State events (shared by every channel)."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Sequence, Union

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

#: One data message in a :class:`Batch`: ``(msgid, seq, body)``.
Message = tuple[int, int, bytes]


class Batch:
    """Data messages delivered together (one received buffer), in arrival order.

    ``messages`` is a list of ``(msgid, seq, body)`` tuples (never empty); ``addr`` is the
    connection id on servers. Iterating, ``len`` and indexing work on the tuples;
    :meth:`events` builds the equivalent per-message :class:`Data` events.
    """

    __slots__ = ("messages", "addr")
    #: the per-message event class a batch stands for
    event_type: type = Data
    _by_event: ClassVar[dict[type, type["Batch"]]] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        Batch._by_event[cls.event_type] = cls

    @staticmethod
    def type_for(event: Data) -> type["Batch"]:
        """The batch class standing for events like ``event`` (a subclass for StreamData)."""
        return Batch._by_event.get(type(event), Batch)

    def __init__(self, messages: list[Message], addr: int | None = None) -> None:
        self.messages = messages
        self.addr = addr

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)

    def __getitem__(self, index: int) -> Message:
        return self.messages[index]

    def __eq__(self, other: object) -> bool:
        return (type(other) is type(self) and self._key() == other._key()
                and self.messages == other.messages)

    __hash__ = None  # type: ignore[assignment]  # unhashable: __eq__ compares values

    def _key(self) -> tuple:
        """What every message of the batch shares besides its own fields."""
        return (self.addr,)

    def events(self) -> list[Data]:
        """The messages as :class:`Data` events."""
        D, a = Data, self.addr
        return [D(m, s, b, a) for m, s, b in self.messages]

    @classmethod
    def of_events(cls, events: Sequence[Data]) -> "Batch":
        """The batch standing for consecutive Data events that share :meth:`_key`."""
        return cls([(e.msgid, e.seq, e.body) for e in events], events[0].addr)

    @staticmethod
    def event_key(event: Data) -> tuple:
        """:meth:`_key` of the batch ``event`` would belong to."""
        return (event.addr,)

    def __repr__(self) -> str:
        m = self.messages
        return (f"<{type(self).__name__} {len(m)} messages, seq {m[0][1]}..{m[-1][1]}"
                f"{'' if self.addr is None else f', addr {self.addr}'}>" if m else
                f"<{type(self).__name__} empty>")


__all__ = ["Data", "Control", "State", "Event", "Batch", "Message", "STATES", "STATE_IDS",
           "CLOSED", "OPENING", "ACTIVE", "CLOSING", "ERROR"]


#: Control msgids of TLL's storage channels (file:// and rotate+ control schemes).
SEEK, END_OF_DATA, ROTATE = 10, 20, 150

__all__ += ["Kind", "SEEK", "END_OF_DATA", "ROTATE"]
