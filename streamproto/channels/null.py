"""``null://``: never produces a message, accepts (and drops) every post, as TLL's null channel."""
from __future__ import annotations

from typing import Any, Mapping

from streamproto.channel import Channel
from streamproto.events import ACTIVE, OPENING
from streamproto.registry import register_protocol

__all__ = ["NullChannel"]


class NullChannel(Channel):
    """``null://``: a sink. ``post`` and ``post_control`` succeed and do nothing."""

    PREFIX = "null"

    async def open(self, params: "str | Mapping[str, Any] | None" = None) -> None:
        self._check_can_open()
        self.open_params(params)
        self._ended = False
        self._set_state(OPENING)
        self._set_state(ACTIVE)

    def post(self, msgid: int, seq: int, body: bytes = b"", *, addr: int | None = None) -> None:
        """Drop the message."""

    def _post_control(self, msgid: int, body: bytes, seq: int, addr: int | None) -> None:
        """Drop the control message."""


register_protocol("null", NullChannel)
