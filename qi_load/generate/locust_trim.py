"""Bounded memory for Locust's per-second request counters on a long-running master."""

from __future__ import annotations

from typing import Any, Final

__all__ = ["KEEP_S", "trim_rate_counters"]

KEEP_S: Final = 60
"""Seconds of per-second counts kept: Locust reads only the last ~12 for its current rate."""


def trim_rate_counters(stats: Any, now: float, keep_s: int = KEEP_S) -> int:
    """Drop the ``num_reqs_per_sec`` / ``num_fail_per_sec`` entries (one per second per
    request name, merged from every worker report) older than ``keep_s`` seconds from every
    entry of Locust's ``RequestStats`` and its total; returns how many were dropped.

    Locust keeps one per second for the whole test on the master (~0.7 MB an hour at one
    request name); nothing reads them beyond its current-rate window.
    """
    cutoff = int(now) - keep_s
    dropped = 0
    for entry in (stats.total, *stats.entries.values()):
        for counts in (entry.num_reqs_per_sec, entry.num_fail_per_sec):
            old = [t for t in counts if t < cutoff]
            for t in old:
                del counts[t]
            dropped += len(old)
    return dropped
