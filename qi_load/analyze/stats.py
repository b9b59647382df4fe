"""Percentile summaries (always with n) and bootstrap confidence intervals."""

from __future__ import annotations

from typing import Final, TypedDict

import numpy as np
import numpy.typing as npt

__all__ = [
    "MIN_SAMPLES_P99",
    "Percentiles",
    "bootstrap_ci",
    "percentiles",
]

MIN_SAMPLES_P99: Final = 100
"""Below this many samples a p99 is little more than the maximum: it is flagged."""

FloatArray = npt.NDArray[np.float64]


class Percentiles(TypedDict):
    """A latency (or other) distribution summary; values are ``None`` when ``n == 0``."""

    n: int
    mean: float | None
    std: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    max: float | None
    p99_flagged: bool


def percentiles(values: npt.ArrayLike) -> Percentiles:
    """p50/p90/p95/p99/max, mean and std of the finite values, with their count."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    n = int(arr.size)
    if n == 0:
        return Percentiles(
            n=0, mean=None, std=None, p50=None, p90=None, p95=None, p99=None, max=None,
            p99_flagged=True,
        )  # fmt: skip
    p50, p90, p95, p99 = (float(v) for v in np.percentile(arr, [50, 90, 95, 99]))
    return Percentiles(
        n=n,
        mean=float(arr.mean()),
        std=float(arr.std(ddof=1)) if n > 1 else 0.0,
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        max=float(arr.max()),
        p99_flagged=n < MIN_SAMPLES_P99,
    )


def bootstrap_ci(
    values: npt.ArrayLike,
    q: float,
    *,
    rounds: int = 400,
    level: float = 0.95,
    max_n: int = 5_000,
    seed: int = 0,
    strata: npt.ArrayLike | None = None,
) -> tuple[float, float, FloatArray]:
    """Percentile-bootstrap CI of the ``q``-th percentile (``q=-1`` means the mean).

    Returns ``(low, high, replicates)``; the replicates let callers bootstrap ratios of two
    samples. With ``strata`` (e.g. the stage of each value) every replicate resamples within
    each stratum, keeping its size: pooled over a ladder, the spread between stages is the
    design, not noise. Large samples are subsampled to ``max_n`` first (per stratum, in
    proportion): the CI of a percentile of a million points is already far narrower than
    any threshold we compare it with.
    """
    rng = np.random.default_rng(seed)
    arr = np.asarray(values, dtype=np.float64)
    groups = np.zeros(arr.size, dtype=np.int64) if strata is None else np.asarray(strata)
    keep = np.isfinite(arr)
    arr, groups = arr[keep], groups[keep]
    if arr.size == 0:
        return float("nan"), float("nan"), np.full(rounds, np.nan)
    parts = []
    for g in np.unique(groups):
        part = arr[groups == g]
        size = max(1, round(part.size * min(1.0, max_n / arr.size)))
        if size < part.size:
            part = rng.choice(part, size=size, replace=False)
        parts.append(part[rng.integers(0, part.size, size=(rounds, part.size))])
    samples = np.concatenate(parts, axis=1)
    reps = samples.mean(axis=1) if q < 0 else np.percentile(samples, q, axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(reps, [alpha, 1.0 - alpha])
    return float(low), float(high), np.asarray(reps, dtype=np.float64)
