# Tutorial chapter 7: chapter 2's commission logic exporting the stream client's open
# parameters in its config `info` (mode seq from 0, then the seq after the last one seen).
# The chapter leaves `self._last_seq = msg.seq + 1` in _logic to the reader: it is set for
# every data message of the input.
from tll.channel.logic import Logic
from tll.config import Config

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

        request_config = Config()
        request_config["mode"] = 'seq'
        request_config["seq"] = '0'

        self.config_info.set("input-open-params", request_config)

    def _open(self, props):
        super()._open(props)

        self._last_seq = self.config_info["input-open-params.seq"]

        self.config_info["input-open-params.seq"] = lambda: str(self._last_seq)

    def _close(self):
        super()._close()

        self.config_info["input-open-params.seq"] = str(self._last_seq)

    def _logic(self, channel, msg):
        if channel != self._input:
            return

        if msg.type != msg.Type.Data:
            return

        self._last_seq = msg.seq + 1

        msg = channel.unpack(msg)

        if msg.SCHEME.name == 'Transaction':
            value = msg.price * msg.count * decimal.Decimal('0.01')

            self._output.post(
                {'time': msg.time, 'id': msg.id, 'value': value},
                name='Commission')
