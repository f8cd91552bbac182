"""``tll.channel.base``: :class:`Base`, the class Python channels derive from."""
from streamproto.logic.base import Base

__all__ = ["Base"]
