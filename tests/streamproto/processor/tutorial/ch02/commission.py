# Tutorial chapter 2: the commission logic (1 % of price x count per Transaction), as written.
from tll.channel.logic import Logic

import decimal


class Commission(Logic):

    def _init(self, url, master=None):
        super()._init(url, master)

        input_channels = self._channels.get('input', [])
        if len(input_channels) != 1:
            raise RuntimeError("Need exactly one input, got: {}".format([c.name for c in input_channels]))

        self._input = input_channels[0]

        output_channels = self._channels.get('output', [])
        if len(output_channels) != 1:
            raise RuntimeError("Need exactly one output, got: {}".format([c.name for c in output_channels]))
        self._output = output_channels[0]

    def _open(self, props):
        super()._open(props)

    def _logic(self, channel, msg):
        if channel != self._input:
            return

        if msg.type != msg.Type.Data:
            return

        msg = channel.unpack(msg)

        if msg.SCHEME.name == 'Transaction':
            value = msg.price * msg.count * decimal.Decimal('0.01')

            self._output.post(
                {'time': msg.time, 'id': msg.id, 'value': value},
                name='Commission')
