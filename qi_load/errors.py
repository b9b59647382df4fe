"""User-facing errors: the CLI prints their message (no traceback) and exits with their code."""

from __future__ import annotations

__all__ = ["EXIT_CHECK_FAILED", "EXIT_ERROR", "EXIT_USAGE", "QiLoadError"]

EXIT_ERROR = 1
"""A run or command failed for a reason outside the user's input."""
EXIT_USAGE = 2
"""Bad input: a scenario, option or file the user gave is wrong."""
EXIT_CHECK_FAILED = 3
"""``--check`` / ``compare``: an SLO, target, alert or regression gate failed."""


class QiLoadError(Exception):
    """A clear, user-facing error: ``str(exc)`` names the file, field and value at fault."""

    def __init__(self, message: str, *, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code
