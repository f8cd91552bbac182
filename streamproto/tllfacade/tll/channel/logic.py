"""``tll.channel.logic``: :class:`Logic`, the class logic objects derive from."""
from streamproto.logic.base import Logic

__all__ = ["Logic"]
