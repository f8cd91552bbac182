"""``python://;python=MODULE:Class``: a channel (usually a logic) implemented by a Python class.

``MODULE`` is a dotted module name or a path such as ``./commission`` (the directory is put on
``sys.path`` for the import, relative to the working directory, as the reference's
``pychannel_lookup`` does); ``Class`` derives from :class:`streamproto.logic.Base` (as
``tll.channel.logic.Logic`` resolves inside ``streamproto run``). The object is created and its
``init(url)`` runs when the channel is created, with every init parameter in ``url`` (the
processor adds ``name`` and ``tll.channel.TAG`` for each ``channels`` entry); ``open``/``close``
and posts go to its ``open``/``close``/``post``; what it hands to ``_callback`` (and its state
changes) become this channel's events.
"""
from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from typing import Any, Mapping

from tllschema.record import Record

from streamproto.channel import Channel
from streamproto.config import Url, parse_params
from streamproto.errors import ConfigError, StreamprotoError
from streamproto.events import ACTIVE, CLOSED, CLOSING, ERROR, OPENING, STATES, Control, Data
from streamproto.logic.base import Base
from streamproto.logic.context import get_context
from streamproto.logic.types import DCaps, Message, TLLError, Type
from streamproto.processor.config import Config, ConfigUrl
from streamproto.registry import register_protocol

__all__ = ["PythonChannel", "resolve_class"]

_log = logging.getLogger("tll.channel.python")


def resolve_class(spec: str) -> type:
    """``[PATH/]MODULE:Class`` -> the class; ConfigError naming what is missing."""
    path = ""
    module = spec.strip()
    if "/" in module:
        path, module = module.rsplit("/", 1)
    if ":" not in module:
        raise ConfigError(f"parameter 'python': invalid value {spec!r}: need MODULE:Class "
                          "(e.g. ./commission:Commission)")
    module, klass = module.split(":", 1)
    if not module or not klass:
        raise ConfigError(f"parameter 'python': invalid value {spec!r}: need MODULE:Class")
    added = bool(path) and path not in sys.path
    if added:
        sys.path.insert(0, path)
    if path:
        _forget_if_elsewhere(module, path)
        importlib.invalidate_caches()
    try:
        try:
            m = importlib.import_module(module)
        except ModuleNotFoundError as e:
            where = f" in {path}" if path else ""
            if e.name == module or module.startswith(f"{e.name}."):
                raise ConfigError(f"parameter 'python': module {module!r} not found{where}") from None
            raise ConfigError(f"parameter 'python': importing {module!r} failed: {e}") from None
        except Exception as e:   # noqa: BLE001 - the user's module failed to import
            _log.debug("Import of %s failed", module, exc_info=True)
            raise ConfigError(f"parameter 'python': importing {module!r} failed: "
                              f"{type(e).__name__}: {e}") from None
    finally:
        if added:
            try:
                sys.path.remove(path)
            except ValueError:
                pass
    obj = getattr(m, klass, None)
    if obj is None:
        raise ConfigError(f"parameter 'python': module {module!r} has no {klass!r}")
    if not isinstance(obj, type) or not issubclass(obj, Base):
        raise ConfigError(f"parameter 'python': {module}:{klass} is not a channel class "
                          "(derive it from tll.channel.logic.Logic or tll.channel.base.Base)")
    return obj


def _forget_if_elsewhere(module: str, path: str) -> None:
    """A module of that name imported before from another directory is imported again from
    ``path`` (the config names the file; several configs may run in one process)."""
    loaded = sys.modules.get(module)
    where = getattr(loaded, "__file__", None)
    if loaded is None or where is None:
        return
    if os.path.dirname(os.path.realpath(where)) != os.path.realpath(path):
        del sys.modules[module]


