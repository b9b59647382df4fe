"""User-facing errors, one line each, no traceback; ``qi_load.cli`` maps kinds to exit codes."""

from __future__ import annotations

__all__ = ["ConfigError", "OutputError", "QiLoadError", "RunFailed"]


class QiLoadError(Exception):
    """A clear, user-facing error: ``str(exc)`` names the file, field and value at fault.

    Raised as is, it means bad input (an option, scenario or file the user gave)."""


class ConfigError(QiLoadError):
    """A configuration file or option is wrong: ``file:line: field: problem``."""


class RunFailed(QiLoadError):
    """A run or command failed for a reason outside the user's input (a process, a port)."""


class OutputError(RunFailed):
    """The run directory could not be written (disk full, unwritable path): names the path."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: cannot write: {reason}")
        self.path = str(path)
        self.reason = reason
