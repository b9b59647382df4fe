"""A stage's steady-state window, and how many requests it needs (pure, no pandas)."""

from __future__ import annotations

from typing import Final

__all__ = ["MIN_WINDOW_REQUESTS", "window_start"]

MIN_WINDOW_REQUESTS: Final = 20
"""Fewer requests ending in a stage's steady-state window and its figures are flagged (a p95
of fewer than 20 values is its largest or second-largest value)."""


def window_start(ramp_end: float, end: float, settle_s: float) -> float:
    """Start of the window ``[ramp_end + settle, end)``; a settle longer than the hold would
    leave nothing, so the window keeps at least the second half of the hold."""
    return min(ramp_end + settle_s, ramp_end + 0.5 * max(end - ramp_end, 0.0))