class PythonChannel(Channel):
    """``python://;python=./module:Class`` (see module doc)."""

    def __init__(self, url: "Url | str | Mapping[str, Any]", **kw: Any) -> None:
        super().__init__(url, **kw)
        spec = self.url.params.get("python")
        if not spec:
            raise ConfigError(f"{self.name}: parameter 'python' is mandatory (MODULE:Class)")
        cls = resolve_class(spec)
        self.context = get_context()
        self.config: Config = self.context.object_config(self.name)
        self._process_task: asyncio.Task[None] | None = None
        self.obj: Base = cls(self.context, self)
        params = dict(self.url.params)
        params.setdefault("name", self.name)
        curl = ConfigUrl.from_params(self.url.proto, self.url.host, params)
        try:
            self.obj.init(curl, None)
        except Exception as e:   # noqa: BLE001 - the user's _init failed
            self.log.debug("Init of %s failed", cls.__name__, exc_info=True)
            raise ConfigError(f"{self.name}: {cls.__name__}._init failed: "
                              f"{type(e).__name__}: {e}") from None

    # --- what the object sees as "internal" ---------------------------------------------------
    def set_state(self, state: str) -> None:
        """The object's state changed (``self.state = ...`` in Python code)."""
        if state in STATES:
            if state in (CLOSED, ERROR) and self._process_task is not None:
                self._process_task.cancel()
                self._process_task = None
            self._set_state(state)

    def deliver(self, msg: Any) -> None:
        """A message the object hands to ``_callback``: this channel's event."""
        if isinstance(msg, Record):
            self._emit(Data(msg.MSGID, 0, msg.encode()))
            return
        mtype = msg.type if isinstance(msg.type, Type) else Type(int(msg.type))
        body = bytes(msg.data) if msg.data is not None else b""
        addr = getattr(msg, "addr", 0) or None
        if mtype == Type.Data:
            self._emit(Data(msg.msgid, msg.seq or 0, body, addr))
        elif mtype == Type.Control:
            scheme = self.control_scheme
            m = scheme.by_msgid.get(msg.msgid) if scheme is not None else None
            self._emit(Control(m.name if m is not None else str(msg.msgid), msg.msgid,
                               msg.seq or 0, body, addr))

    def dcaps_changed(self, dcaps: DCaps) -> None:
        """``Process`` set: call the object's ``_process`` (every 100 ms, at once while
        ``Pending``), as the reference's loop does for channels without a file descriptor."""
        if dcaps & DCaps.Process and self._process_task is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._process_task = loop.create_task(self._process_loop())

    async def _process_loop(self) -> None:
        try:
            while self.obj.dcaps & DCaps.Process and self.state in (OPENING, ACTIVE):
                self.obj.process(0, 0)
                await asyncio.sleep(0 if self.obj.dcaps & DCaps.Pending else 0.1)
        finally:
            if self._process_task is asyncio.current_task():
                self._process_task = None

    # --- schemes ------------------------------------------------------------------------------
    @property
    def scheme(self) -> Any:
        view = self.obj.scheme if hasattr(self, "obj") else None
        return view.scheme if view is not None else None

    @property
    def control_scheme(self) -> Any:
        view = getattr(self.obj, "scheme_control", None) if hasattr(self, "obj") else None
        return view.scheme if view is not None else None

    # --- channel API ----------------------------------------------------------------------------
    async def open(self, params: "str | Mapping[str, Any] | None" = None) -> None:
        """The object's ``open(props)``; a failure leaves the channel in Error (logged)."""
        self._check_can_open()
        props = Config()
        for k, v in parse_params(params).items():
            props.set(k, v)
        self._ended = False
        self.obj.open(props)

    async def close(self) -> None:
        if self.state in (CLOSED, CLOSING):
            return
        task, self._process_task = self._process_task, None
        if task is not None:
            task.cancel()
        self.obj.close()

    def free(self) -> None:
        """The object's ``free()`` (``_free``): at the end of the process."""
        self.obj.free()

    def post(self, msgid: int, seq: int, body: bytes = b"", *, addr: int | None = None) -> None:
        self._post(Message(msgid, body, Type.Data, seq, addr or 0))

    def _post_control(self, msgid: int, body: bytes, seq: int, addr: int | None) -> None:
        self._post(Message(msgid, body, Type.Control, seq, addr or 0))

    def _post(self, msg: Message) -> None:
        try:
            self.obj.post(msg, 0)
        except StreamprotoError:
            raise
        except Exception as e:   # noqa: BLE001 - the user's _post failed
            self.obj.log.exception("Failed to post")
            raise TLLError(f"{self.name}: post failed: {type(e).__name__}: {e}") from None


register_protocol("python", PythonChannel)
