"""What logic code holds for a channel: :class:`ChannelHandle` (TLL's ``tll.channel.Channel``).

A handle wraps one streamproto :class:`~streamproto.channel.Channel` (a processor object): its
``name``, ``state``, ``scheme``, ``post(...)`` and ``unpack(msg)``, and the callbacks logic objects
add to it. Messages reach callbacks as :class:`~streamproto.logic.types.Message` objects; a record
from ``unpack`` has attribute access and ``SCHEME`` (its message: ``SCHEME.name``,
``SCHEME.msgid``).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from tllschema.record import Record

from streamproto.errors import StreamprotoError
from streamproto.logic.binding import given, taken
from streamproto.events import STATE_IDS, Control, Event, State as StateEvent
from streamproto.logic.types import (Caps, DCaps, Message, MsgMask, State, STATE_BY_NAME,
                                     TLLError, Type)
from streamproto.logic.types import Caps as _Caps, DCaps as _DCaps, State as _State

__all__ = ["ChannelHandle", "SchemeView", "event_message", "record_of"]

_cb_log = logging.getLogger("tll.python")


def record_of(message: Any, record: Any) -> Any:
    """``record`` with ``SCHEME`` available on its class (set once per class)."""
    cls = type(record)
    if "SCHEME" not in cls.__dict__:
        cls.SCHEME = message
    return record


class MessageView:
    """One message of a scheme: ``name``, ``msgid``, ``object(**fields)``, ``unpack(data)``."""

    __slots__ = ("message",)

    def __init__(self, message: Any) -> None:
        self.message = message

    @property
    def name(self) -> str:
        return self.message.name

    @property
    def msgid(self) -> int:
        return self.message.msgid

    @property
    def fields(self) -> list[Any]:
        return self.message.fields

    def object(self, *args: Any, **kw: Any) -> Any:
        """A new record of this message (values as TLL's binding takes them: see
        :mod:`streamproto.logic.binding`)."""
        if args and isinstance(args[0], dict):
            args = (taken(self.message, args[0]),) + args[1:]
        return record_of(self.message, self.message.new(*args, **taken(self.message, kw)))

    __call__ = object

    def unpack(self, data: Any) -> Any:
        m = self.message
        return record_of(m, given(m, m.decode(bytes(data))))

    def __repr__(self) -> str:
        return f"<Message {self.name} msgid={self.msgid}>"


class SchemeView:
    """A scheme as TLL's Python API shows it: ``scheme['Name']``, ``scheme.messages``, ``unpack``."""

    __slots__ = ("scheme",)

    def __init__(self, scheme: Any) -> None:
        self.scheme = scheme

    def __getitem__(self, key: str | int) -> MessageView:
        try:
            return MessageView(self.scheme.message(key))
        except Exception:   # noqa: BLE001 - SchemeError, as the reference's KeyError
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        return key in self.scheme

    @property
    def messages(self) -> list[MessageView]:
        return [MessageView(m) for m in self.scheme.messages]

    def find(self, key: str | int) -> MessageView | None:
        try:
            return self[key]
        except KeyError:
            return None

    def unpack(self, msg: Any) -> Any:
        m = self.scheme.by_msgid.get(msg.msgid)
        if m is None:
            raise KeyError(f"message {msg.msgid} not found in scheme")
        return record_of(m, given(m, m.decode(bytes(msg.data))))

    reflection = unpack

    def dump(self, fmt: str = "yamls") -> str:
        return self.scheme.dump(fmt)

    def __repr__(self) -> str:
        return f"<Scheme {[m.name for m in self.scheme.messages]}>"


def event_message(ev: Event) -> Message:
    """A streamproto event as the Message logic callbacks receive."""
    if isinstance(ev, StateEvent):
        return Message(STATE_IDS.get(ev.state, 0), b"", Type.State)
    if isinstance(ev, Control):
        return Message(ev.msgid, ev.body, Type.Control, ev.seq, ev.addr or 0)
    return Message(ev.msgid, ev.body, Type.Data, ev.seq, ev.addr or 0)


_MASK_OF = {Type.Data: MsgMask.Data, Type.Control: MsgMask.Control, Type.State: MsgMask.State}


