"""``tll.logger``: :class:`Logger` with ``{}`` formatting; ``configure({'levels': {...}})``."""
from typing import Any

from streamproto.logic.log import Logger

__all__ = ["Logger", "configure", "init"]


def init(*args: Any, **kw: Any) -> None:
    """Accepted for compatibility: logging is set up by the processor."""


def configure(cfg: Any) -> None:
    """Apply ``{'levels': {prefix: LEVEL}}`` (a dict or a Config)."""
    from streamproto.processor.config import Config
    from streamproto.processor.logsetup import configure as _configure
    _configure(cfg if isinstance(cfg, Config) or cfg is None else Config(cfg))
