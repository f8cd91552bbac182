# A logic for chapter 12's scheme (not in the tutorial): every message of `input` is written
# to `output` with its seq, as unpacked, and its enum, union and time fields are logged.
from tll.channel.logic import Logic


class Copy(Logic):
    def _init(self, url, master=None):
        super()._init(url, master)
        self._input = self._channels['input'][0]
        self._output = self._channels['output'][0]

    def _logic(self, channel, msg):
        if channel != self._input or msg.type != msg.Type.Data:
            return
        m = channel.unpack(msg)
        if m.SCHEME.name == 'my_message':
            self.log.info("enum {}, union {}, time {}, duration {}, string {!r}", m.enum_field,
                          m.union_field.type, m.time_point_field, m.duration_field,
                          m.string_field)
        self._output.post(m, seq=msg.seq)
