# Tutorial chapter 4: chapter 3's generator, now also told when clients connect to its
# `pub+tcp` output (the chapter's C++ callback for the output tag, in Python).
import decimal
import random

from tll.channel.logic import Logic


class Generator(Logic):
    def _init(self, url, master=None):
        super()._init(url, master)
        self._input = self._channels['input'][0]
        self._output = self._channels['output'][0]
        self._next_transaction_id = 1
        self._random = random.Random()

    def _logic(self, channel, msg):
        if channel == self._output:
            if msg.type == msg.Type.Control:
                name = channel.unpack(msg).SCHEME.name
                if name == 'Connect':
                    self.log.info("client connected!")
                elif name == 'Disconnect':
                    self.log.info("client disconnected!")
            return
        if msg.type != msg.Type.Data:
            return
        if channel != self._input:
            return
        timer = channel.unpack(msg)
        self._output.post({
            'time': timer.ts,
            'id': self._next_transaction_id,
            'price': decimal.Decimal(self._random.randint(1, 100000)) / 100,
            'count': self._random.randint(1, 100),
        }, name='Transaction')
        self._next_transaction_id += 1
