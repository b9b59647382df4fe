"""Counts of what the master dropped from the network, with rate-limited warnings."""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Final, Protocol

__all__ = ["DropCounter", "HasDrops", "drop_report", "reset_gates"]

_WARN_EVERY_S: Final = 10.0
"""A flood of bad messages must not become a flood of log lines: one warning per reason
per this many seconds, carrying the count since the last one."""


class DropCounter:
    """Dropped items by reason (``reason -> count``); reset when a new run starts."""

    def __init__(self, what: str, logger: logging.Logger) -> None:
        self.what = what
        self._log = logger
        self.counts: Counter[str] = Counter()
        self._unreported: Counter[str] = Counter()
        self._warned_at: dict[str, float] = {}

    def drop(self, reason: str, detail: str = "", n: int = 1) -> None:
        self.counts[reason] += n
        self._unreported[reason] += n
        now = time.monotonic()
        if now - self._warned_at.get(reason, -_WARN_EVERY_S) >= _WARN_EVERY_S:
            self._warned_at[reason] = now
            count = self._unreported.pop(reason)
            self._log.warning(
                "dropped %d %s (%s)%s", count, self.what, reason, f": {detail}" if detail else ""
            )

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))

    def reset(self) -> None:
        self.counts.clear()
        self._unreported.clear()
        self._warned_at.clear()


class HasDrops(Protocol):
    """A gate that counts what it drops."""

    @property
    def drops(self) -> DropCounter: ...

    def reset(self) -> None: ...


def drop_report(**sources: HasDrops | None) -> dict[str, dict[str, int]]:
    """``run.json``'s ``ingest`` section: per source, what was dropped and why."""
    return {name: s.drops.as_dict() for name, s in sources.items() if s is not None}


def reset_gates(*sources: HasDrops | None) -> None:
    """A new run: its own counts (and series)."""
    for source in sources:
        if source is not None:
            source.reset()
