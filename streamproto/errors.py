"""The streamproto exception tree: every error this package raises derives from StreamprotoError.

Protocol errors come in two kinds under :class:`ProtocolError` (as in h11):
:class:`LocalProtocolError` is our side misusing a protocol (a bug in the caller: an input not
valid in the current state, a value the wire cannot carry), :class:`RemoteProtocolError` is the
peer sending bytes that break it (the connection to that peer is dropped with a log line naming
it; the server goes on). ``except ProtocolError`` catches both.
"""
from __future__ import annotations


class StreamprotoError(Exception):
    """Root of every error raised by streamproto."""


class ConfigError(StreamprotoError):
    """A channel URL or YAML configuration is invalid (names the key and the bad value)."""


class StorageError(StreamprotoError):
    """A storage file is unreadable or a write is refused (names the file and byte offset)."""


class ProtocolError(StreamprotoError):
    """A wire protocol was broken, by us (:class:`LocalProtocolError`) or by the peer
    (:class:`RemoteProtocolError`); the message names the connection and what was wrong."""


class LocalProtocolError(ProtocolError):
    """Our side misused a protocol: an input the state machine does not accept in its current
    state, or a value the wire cannot carry. A bug in the caller, never caused by a peer."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that break the protocol; the connection to that peer is dropped."""


class ChannelError(StreamprotoError):
    """A channel operation failed: closed, wrong state, seq out of order, and the like."""
