"""Summary statistics of repeated measurements and the speedup factor with its interval."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from qi_load.metrics.percentile import percentile

__all__ = ["Speedup", "Summary", "speedup", "summarize"]


@dataclass(frozen=True)
class Summary:
    """Mean, median, p95, sample standard deviation, min and max of ``n`` values."""

    n: int
    mean: float
    median: float
    p95: float
    stddev: float
    min: float
    max: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def summarize(values: Sequence[float]) -> Summary:
    """Statistics of ``values``; median and p95 as every qi-load percentile, stddev the
    sample (n-1) one."""
    if not values:
        raise ValueError("summarize() needs at least one value")
    data = np.asarray(values, dtype=float)
    median, p95 = percentile(data, 50), percentile(data, 95)
    return Summary(
        n=int(data.size),
        mean=float(data.mean()),
        median=float("nan") if median is None else median,
        p95=float("nan") if p95 is None else p95,
        stddev=float(data.std(ddof=1)) if data.size > 1 else 0.0,
        min=float(data.min()),
        max=float(data.max()),
    )


@dataclass(frozen=True)
class Speedup:
    """``baseline mean / candidate mean`` with a bootstrap percentile interval."""

    factor: float
    low: float
    high: float
    confidence: float
    resamples: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def speedup(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> Speedup:
    """How many times faster the candidate is; > 1 means the candidate takes less time.

    The interval resamples both groups independently (they are independent runs) and takes
    percentiles of the ratio of their means. With the methodology's 5 iterations it is a rough
    interval, but an honest one: it widens with the noise instead of hiding it.
    """
    if not baseline or not candidate:
        raise ValueError("speedup() needs at least one baseline and one candidate value")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    base = np.asarray(baseline, dtype=float)
    cand = np.asarray(candidate, dtype=float)
    if (cand <= 0.0).any():
        raise ValueError("candidate values must be positive to divide by their mean")
    rng = np.random.default_rng(seed)
    base_means = rng.choice(base, size=(resamples, base.size), replace=True).mean(axis=1)
    cand_means = rng.choice(cand, size=(resamples, cand.size), replace=True).mean(axis=1)
    ratios = base_means / cand_means
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(ratios, [tail, 100.0 - tail])
    return Speedup(
        factor=float(base.mean() / cand.mean()),
        low=float(low),
        high=float(high),
        confidence=confidence,
        resamples=resamples,
    )
