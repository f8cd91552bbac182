"""``stream+pub+tcp://``: asyncio stream server and client (``docs/network-format.md#stream-components``).

Server — stores every post, publishes it online, answers history requests::

    from streamproto.stream.channel import StreamServer
    url = ("stream+pub+tcp:///tmp/s/online.sock;mode=server;request=tcp:///tmp/s/request.sock;"
           "storage=rotate+file:///tmp/s/storage;autoseq=yes;scheme=yaml://transaction.yaml")
    async with StreamServer(url) as server:        # or: server = StreamServer(url); await server.open()
        seq = server.post(10, 0, body)             # -> stored seq (last + 1 with autoseq)
        server.rotate()                            # rotate+file:// only: start a new file
        server.last_seq                            # last stored seq, -1 when empty
        server.addresses                           # [online..., request...]

``post_many([(msgid, seq, body), ...]) -> int`` stores them one by one with the same checks and
publishes them online at once. History requests share storage reads: see
:class:`~streamproto.stream.history.SharedHistory`.

``post(msgid, seq, body) -> int``: ``max-size`` check (ChannelError) -> autoseq -> ``seq > last``
(:class:`SeqError`, a ChannelError) -> storage write (StorageError: nothing is published) ->
online pub -> wakes the request connections waiting for new data. Never blocks: a slow request
client is paused at ``request.send-buffer-hwm`` (default 256 KiB) buffered bytes, a slow online
subscriber is dropped by the pub ring. Server events: State, and the online child's
``Connect``/``Disconnect`` controls (``addr`` = subscriber id).

Server init parameters (prefix ``stream.``): ``mode=server``, ``request=`` / ``request.url=`` /
``request.tll.proto=...`` (tcp, ``mode=server`` implied), ``storage=`` (``file://`` or
``rotate+file://``; ``dir=w`` and ``scheme`` implied), ``autoseq``, ``max-size``, ``scheme``,
``server-name`` (Reply.server, empty by default as in the reference). Everything else (except
``dump``/``stat`` and the children's sub-trees) also reaches the online ``pub+tcp`` server, e.g.
``pub.size=4mb``. Open parameters ``storage.*``/``request.*`` go to those children.

Client — history from a seq, then live data::

    from streamproto.stream.channel import StreamClient
    url = "stream+pub+tcp:///tmp/s/online.sock;request=tcp:///tmp/s/request.sock;peer=c0"
    async with StreamClient(url, params={"mode": "seq", "seq": 0}) as client:
        async for ev in client:                    # ends after Closed or Error
            if isinstance(ev, StreamData): ev.msgid, ev.seq, ev.body, ev.online
            elif isinstance(ev, Control) and ev.name == "Online": ...   # ev.seq = last delivered
            elif isinstance(ev, State): ev.state, ev.reason
        client.last_seq, client.reopen_params()    # {'mode': 'seq-data', 'seq': last}

``await client.open(params)`` (``mode`` = online | seq | seq-data | last | initial [| block];
``seq``) returns once the online connection is made; ``await client.close()``;
``client.close_nowait()`` is safe inside an ``on_event`` callback; a closed (or failed) client
can be opened again. With ``on_event=callback`` events are delivered synchronously instead of
queued. Batches: with ``on_batch=callback`` (or ``async for item in client.batches()``) data
arrives as :class:`~streamproto.stream.client.StreamBatch` objects, one per received buffer
(``messages`` tuples and the ``online`` flag; history and online data never share one). Init parameters: ``request`` (mandatory), ``peer``, ``stream.protocol`` (new | old),
``stream.size`` (online buffer, default 128 KiB). Errors (server Error reply, request EOF before
catch-up, online EOF) end in ``State('Error', reason)``.

Blocking use from scripts: :func:`streamproto.stream.blocking.subscribe`.
Both classes are registered as ``stream+pub+tcp`` (``mode=server`` / client) in
:mod:`streamproto.registry`.
"""
from __future__ import annotations

from typing import Any

from streamproto.config import Url
from streamproto.errors import ConfigError
from streamproto.events import Control, Data, State
from streamproto.registry import register_protocol
from streamproto.storage.writer import SeqError
from streamproto.stream.client import StreamBatch, StreamData
from streamproto.stream.client_channel import StreamClient
from streamproto.stream.server_channel import StreamServer, online_url

__all__ = ["StreamServer", "StreamClient", "StreamData", "StreamBatch", "SeqError", "online_url",
           "Control", "Data", "State"]


def _factory(url: Url, **kw: Any) -> Any:
    mode = url.get("mode", "client", None, ("stream",)) or "client"
    if mode == "server":
        return StreamServer(url, **kw)
    if mode == "client":
        return StreamClient(url, **kw)
    raise ConfigError(f"{url.proto}: parameter 'mode': invalid value {mode!r} "
                      "(expected server or client)")


register_protocol("stream+pub+tcp", _factory)
