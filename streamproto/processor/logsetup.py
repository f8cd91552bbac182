"""Logging as TLL's processor does it: the reference's line format and ``logger.levels``.

Lines look like ``2024-09-09 17:09:45.479 INFO tll.channel.input-channel: Recv message: ...``
(the reference's spdlog pattern ``%Y-%m-%d %H:%M:%S.%e %l %n: %v``) on stderr. ``logger.levels``
maps a logger name prefix to a level — ``tll: INFO``, or ``{name: tll, level: INFO}`` when the
key would clash with a longer one — as ``src/logger/logger.cc`` reads it. Levels: trace, debug,
info, warning (warn), error, critical (crit), any case. Without levels ``tll.*`` logs from DEBUG,
the reference's default.
"""
from __future__ import annotations

import logging
import sys
from typing import TextIO

from streamproto.errors import ConfigError
from streamproto.logic.log import TRACE
from streamproto.processor.config import Config

__all__ = ["configure", "FORMAT", "DATEFMT", "parse_level"]

FORMAT = "%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"
_LEVELS = {"trace": TRACE, "debug": logging.DEBUG, "info": logging.INFO,
           "warning": logging.WARNING, "warn": logging.WARNING, "error": logging.ERROR,
           "critical": logging.CRITICAL, "crit": logging.CRITICAL}
_HANDLER_MARK = "_streamproto_processor"


def parse_level(text: str, where: str) -> int:
    level = _LEVELS.get(text.strip().lower())
    if level is None:
        raise ConfigError(f"{where}: invalid level {text!r} (expected trace, debug, info, "
                          "warning, error or critical)")
    return level


def levels(cfg: Config | None) -> dict[str, int]:
    """``logger.levels`` as ``{logger name: level}``; ConfigError naming a bad entry."""
    out: dict[str, int] = {}
    node = cfg.sub("levels", throw=False) if cfg is not None else None
    if node is None:
        return out
    skip: set[str] = set()
    for key, sub in node.browse("**", cb=True):
        if key in skip or not key:
            continue
        value = sub.value()
        where = f"logger.levels.{key}"
        if value is not None:
            out[key] = parse_level(value, where)
            continue
        name, level = sub.get("name"), sub.get("level")
        if name is not None and level is not None:
            skip.update({f"{key}.name", f"{key}.level"})
            out[name] = parse_level(level, f"{where}.level")
    return out


def configure(cfg: Config | None, stream: TextIO | None = None) -> None:
    """Install the reference's line format on stderr (once) and apply ``logger.levels``."""
    lv = levels(cfg)
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, _HANDLER_MARK, False)), None)
    if handler is None:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT, DATEFMT))
        setattr(handler, _HANDLER_MARK, True)
        root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    logging.getLogger("tll").setLevel(logging.DEBUG)
    for name, level in sorted(lv.items()):
        logging.getLogger(name).setLevel(level)
