"""Python logic objects shaped as TLL's Python API (``tll.channel.logic.Logic`` and friends).

A logic module written for TLL's ``tll-pyprocessor`` runs unchanged under ``streamproto run``:
there ``import tll...`` resolves to the facade in ``streamproto/tllfacade`` which re-exports these
names. See ``docs/processor.md`` for the API and a worked example.
"""
from streamproto.logic.base import Base, Logic
from streamproto.logic.context import Context, get_context
from streamproto.logic.handle import ChannelHandle, SchemeView
from streamproto.logic.log import Logger
from streamproto.logic.types import (Caps, DCaps, Message, MsgMask, State, TLLError, Type)

__all__ = ["Base", "Logic", "Context", "get_context", "ChannelHandle", "SchemeView", "Logger",
           "Caps", "DCaps", "Message", "MsgMask", "State", "TLLError", "Type"]
