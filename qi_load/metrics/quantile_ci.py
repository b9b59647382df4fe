"""Distribution-free confidence interval of a quantile, from order statistics.

The number of samples below the true ``q``-quantile is Binomial(n, q), so the interval
between the order statistics ``x_(l)`` and ``x_(u)`` whose ranks bracket the central
``1 - alpha`` of that binomial covers the quantile with at least that probability, whatever
the latency distribution (no normality, no bootstrap noise). With too few samples an end is
unknown (``None``): a p95 needs 72 samples before its interval has an upper end.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Final, NamedTuple

__all__ = ["DEFAULT_CONFIDENCE", "QuantileInterval", "quantile_interval", "rank_bounds"]

DEFAULT_CONFIDENCE: Final = 0.95


class QuantileInterval(NamedTuple):
    """A two-sided interval of a quantile; an end is ``None`` when ``n`` is too small for it."""

    n: int
    low: float | None
    high: float | None


def _binom_cdf(n: int, q: float) -> list[float]:
    """``[P(Binomial(n, q) <= k) for k in 0..n]``, terms in log space (large n stays finite)."""
    log_q, log_p, log_n = math.log(q), math.log1p(-q), math.lgamma(n + 1)
    cdf, total = [], 0.0
    for k in range(n + 1):
        total += math.exp(
            log_n - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_q + (n - k) * log_p
        )
        cdf.append(min(total, 1.0))
    return cdf


@functools.lru_cache(maxsize=4096)
def rank_bounds(
    n: int, q: float, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[int | None, int | None]:
    """1-based ranks ``(l, u)`` with P(x_(l) <= quantile <= x_(u)) >= ``confidence`` (each
    tail at most ``(1 - confidence) / 2``); ``None`` for an end that ``n`` samples cannot give."""
    if n <= 0:
        return None, None
    tail = (1.0 - confidence) / 2.0
    cdf = _binom_cdf(n, q)  # B = samples below the quantile
    # Lower end: the largest l with P(B <= l - 1) <= tail.
    low = next((rank for rank in range(n, 0, -1) if cdf[rank - 1] <= tail), None)
    # Upper end: the smallest u with P(B >= u) = 1 - P(B <= u - 1) <= tail.
    high = next((rank for rank in range(1, n + 1) if 1.0 - cdf[rank - 1] <= tail), None)
    return low, high


def quantile_interval(
    values: Sequence[float], q: float, confidence: float = DEFAULT_CONFIDENCE
) -> QuantileInterval:
    """The ``confidence`` interval of the ``q``-quantile (0 < q < 1) of ``values``."""
    ordered = sorted(values)
    n = len(ordered)
    low, high = rank_bounds(n, q, confidence)
    return QuantileInterval(
        n=n,
        low=ordered[low - 1] if low is not None else None,
        high=ordered[high - 1] if high is not None else None,
    )
