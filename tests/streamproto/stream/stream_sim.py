"""A deterministic, in-memory stream server + client harness over the two sans-I/O cores.

Connections are FIFO queues; the test decides what gets delivered when (``step_*``), which lets
hypothesis explore interleavings of posts, pub deliveries, history and request replies.
"""
from __future__ import annotations

from collections import deque

from streamproto import events as ev
from streamproto.stream.client import (CloseRequest, Command, OpenRequest, SendRequest,
                                       StreamClientCore)
from streamproto.stream.server import Disconnect, MemoryHistory, RequestSession, Send

EOF_ = object()


class Sim:
    def __init__(self, stored=(), *, protocol="new", ring_size=128 * 1024, batch=4,
                 high_water=1 << 20, hello_seq=None):
        self.storage = MemoryHistory(stored)
        self.client = StreamClientCore(protocol=protocol, ring_size=ring_size)
        self.batch, self.high_water = batch, high_water
        self.hello_seq = hello_seq
        self.pub: deque = deque()       # server -> client online
        self.s2c: deque = deque()       # server -> client request connection
        self.c2s: deque = deque()       # client -> server request connection
        self.session: RequestSession | None = None
        self.subscribed = False
        self.client_closed_request = False
        self.server_closed_request = False
        self.events: list = []
        self.commands: list = []

    # client side
    def take(self, out):
        for o in out:
            if not isinstance(o, Command):
                self.events.append(o)
                continue
            self.commands.append(o)
            if isinstance(o, OpenRequest):
                self.session = RequestSession(self.storage, batch=self.batch,
                                              high_water=self.high_water)
                self.take(self.client.request_connected())
            elif isinstance(o, SendRequest):
                if not self.client_closed_request:
                    self.c2s.append((o.msgid, o.seq, o.body))
            elif isinstance(o, CloseRequest):
                self.client_closed_request = True
                self.s2c.clear()
                self.c2s.clear()
                if self.session:
                    self.session.eof()

    def open(self, **kw):
        self.take(self.client.open(**kw))
        self.subscribed = True
        seq = self.storage.last_seq if self.hello_seq is None else self.hello_seq
        self.take(self.client.online_active(seq))

    def post(self, msgid, seq, body):
        self.storage.append(msgid, seq, body)
        if self.subscribed:
            self.pub.append((msgid, seq, body))

    def step_pub(self) -> bool:
        if not self.pub:
            return False
        self.take(self.client.online_message(*self.pub.popleft()))
        return True

    def step_req(self) -> bool:
        if not self.s2c:
            return False
        item = self.s2c.popleft()
        if item is EOF_:
            self.take(self.client.request_closed())
        else:
            self.take(self.client.request_message(*item))
        return True

    def step_server(self) -> bool:
        s = self.session
        if s is None or self.server_closed_request or self.client_closed_request:
            return False
        moved = False
        while self.c2s:
            moved = True
            for o in s.receive(*self.c2s.popleft()):
                if isinstance(o, Send):
                    self.s2c.append((o.msgid, o.seq, o.body))
                elif isinstance(o, Disconnect):
                    self.server_closed_request = True
                    self.s2c.append(EOF_)
                    return True
        if s.streaming:
            batch = s.pull(0)
            if batch:
                self.s2c.extend(batch)
                moved = True
        return moved

    def run(self):
        """Deliver everything in flight."""
        while self.step_server() | self.step_req() | self.step_pub():
            pass

    # results
    def data(self):
        return [e for e in self.events if isinstance(e, ev.Data)]

    def controls(self):
        return [e for e in self.events if isinstance(e, ev.Control)]

    def states(self):
        return [e.state for e in self.events if isinstance(e, ev.State)]
