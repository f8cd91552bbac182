"""``tll.channel``: states, message types, the message and channel classes logic code meets."""
from streamproto.logic.context import Context
from streamproto.logic.handle import ChannelHandle as Channel
from streamproto.logic.types import (Caps, DCaps, Message, MsgMask, State, Type)

__all__ = ["Caps", "Channel", "Context", "DCaps", "Message", "MsgMask", "State", "Type"]
