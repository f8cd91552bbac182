"""``tll.logger.Logger``: a ``logging`` logger with TLL's ``{}`` formatting and level names."""
from __future__ import annotations

import logging
from typing import Any

__all__ = ["Logger", "TRACE"]

TRACE = 5
logging.addLevelName(TRACE, "TRACE")


class Logger:
    """``Logger("tll.channel.NAME")``; ``log.info("Got {} messages", n)`` formats with
    :meth:`str.format` when arguments are given; ``fail(value, ...)`` logs an error and returns
    ``value``."""

    __slots__ = ("_log", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._log = logging.getLogger(name)

    def _emit(self, level: int, fmt: Any, args: tuple, kw: dict, exc: bool = False) -> None:
        log = self._log
        if not log.isEnabledFor(level):
            return
        text = str(fmt)
        if args or kw:
            try:
                text = text.format(*args, **kw)
            except (IndexError, KeyError, ValueError):
                text = f"{text} {args!r}"
        log.log(level, "%s", text, exc_info=exc, stacklevel=3)

    def trace(self, fmt: Any, *args: Any, **kw: Any) -> None:
        self._emit(TRACE, fmt, args, kw)

    def debug(self, fmt: Any, *args: Any, **kw: Any) -> None:
        self._emit(logging.DEBUG, fmt, args, kw)

    def info(self, fmt: Any, *args: Any, **kw: Any) -> None:
        self._emit(logging.INFO, fmt, args, kw)

    def warning(self, fmt: Any, *args: Any, **kw: Any) -> None:
        self._emit(logging.WARNING, fmt, args, kw)

    warn = warning

    def error(self, fmt: Any, *args: Any, **kw: Any) -> None:
        self._emit(logging.ERROR, fmt, args, kw)

    def critical(self, fmt: Any, *args: Any, **kw: Any) -> None:
        self._emit(logging.CRITICAL, fmt, args, kw)

    def exception(self, fmt: Any, *args: Any, **kw: Any) -> None:
        """An error with the current exception's traceback."""
        self._emit(logging.ERROR, fmt, args, kw, exc=True)

    def fail(self, value: Any, fmt: Any, *args: Any, **kw: Any) -> Any:
        self._emit(logging.ERROR, fmt, args, kw)
        return value

    def __repr__(self) -> str:
        return f"<Logger {self.name}>"
