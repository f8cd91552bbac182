"""``pub+tcp://`` publish/subscribe: sans-I/O core in :mod:`.protocol`, asyncio channels in :mod:`.channel`."""
from streamproto.pub.channel import PubClient, PubServer
from streamproto.pub.protocol import PubClientCore, PubRing, PubServerCore

__all__ = ["PubServer", "PubClient", "PubServerCore", "PubClientCore", "PubRing"]
