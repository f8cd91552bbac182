"""The tllschema exception tree: SchemeError and its children carry where the problem is."""
from __future__ import annotations


class SchemeError(Exception):
    """Root of every error raised by tllschema."""


class ParseError(SchemeError):
    """A scheme text is invalid; the message names the entry (message, field, enum) at fault."""


class _ValueError(SchemeError):
    """Common shape of encode and decode errors: message name, field path, offset."""

    action = "value"

    def __init__(self, reason: str, message: str | None = None, path: str = "", offset: int | None = None):
        self.reason = reason
        self.message = message
        self.path = path
        self.offset = offset
        super().__init__(self._text())

    def _text(self) -> str:
        sep = "" if self.path.startswith("[") or not self.message or not self.path else "."
        where = f"{self.message or ''}{sep}{self.path}"
        text = f"{where}: {self.reason}" if where else self.reason
        if self.offset is not None:
            text += f" (at byte offset {self.offset})"
        return text

    def within(self, step: str, message: str | None = None) -> "_ValueError":
        """Prefix the field path with `step` (a field name or `[i]`) and set the message name."""
        if self.path:
            sep = "" if self.path.startswith("[") else "."
            self.path = f"{step}{sep}{self.path}"
        else:
            self.path = step
        if message is not None:  # the outermost message names the error
            self.message = message
        self.args = (self._text(),)
        return self


class EncodeError(_ValueError):
    """A value cannot be encoded: wrong type, out of range, unknown enum name, too long."""


class DecodeError(_ValueError):
    """Bytes cannot be decoded: truncated, pointer out of bounds, invalid tag or enum value."""


class RuntimeABIError(SchemeError, ImportError):
    """A generated module was compiled for another tllschema runtime ABI: regenerate it."""
