# Tutorial chapter 3: the generator logic. The chapter writes it in C++ (a Tagged logic with
# `input`/`output` channels and a TransactionGenerator); this is the same logic in Python:
# one random Transaction per timer message, ids from 1, price 0.01..1000.00, count 1..100,
# time = the timer's `ts`.
import decimal
import random

from tll.channel.logic import Logic


class Generator(Logic):
    def _init(self, url, master=None):
        super()._init(url, master)
        for tag in ('input', 'output'):
            if len(self._channels.get(tag, [])) != 1:
                raise RuntimeError("Need exactly one {}".format(tag))
        self._input = self._channels['input'][0]
        self._output = self._channels['output'][0]
        self._next_transaction_id = 1
        self._random = random.Random()

    def _logic(self, channel, msg):
        if msg.type != msg.Type.Data:
            return
        if channel != self._input:
            return
        timer = channel.unpack(msg)          # the timer's `absolute` message: ts
        self._output.post({
            'time': timer.ts,
            'id': self._next_transaction_id,
            'price': decimal.Decimal(self._random.randint(1, 100000)) / 100,
            'count': self._random.randint(1, 100),
        }, name='Transaction')
        self._next_transaction_id += 1
