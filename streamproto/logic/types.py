"""The names TLL's Python API gives states, message types and flags, and its message object."""
from __future__ import annotations

import enum
from typing import Any

from streamproto.errors import ChannelError

__all__ = ["State", "Type", "MsgMask", "Caps", "DCaps", "OpenPolicy", "ClosePolicy",
           "ChildPolicy", "ProcessPolicy", "PostPolicy", "Message", "TLLError", "STATE_BY_NAME"]


class State(enum.Enum):
    """Channel state (``TLL_STATE_*``)."""

    Closed = 0
    Opening = 1
    Active = 2
    Closing = 3
    Error = 4
    Destroy = 5

    def __int__(self) -> int:
        return self.value


#: streamproto's state names -> :class:`State`.
STATE_BY_NAME = {s.name: s for s in State}


class Type(enum.Enum):
    """Message type (``TLL_MESSAGE_*``)."""

    Data = 0
    Control = 1
    State = 2
    Channel = 3

    def __int__(self) -> int:
        return self.value


class MsgMask(enum.IntFlag):
    """Which message types a callback receives."""

    Data = 1
    Control = 2
    State = 4
    Channel = 8
    All = 7


class Caps(enum.IntFlag):
    Zero = 0
    Input = 4
    Output = 8
    InOut = 12
    Custom = 1
    Parent = 2
    Proxy = 16
    LongClose = 32


class DCaps(enum.IntFlag):
    Zero = 0
    PollIn = 1
    PollOut = 2
    PollMask = 3
    Process = 16
    Pending = 32
    Suspend = 64
    SuspendPermanent = 128


class OpenPolicy(enum.Enum):
    Auto = 1
    Manual = 2


class ClosePolicy(enum.Enum):
    Normal = 1
    Long = 2


class ChildPolicy(enum.Enum):
    Never = 1
    Proxy = 2
    Many = 3
    Single = 2


class ProcessPolicy(enum.Enum):
    Normal = 1
    Never = 2
    Always = 3
    Custom = 4


class PostPolicy(enum.Enum):
    Enable = 1
    Disable = 2


class TLLError(ChannelError):
    """A failed channel call from logic code (TLL's ``tll.error.TLLError``)."""

    def __init__(self, text: str, code: int | None = None) -> None:
        super().__init__(text)
        self.code = code


_Type = Type


class Message:
    """A message as logic callbacks see it: ``type``, ``msgid``, ``seq``, ``addr``, ``data``
    (a memoryview of the body) and ``time``; ``Message.Type`` is :class:`Type`."""

    Type = Type
    __slots__ = ("type", "msgid", "seq", "addr", "data", "time")

    def __init__(self, msgid: int = 0, data: Any = b"", type: _Type = _Type.Data, seq: int = 0,
                 addr: int = 0, time: Any = None) -> None:
        self.type, self.msgid, self.seq, self.addr = type, msgid, seq, addr
        self.data = memoryview(data)
        self.time = time

    def copy(self) -> "Message":
        return Message(self.msgid, bytes(self.data), self.type, self.seq, self.addr, self.time)

    clone = copy

    def __repr__(self) -> str:
        return (f"<Message type={self.type} msgid={self.msgid} seq={self.seq} addr={self.addr} "
                f"size={len(self.data)}>")

    __str__ = __repr__
