"""``Base`` and ``Logic``: the classes Python channels and logic objects derive from, shaped as
TLL's ``tll.channel.base.Base`` and ``tll.channel.logic.Logic``.

A subclass overrides ``_init(url, master=None)``, ``_open(props)``, ``_close()`` and, for a logic,
``_logic(channel, msg)``; it reads ``self.name``, ``self.log``, ``self.state`` (and sets it,
e.g. ``self.state = self.State.Error``), ``self.scheme``, ``self.config``, ``self.config_info``
and, in a logic, ``self._channels[tag]`` (lists of channel handles from the object's ``channels``).
An exception in ``_open`` or ``_logic`` puts the object into Error with the traceback logged;
the processor then closes it and reopens it with back-off. Written from the reference's
``python/tll/channel/base.pyx`` and ``logic.py``.
"""
from __future__ import annotations

from typing import Any

from streamproto.logic.handle import SchemeView
from streamproto.logic.log import Logger
from streamproto.logic.types import (Caps, ChildPolicy, ClosePolicy, DCaps, Message,
                                     OpenPolicy, PostPolicy, ProcessPolicy, State, TLLError,
                                     Type)
from streamproto.logic.types import Caps as _Caps, DCaps as _DCaps, State as _State, Type as _Type
from streamproto.processor.config import Config, ConfigUrl

__all__ = ["Base", "Logic"]



class Base:
    """A channel implemented in Python (see module doc)."""

    PROTO: str | None = None

    OpenPolicy = OpenPolicy
    ClosePolicy = ClosePolicy
    ChildPolicy = ChildPolicy
    ProcessPolicy = ProcessPolicy
    PostPolicy = PostPolicy

    OPEN_POLICY = OpenPolicy.Auto
    CLOSE_POLICY = ClosePolicy.Normal
    CHILD_POLICY = ChildPolicy.Never
    PROCESS_POLICY = ProcessPolicy.Normal
    POST_OPENING_POLICY = PostPolicy.Disable
    POST_CLOSING_POLICY = PostPolicy.Disable

    Caps = Caps
    DCaps = DCaps
    State = State
    Type = Type

    def __init__(self, context: Any, internal: Any) -> None:
        self._context_ = context
        self._internal_ = internal          # the streamproto channel running this object
        self._log_ = Logger("tll.channel.python")
        self._scheme_: SchemeView | None = None
        self._scheme_url: str | None = None
        self._dcaps_ = DCaps.Zero

    # --- properties ---------------------------------------------------------------------------
    @property
    def context(self) -> Any:
        return self._context_

    @property
    def log(self) -> Logger:
        return self._log_

    @property
    def name(self) -> str:
        return self._internal_.name

    @property
    def state(self) -> _State:
        return _State[self._internal_.state] if self._internal_.state in _State.__members__ \
            else _State.Closed

    @state.setter
    def state(self, value: _State) -> None:
        if not isinstance(value, _State):
            raise ValueError(f"Expected tll.channel.State, got {value} ({type(value)})")
        self._internal_.set_state(value.name)

    @property
    def scheme(self) -> SchemeView | None:
        return self._scheme_

    @scheme.setter
    def scheme(self, value: SchemeView | None) -> None:
        self._scheme_ = value

    def scheme_get(self, t: _Type) -> SchemeView | None:
        if t == Type.Data:
            return self._scheme_
        if t == Type.Control:
            return getattr(self, "scheme_control", None)
        return None

    @property
    def config(self) -> Config:
        return self._internal_.config

    @property
    def config_info(self) -> Config:
        info = self.config.sub("info", create=True)
        assert info is not None
        return info

    @property
    def stat(self) -> None:
        return None

    @property
    def fd(self) -> None:
        return None

    @property
    def caps(self) -> _Caps:
        return _Caps.Zero

    @property
    def dcaps(self) -> _DCaps:
        return self._dcaps_

    # --- lifetime (called by the python:// channel) --------------------------------------------
    def init(self, url: Any, master: Any = None) -> Any:
        self._log_ = Logger(f"tll.channel.{self.name}")
        self._scheme_url = url.get("scheme", None)
        self.log.info("Init channel")
        return self._init(url, master)

    def free(self) -> None:
        self.log.info("Destroy channel")
        try:
            self._free()
        except Exception:   # noqa: BLE001 - as the reference, freeing never fails
            self.log.exception("Failed to free channel")

    def open(self, props: Config) -> Any:
        pstr = ";".join(f"{k}={v}" for k, v in props.browse("**"))
        self.log.info(f"Open channel: {pstr}")
        self.state = State.Opening
        try:
            if self._scheme_url:
                self.scheme = self.context.scheme_load(self._scheme_url)
            if self.PROCESS_POLICY != ProcessPolicy.Never:
                self._update_dcaps(DCaps.Process)
            try:
                self.config.unlink("open")
            except KeyError:
                pass
            self.config.set("open", props.copy())
            self._open(props)
        except Exception:   # noqa: BLE001 - user code: logged, the object goes to Error
            self.log.exception("Failed to open channel")
            self.state = State.Error
            return 22
        if self.OPEN_POLICY == OpenPolicy.Auto:
            self.state = State.Active
        return None

    def close(self, force: bool = False) -> None:
        if self.state == State.Closed:
            return
        if self.state == State.Closing and not force:
            return
        self.log.info("Close channel")
        self.state = State.Closing
        try:
            if self.CLOSE_POLICY == ClosePolicy.Long:
                self._close(force)
            else:
                self._close()
        finally:
            if force or self.CLOSE_POLICY == ClosePolicy.Normal:
                Base._close(self)

    def process(self, timeout: Any = 0, flags: int = 0) -> Any:
        try:
            return self._process(timeout, flags)
        except Exception:   # noqa: BLE001 - user code
            self.log.exception("Process failed")
            self.state = State.Error
            return 22

    def post(self, msg: Any, flags: int = 0) -> Any:
        s = self.state
        if s != State.Active:
            if not (s == State.Opening and self.POST_OPENING_POLICY == PostPolicy.Enable) and \
                    not (s == State.Closing and self.POST_CLOSING_POLICY == PostPolicy.Enable):
                raise TLLError(f"{self.name}: Post in invalid state {s.name}", 22)
        return self._post(msg, flags)

    # --- for subclasses -----------------------------------------------------------------------
    def _init(self, url: Any, master: Any = None) -> Any:
        pass

    def _free(self) -> None:
        pass

    def _open(self, props: Any) -> Any:
        pass

    def _close(self, force: bool = False) -> Any:
        self._update_dcaps(DCaps.Zero, DCaps.Pending | DCaps.Process | DCaps.PollMask)
        self.state = State.Closed

    def _process(self, timeout: Any, flags: int) -> Any:
        pass

    def _post(self, msg: Any, flags: int) -> Any:
        pass

    def _callback(self, msg: Any) -> None:
        """Deliver ``msg`` (a Message or a record) to this channel's subscribers."""
        self._internal_.deliver(msg)

    def _update_dcaps(self, caps: int, mask: int | None = None) -> None:
        if mask is None:
            mask = caps
        new = DCaps((int(self._dcaps_) & ~int(mask)) | (int(caps) & int(mask)))
        if new != self._dcaps_:
            self._dcaps_ = new
            self._internal_.dcaps_changed(new)

    def _update_pending(self, pending: bool = True) -> None:
        self._update_dcaps(DCaps.Pending if pending else DCaps.Zero, DCaps.Pending)

    def _update_fd(self, fd: int) -> int:
        return fd

    def _child_add(self, c: Any, tag: str | None = None) -> None:
        self.log.info(f"Add child channel '{getattr(c, 'name', c)}' (tag {tag})")

    def _child_del(self, c: Any, tag: str | None = None) -> None:
        self.log.info(f"Delete child channel '{getattr(c, 'name', c)}' (tag {tag})")

    def _child_url_parse(self, url: str, suffix: str) -> Any:
        return self._child_url_fill(ConfigUrl.parse(url), suffix)

    def _child_url_fill(self, url: Any, suffix: str) -> Any:
        url.set("name", f"{self.name}/{suffix}")
        url.set("tll.internal", "yes")
        return url


