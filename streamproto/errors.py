"""The streamproto exception tree: every error this package raises derives from StreamprotoError."""
from __future__ import annotations


class StreamprotoError(Exception):
    """Root of every error raised by streamproto."""


class ConfigError(StreamprotoError):
    """A channel URL or YAML configuration is invalid (names the key and the bad value)."""


class StorageError(StreamprotoError):
    """A storage file is unreadable or a write is refused (names the file and byte offset)."""


class ProtocolError(StreamprotoError):
    """A peer sent bytes that break the wire protocol (names the connection and what was wrong)."""


class ChannelError(StreamprotoError):
    """A channel operation failed: closed, wrong state, seq out of order, and the like."""
