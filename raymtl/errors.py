"""Errors that name where the problem is (file, line, field) so users can fix their input."""

from __future__ import annotations

from pathlib import Path


class RaymtlError(Exception):
    """Base class of every error raymtl reports to users (the CLI prints it without a traceback)."""


class DataError(RaymtlError):
    """Malformed or inconsistent input data, located by file, line and field."""

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None,
                 field: str | None = None):
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        where = ""
        if self.file:
            where = self.file
            if line is not None:
                where += f":{line}"
        if field:
            where += f" [{field}]" if where else f"[{field}]"
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(RaymtlError):
    """An invalid config or search space, located by file and key."""

    def __init__(self, message: str, *, file: str | Path | None = None, key: str | None = None):
        self.file = str(file) if file is not None else None
        self.key = key
        where = self.file or ""
        if key:
            where += f" [{key}]" if where else f"[{key}]"
        super().__init__(f"{where}: {message}" if where else message)
