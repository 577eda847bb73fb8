"""Errors that name where bad input came from."""

from __future__ import annotations


class LongRMError(Exception):
    """Base class: an error the CLI prints as one line and exits 2 on."""


class InputError(LongRMError):
    """Bad input data: names the file, the line (1-based, when known) and the field."""

    def __init__(self, path, message: str, line: int | None = None, field: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        self.reason = message
        where = self.path if line is None else f"{self.path}:{line}"
        what = f" field '{field}'" if field else ""
        super().__init__(f"{where}:{what} {message}".replace(": ", ": ", 1))


class ConfigError(LongRMError):
    """An invalid config: names the file, the key path and the reason."""
