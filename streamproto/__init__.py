"""TLL's wire and disk in pure Python: tcp frames, pub+tcp, stream+, file:// and rotate+file:// storage."""
from typing import TYPE_CHECKING

from streamproto.errors import (ChannelError, ConfigError, LocalProtocolError, ProtocolError,
                                RemoteProtocolError, StorageError, StreamprotoError)

if TYPE_CHECKING:  # imported lazily below: `import streamproto` needs neither pyarrow nor storage
    from streamproto.export.table import read_table, read_tables

__all__ = ["StreamprotoError", "ConfigError", "StorageError", "ProtocolError",
           "LocalProtocolError", "RemoteProtocolError", "ChannelError", "read_table", "read_tables"]


def __getattr__(name: str) -> object:
    """``read_table`` and ``read_tables`` (streamproto.export), imported on first use."""
    if name in ("read_table", "read_tables"):
        from streamproto.export import table
        return getattr(table, name)
    raise AttributeError(f"module 'streamproto' has no attribute {name!r}")
