"""``tll.config``: :class:`Config` (a config tree, also ``self.config_info``) and :class:`Url`."""
from streamproto.processor.config import Config, ConfigUrl as Url

__all__ = ["Config", "Url"]
