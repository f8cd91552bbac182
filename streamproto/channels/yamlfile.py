"""``yaml://FILE``: messages from a YAML list, encoded with the channel's scheme (TLL's yaml channel).

Each list item is ``{name, data, seq?, addr?, type?, time?}`` with a scheme (``data`` is the
message's fields, see :mod:`streamproto.channels.fromconfig`), or ``{msgid, data, ...}`` without
one (``data`` is the body text). The file is read the reference's way on every open (all scalars
are text, so ``time: 2024-04-24T11:04:05.123456789`` keeps its nanoseconds) and the messages are
delivered in order once the channel is Active; then, with ``autoclose`` (default yes), it logs
"All messages processed. Closing" and closes.

As in the reference (its ``_messages`` and ``_idx`` outlive a close), each open appends the
file's messages to those not delivered yet: an input closed part-way (its logic failed, the
processor closed it) goes on where it stopped before the file starts again, and a message that
cannot be encoded fails the channel on every reopen without the ones before it coming again.

Init parameters (prefix ``yaml.``): ``scheme``, ``autoclose`` (yes), ``autoseq`` (no: each
message's ``seq``, default 0; yes: the first message's seq, then +1 each), ``strict`` (yes: a key
that is no field is an error), ``scheme-control`` (for ``type: control`` items) and ``config.*``
(the list inline in the init instead of a file). Written from the reference's
``src/channel/yaml.cc`` and ``yaml.rst``.
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Mapping

from streamproto.channel import Channel
from streamproto.channels.fromconfig import FieldValueError, message_values
from streamproto.config import Url, parse_bool, parse_params
from streamproto.errors import ChannelError, ConfigError, StreamprotoError
from streamproto.events import ACTIVE, CLOSED, CLOSING, ERROR, OPENING, Control, Data
from streamproto.processor.config import Config, load
from streamproto.registry import register_protocol

__all__ = ["YamlChannel"]

BATCH = 256       # messages delivered per loop step


class _FillError(ConfigError):
    """A message the scheme cannot take (the reference's ``_fill`` failing)."""


class YamlChannel(Channel):
    """``yaml://FILE;scheme=yaml://S.yaml;autoseq=yes`` (see module doc)."""

    PREFIX = "yaml"

    def __init__(self, url: "Url | str | Mapping[str, Any]", **kw: Any) -> None:
        super().__init__(url, **kw)
        self.filename = self.url.host
        inline = self.url.sub("config")
        self.inline: Config | None = None
        if inline:
            self.inline = Config()
            for k, v in inline.items():
                self.inline.set(k, v)
        elif not self.filename:
            raise ConfigError(f"{self.name}: need either a file name (yaml://FILE) or a "
                              "'config' subtree")
        self.autoclose = self.param("autoclose", True, parse_bool)
        self.autoseq = self.param("autoseq", False, parse_bool)
        self.strict = self.param("strict", True, parse_bool)
        self._control_url = self.param("scheme-control", None)
        if not self.param("scheme", None):
            self.log.info("Working with raw data without scheme")
        self._task: asyncio.Task[None] | None = None
        self._seq = -1
        self._index = 0                     # messages read so far (the reference's _idx)
        self._pending: deque[Config] = deque()   # read, not delivered yet

    @property
    def control_scheme(self) -> Any:
        if not self._control_url:
            return None
        if not hasattr(self, "_cscheme"):
            import tllschema
            try:
                self._cscheme = tllschema.load(self._control_url)
            except tllschema.SchemeError as e:
                raise ConfigError(f"{self.name}: parameter 'scheme-control': {e}") from None
        return self._cscheme

    def read_messages(self) -> list[Config]:
        """The message list (file read now, or the inline ``config``); ConfigError when unreadable."""
        cfg = self.inline if self.inline is not None else load(self.filename)
        return cfg.children()

    async def open(self, params: "str | Mapping[str, Any] | None" = None) -> None:
        """Read the file, go Active and start delivering its messages."""
        self._check_can_open()
        parse_params(params)
        self._ended = False
        self._set_state(OPENING)
        try:
            messages = self.read_messages()
            self.scheme                     # noqa: B018 - load (and check) the scheme now
            self.control_scheme             # noqa: B018
        except StreamprotoError as e:
            self._set_state(ERROR, str(e))
            raise
        self._pending.extend(messages)
        self.log.debug("%d messages in file %s", self._index + len(self._pending), self.filename)
        self._seq = -1
        self._set_state(ACTIVE)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        pending = self._pending
        n = 0
        while pending:
            if self.state != ACTIVE:
                return
            i = self._index
            try:
                ev = self._message(i, pending[0])
            except (StreamprotoError, FieldValueError) as e:
                self.log.error("%s", e)                         # the reference's lines
                if isinstance(e, _FillError):
                    self.log.error("Failed to fill message %d", i)
                self.log.error("Process failed")
                self._set_state(ERROR, f"message {i}: {e}")
                return
            pending.popleft()
            self._index = i + 1
            self._emit(ev)
            n += 1
            if n % BATCH == 0:
                await asyncio.sleep(0)
        if self.state != ACTIVE:
            return
        if self.autoclose:
            self.log.info("All messages processed. Closing")
            self._task = None
            await self.close()

    def _message(self, index: int, cfg: Config) -> Data | Control:
        """The message of list item ``index``; ConfigError with the reference's text (a
        :class:`_FillError` for what its ``_fill`` reports)."""
        from streamproto.config import parse_int
        try:
            seq = parse_int(cfg.get("seq", "0") or "0", "seq")
            addr = parse_int(cfg.get("addr", "0") or "0", "addr")
            kind = cfg.get("type", "data")
            if kind not in ("data", "control"):
                raise ConfigError(f"type: invalid value {kind!r} (expected data or control)")
        except ConfigError as e:
            raise ConfigError(f"Invalid parameters in message {index}: {e}") from None
        if self.autoseq:
            if self._seq == -1:
                self._seq = seq
            else:
                self._seq += 1
                seq = self._seq
        scheme = self.control_scheme if kind == "control" else self.scheme
        if scheme is None:
            try:
                msgid = parse_int(cfg.get("msgid", "0") or "0", "msgid")
            except ConfigError as e:
                raise ConfigError(f"Invalid parameters in message {index}: {e}") from None
            data = cfg.get("data")
            if data is None:
                raise ConfigError(f"No 'data' field for message without scheme {index}")
            body = data.encode("utf-8", "surrogateescape")
            name = None
        else:
            data_cfg = cfg.sub("data", throw=False)
            if data_cfg is None:
                raise _FillError(f"No 'data' field for message {index}")
            name = cfg.get("name")
            if name is None:
                raise _FillError(f"No 'name' field for message {index}")
            import tllschema
            try:
                message = scheme.message(name)
            except tllschema.SchemeError:
                raise _FillError(f"Message '{name}' not found in scheme for {index}") from None
            try:
                values = message_values(message, data_cfg, self.strict)
                body = message.encode(values)
            except FieldValueError as e:
                raise _FillError(f"Failed to encode message {name} at {e}") from None
            except tllschema.SchemeError as e:
                raise _FillError(f"Failed to encode message {name}: {e}") from None
            msgid = message.msgid
        if kind == "control":
            return Control(name or str(msgid), msgid, seq, body, addr or None)
        return Data(msgid, seq, body, addr or None)

    def post(self, msgid: int, seq: int, body: bytes = b"", *, addr: int | None = None) -> None:
        raise ChannelError(f"{self.name}: yaml:// does not accept posts")

    async def close(self) -> None:
        if self.state in (CLOSED, CLOSING):
            return
        await super().close()

    async def _shutdown(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):   # noqa: BLE001 - ended either way
                pass


register_protocol("yaml", YamlChannel)
