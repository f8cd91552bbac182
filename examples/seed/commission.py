"""The seed's commission logic: one Commission per Transaction.

Channels: ``input`` (the stream+ client of the generator), ``output`` (the file the Commissions
go to). Each Commission has the Transaction's ``time`` and ``id``, its ``seq`` is the
Transaction's seq, and ``value`` is 1 % of price x count rounded half-even to 2 places. A
Transaction seen again (the stream replayed after a reconnect) is skipped, so each one gets
exactly one Commission. Runs under ``streamproto run`` and TLL's ``tll-pyprocessor`` alike.
"""
import decimal

from tll.channel.logic import Logic

CENT = decimal.Decimal('0.01')


def commission_value(price, count):
    """1 % of price x count, rounded half-even to 2 places."""
    return (price * count * CENT).quantize(CENT, rounding=decimal.ROUND_HALF_EVEN)


class Commission(Logic):
    def _init(self, url, master=None):
        super()._init(url, master)
        self._input = self._single('input')
        self._output = self._single('output')
        self._last_seq = -1

    def _single(self, tag):
        channels = self._channels.get(tag, [])
        if len(channels) != 1:
            raise RuntimeError("Need exactly one {}, got: {}".format(tag, [c.name for c in channels]))
        return channels[0]

    def _logic(self, channel, msg):
        if channel != self._input or msg.type != msg.Type.Data:
            return
        if msg.seq <= self._last_seq:
            return
        transaction = channel.unpack(msg)
        if transaction.SCHEME.name != 'Transaction':
            return
        self._output.post({
            'time': transaction.time,
            'id': transaction.id,
            'value': commission_value(transaction.price, transaction.count),
        }, name='Commission', seq=msg.seq)
        self._last_seq = msg.seq
