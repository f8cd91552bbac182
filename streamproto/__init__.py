"""TLL's wire and disk in pure Python: tcp frames, pub+tcp, stream+, file:// and rotate+file:// storage."""
from streamproto.errors import (ChannelError, ConfigError, LocalProtocolError, ProtocolError,
                                RemoteProtocolError, StorageError, StreamprotoError)

__all__ = ["StreamprotoError", "ConfigError", "StorageError", "ProtocolError",
           "LocalProtocolError", "RemoteProtocolError", "ChannelError"]
