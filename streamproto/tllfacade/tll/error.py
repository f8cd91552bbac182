"""``tll.error``: :class:`TLLError`, raised by failed channel calls."""
from streamproto.logic.types import TLLError

__all__ = ["TLLError"]
