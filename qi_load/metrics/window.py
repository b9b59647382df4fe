"""Stage membership: a stage's steady-state window, and which requests belong to it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["MIN_TYPE_REQUESTS", "MIN_WINDOW_REQUESTS", "ends_in", "request_end", "window_start"]

MIN_WINDOW_REQUESTS: Final = 20
"""Fewer requests ending in a stage's steady-state window and its figures are flagged (a p95
of fewer than 20 values is its largest or second-largest value). Below it a stage is
"insufficient data" for the knee, the limit and the capacity: it is left out of them."""
MIN_TYPE_REQUESTS: Final = 5
"""Fewer values of one query type in a window and its SLO checks there read "insufficient
data" instead of pass or fail (a p95 of 4 values is their maximum)."""


def window_start(ramp_end: float, end: float, settle_s: float) -> float:
    """Start of the window ``[ramp_end + settle, end)``; a settle longer than the hold would
    leave nothing, so the window keeps at least the second half of the hold."""
    return min(ramp_end + settle_s, ramp_end + 0.5 * max(end - ramp_end, 0.0))


def request_end(
    ts_start: npt.ArrayLike, e2e_ms: npt.ArrayLike | Sequence[float | None] | None
) -> npt.NDArray[np.float64]:
    """When requests ended (unix s): ``ts_start + e2e``; a failure without a latency (NaN or
    None) ends where it started."""
    e2e = np.nan_to_num(np.asarray(e2e_ms, dtype=np.float64), nan=0.0)
    return np.asarray(np.asarray(ts_start, dtype=np.float64) + e2e / 1000.0, dtype=np.float64)


def ends_in(ends: npt.ArrayLike, t0: float, t1: float) -> npt.NDArray[np.bool_]:
    """Which requests (by their end) belong to the window ``[t0, t1)``: a request counts in
    the window in which it ended, so each finished request is in at most one window."""
    arr = np.asarray(ends, dtype=np.float64)
    return np.asarray((arr >= t0) & (arr < t1), dtype=np.bool_)