class ChannelHandle:
    """A processor object's channel, for logic code (see module doc)."""

    Type = Type
    State = State
    MsgMask = MsgMask
    Caps = Caps
    DCaps = DCaps

    def __init__(self, channel: Any, context: Any = None) -> None:
        self._channel = channel
        self._context = context
        self._callbacks: list[tuple[Callable[..., Any], int]] = []
        self._views: dict[int, SchemeView] = {}

    # --- identity ---------------------------------------------------------------------------
    @property
    def channel(self) -> Any:
        """The streamproto channel behind this handle."""
        return self._channel

    @property
    def name(self) -> str:
        return self._channel.name

    @property
    def state(self) -> _State:
        return STATE_BY_NAME.get(self._channel.state, _State.Closed)

    @property
    def context(self) -> Any:
        return self._context

    @property
    def config(self) -> Any:
        return self._context.object_config(self.name) if self._context is not None else None

    @property
    def children(self) -> list[Any]:
        return []

    @property
    def caps(self) -> _Caps:
        return _Caps.Zero

    @property
    def dcaps(self) -> _DCaps:
        return _DCaps.Zero

    @property
    def fd(self) -> None:
        return None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ChannelHandle):
            return other._channel is self._channel
        return NotImplemented

    def __hash__(self) -> int:
        return id(self._channel)

    def __repr__(self) -> str:
        return f"<Channel name={self.name}>"

    # --- schemes ----------------------------------------------------------------------------
    def _view(self, scheme: Any) -> SchemeView | None:
        if scheme is None:
            return None
        v = self._views.get(id(scheme))
        if v is None or v.scheme is not scheme:
            v = self._views[id(scheme)] = SchemeView(scheme)
        return v

    @property
    def scheme(self) -> SchemeView | None:
        return self._view(self._channel.scheme)

    @property
    def scheme_control(self) -> SchemeView | None:
        return self._view(self._channel.control_scheme)

    def scheme_load(self, t: Any) -> SchemeView | None:
        return self._scheme(t)

    def _scheme(self, t: Any) -> SchemeView | None:
        if t is None or t == Type.Data or t == int(Type.Data):
            return self.scheme
        if t == Type.Control or t == int(Type.Control):
            return self.scheme_control
        raise ValueError(f"No scheme defined for message type {t}")

    def unpack(self, msg: Any) -> Any:
        """The message's body decoded with this channel's scheme for its type: a record."""
        s = self._scheme(msg.type)
        if s is None:
            raise ValueError(f"Channel has no scheme for message type {msg.type}")
        return s.unpack(msg)

    reflection = unpack

    # --- callbacks ----------------------------------------------------------------------------
    def callback_add(self, cb: Callable[..., Any], mask: int = MsgMask.All,
                     store: bool = True) -> Any:
        """Call ``cb(channel, msg)`` for this channel's messages of the ``mask`` types."""
        entry = (cb, int(mask))
        if entry not in self._callbacks:
            self._callbacks.append(entry)
        return _Token(self, entry)

    def callback_del(self, cb: Callable[..., Any], mask: int = MsgMask.All) -> None:
        entry = (cb, int(mask))
        if entry in self._callbacks:
            self._callbacks.remove(entry)

    def deliver(self, ev: Event) -> None:
        """Hand one event to the callbacks (the processor calls this for every event)."""
        if not self._callbacks:
            return
        msg = event_message(ev)
        bit = _MASK_OF.get(msg.type, 0)
        for cb, mask in list(self._callbacks):
            if mask & bit:
                try:
                    cb(self, msg)
                except Exception:   # noqa: BLE001 - a callback never breaks the channel
                    _cb_log.exception("Exception in callback %s", cb)

    # --- posting ------------------------------------------------------------------------------
    def post(self, data: Any, type: Any = None, msgid: int | None = None,   # noqa: A002
             seq: int | None = None, name: str | None = None, addr: int | None = None,
             time: Any = None, flags: Any = None) -> None:
        """Post ``data`` — a dict (needs ``name=``), a record, a Message or bytes — as TLL's
        ``Channel.post`` does; ``type=Type.Control`` posts a control message (e.g. ``Rotate``)."""
        mtype = Type.Data
        m_msgid, m_seq, m_addr = 0, 0, 0
        if not isinstance(data, Record) and (isinstance(data, Message) or (
                hasattr(data, "msgid") and hasattr(data, "type") and hasattr(data, "data"))):
            mtype = data.type if isinstance(data.type, Type) else Type(int(data.type))
            m_msgid, m_seq, m_addr = data.msgid, data.seq, data.addr
            data = data.data
        if type is not None:
            mtype = type if isinstance(type, Type) else Type(int(type))
        if name is not None:
            s = self._scheme(mtype)
            if s is None:
                raise TLLError(f"{self.name}: no scheme to look up message {name!r}")
            m_msgid = s[name].msgid
        if msgid is not None:
            m_msgid = msgid
        if seq is not None:
            m_seq = seq
        if addr is not None:
            m_addr = addr
        if isinstance(data, dict):
            if name is None:
                raise ValueError("post of a dict needs name=MESSAGE")
            s = self._scheme(mtype)
            assert s is not None
            data = s[name].object(data)
        if isinstance(data, Record):
            if msgid is None:
                m_msgid = data.MSGID
            try:
                data = data.encode()
            except StreamprotoError:
                raise
            except Exception as e:   # noqa: BLE001 - tllschema EncodeError
                raise TLLError(f"{self.name}: cannot encode {getattr(data, 'NAME', '')}: {e}") from e
        body = b"" if data is None else bytes(data)
        try:
            if mtype == Type.Control:
                self._channel.post_control(m_msgid, body, seq=m_seq, addr=m_addr or None)
            elif mtype == Type.Data:
                if m_addr:
                    self._channel.post(m_msgid, m_seq, body, addr=m_addr)
                else:
                    self._channel.post(m_msgid, m_seq, body)
            else:
                raise TLLError(f"{self.name}: cannot post a {mtype.name} message")
        except TLLError:
            raise
        except StreamprotoError as e:
            raise TLLError(f"Post failed: {e}") from e

    # --- lifetime (scheduled on the loop, as the reference's calls return at once) -----------
    def open(self, params: Any = "", **kw: Any) -> None:
        from streamproto.config import parse_params
        p = dict(params.flat()) if hasattr(params, "flat") else parse_params(params or None)
        p.update({k: str(v) for k, v in kw.items()})
        asyncio.get_running_loop().create_task(self._channel.open(p))

    def close(self, force: bool = False) -> None:
        asyncio.get_running_loop().create_task(self._channel.close())


class _Token:
    """What ``callback_add`` returns: ``finalize()`` removes the callback."""

    __slots__ = ("handle", "entry")

    def __init__(self, handle: ChannelHandle, entry: tuple[Callable[..., Any], int]) -> None:
        self.handle, self.entry = handle, entry

    def finalize(self) -> None:
        if self.entry in self.handle._callbacks:
            self.handle._callbacks.remove(self.entry)

    destroy = finalize