class Logic(Base):
    """A logic object: gets every message of the channels listed in its ``channels`` (see
    module doc); ``self._channels`` maps each tag (``input``, ``output``, ...) to its channels."""

    PROCESS_POLICY = ProcessPolicy.Never

    def _init(self, url: Any, master: Any = None) -> Any:
        super()._init(url, master)
        self._channels: dict[str, list[Any]] = {}
        self._callbacks: list[Any] = []
        unique: list[Any] = []
        for k, v in url.browse("tll.channel.**"):
            if not k.startswith("tll.channel.") or not v.strip():
                continue
            tag = k[len("tll.channel."):]
            found = []
            for n in v.split(","):
                n = n.strip()
                if not n:
                    raise ValueError(f"Invalid channel list {k}: '{v}'")
                c = self.context.get(n)
                if c is None:
                    raise ValueError(f"Channel '{n}' not found")
                found.append(c)
                if c not in unique:
                    unique.append(c)
            self._channels[tag] = found
        for c in unique:
            self._callbacks.append(c.callback_add(self.logic, store=False))

    def _free(self) -> None:
        for cb in self._callbacks:
            cb.finalize()
        self._callbacks = []
        self._channels = {}

    def logic(self, channel: Any, msg: Message) -> None:
        """Callback for every message of the logic's channels: ``_logic`` guarded, as TLL does."""
        if self.state not in (State.Opening, State.Active):
            return
        try:
            self._logic(channel, msg)
        except Exception:   # noqa: BLE001 - user code: logged, the object goes to Error
            self.log.exception("Logic callback failed")
            self.state = State.Error

    def _logic(self, channel: Any, msg: Message) -> Any:
        pass
