"""The seed's generator logic: a random Transaction for every timer tick, a Rotate every 50.

Channels: ``input`` (a timer), ``output`` (the stream+ server storing and publishing the
Transactions). Open parameter ``seed`` (optional) makes the random Transactions reproducible.
Runs under ``streamproto run`` and under TLL's ``tll-pyprocessor`` alike.
"""
import decimal
import random

from tll.channel.logic import Logic

ROTATE_EVERY = 50       # Transactions per storage file


class Generator(Logic):
    def _init(self, url, master=None):
        super()._init(url, master)
        self._input = self._single('input')
        self._output = self._single('output')
        self._random = random.Random()
        self._next_id = 1
        self._posted = 0

    def _single(self, tag):
        channels = self._channels.get(tag, [])
        if len(channels) != 1:
            raise RuntimeError("Need exactly one {}, got: {}".format(tag, [c.name for c in channels]))
        return channels[0]

    def _open(self, props):
        super()._open(props)
        seed = props.get('seed', None)
        if seed:
            self._random.seed(int(seed))

    def _logic(self, channel, msg):
        if channel != self._input or msg.type != msg.Type.Data:
            return
        tick = channel.unpack(msg)
        if tick.SCHEME.name != 'absolute':
            return
        if self._posted and self._posted % ROTATE_EVERY == 0:
            self._output.post({}, name='Rotate', type=msg.Type.Control)
        self._output.post({
            'time': tick.ts,
            'id': self._next_id,
            'price': decimal.Decimal(self._random.randint(1, 100000)) / 100,
            'count': self._random.randint(1, 100),
        }, name='Transaction')
        self._next_id += 1
        self._posted += 1
