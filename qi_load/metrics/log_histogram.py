"""Percentiles of many values in fixed memory: counts in logarithmic buckets 1 % wide."""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["BUCKETS", "RATIO", "bucket_counts", "histogram_percentile"]

RATIO: Final = 1.01
"""Each bucket's upper edge over its lower: a percentile read from the bucket's geometric
middle is within 0.5 % of the value it stands for."""
_LOW: Final = 1e-3
"""The first bucket's upper edge (in the values' unit; every value at or below it lands in
bucket 0): 1 µs for latencies in ms."""
BUCKETS: Final = math.ceil(math.log(1e10) / math.log(RATIO)) + 1
"""Buckets up to 10¹⁰ times ``_LOW`` (10⁷ ms, ~2.8 h); larger values land in the last."""
_LOG_RATIO: Final = math.log(RATIO)


def bucket_counts(values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """How many of the finite ``values`` fall in each bucket (an array of ``BUCKETS``)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    index = np.zeros(arr.size, dtype=np.int64)
    above = arr > _LOW
    index[above] = np.ceil(np.log(arr[above] / _LOW) / _LOG_RATIO).astype(np.int64)
    return np.bincount(np.minimum(index, BUCKETS - 1), minlength=BUCKETS).astype(np.int64)


def _middle(index: int) -> float:
    return _LOW if index == 0 else _LOW * RATIO ** (index - 0.5)


def histogram_percentile(counts: npt.NDArray[np.int64], q: float) -> float | None:
    """The ``q``-th percentile (0..100) as ``qi_load.metrics.percentile`` defines it (linear
    between closest ranks), each rank read as its bucket's middle; ``None`` when empty."""
    n = int(counts.sum())
    if n == 0:
        return None
    rank = q / 100.0 * (n - 1)
    below = np.cumsum(counts)
    lo, hi = math.floor(rank), math.ceil(rank)
    v_lo = _middle(int(np.searchsorted(below, lo, side="right")))
    v_hi = _middle(int(np.searchsorted(below, hi, side="right")))
    return v_lo + (rank - lo) * (v_hi - v_lo)
