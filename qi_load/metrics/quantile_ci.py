"""Distribution-free confidence interval of a quantile, from order statistics.

The number of samples below the true ``q``-quantile is Binomial(n, q), so the interval
between the order statistics ``x_(l)`` and ``x_(u)`` whose ranks bracket the central
``1 - alpha`` of that binomial covers the quantile with at least that probability, whatever
the latency distribution (no normality, no bootstrap noise). With too few samples an end is
unknown (``None``): a p95 needs 72 samples before its interval has an upper end.

That holds for independent samples. Latencies measured one after another are not: a queue
that builds delays every request in it, so neighbours move together, and the interval of
independent samples is then too narrow (a 40 s step at a queue's 60 % load holds a tenth of
the information its sample count suggests). ``serial_quantile_interval`` widens it by the
variance inflation the samples show: batch means of an indicator "at or below a
threshold" (the estimate, or a limit under test) over consecutive batches, their variance
against the binomial p(1-p)/n, give the effective number of independent samples, and the
order-statistic interval is taken at that n and scaled back to ranks of the whole sample.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Final, NamedTuple

__all__ = [
    "BATCHES",
    "DEFAULT_CONFIDENCE",
    "QuantileInterval",
    "quantile_interval",
    "rank_bounds",
    "serial_inflation",
    "serial_quantile_interval",
]

DEFAULT_CONFIDENCE: Final = 0.95
BATCHES: Final = 7
"""Consecutive batches whose spread measures the serial correlation: few enough that each
spans several seconds of a step (a queue's bursts last that long), enough that their
variance has some degrees of freedom (chosen on ``benchmarks/search_sim.py``)."""
_MIN_BATCH: Final = 10
"""Samples per batch below which a batch's fraction says too little (fewer batches then)."""


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


def serial_inflation(flags: Sequence[bool], batches: int = BATCHES) -> float | None:
    """How much wider than binomial the spread of the fraction of true ``flags`` is, for flags
    in the order they were measured: the variance of consecutive batches' fractions against
    the binomial ``p (1 - p) / n`` at their own fraction ``p``, times the t distribution's
    variance ratio ``df / (df - 2)`` for the batches' few degrees of freedom; at least 1 (and
    no more than that ratio for constant flags, which show no correlation). None below four
    batches of ``_MIN_BATCH``."""
    n = len(flags)
    count = min(batches, n // _MIN_BATCH)
    if count < 4:
        return None
    size = n / count
    fractions = []
    for index in range(count):
        batch = flags[round(index * size) : round((index + 1) * size)]
        fractions.append(sum(batch) / len(batch))
    mean = sum(fractions) / count
    batch_variance = sum((f - mean) ** 2 for f in fractions) / (count - 1) / count
    binomial = mean * (1.0 - mean) / n
    ratio = batch_variance / binomial if binomial > 0 else 1.0
    return max(1.0, ratio) * (count - 1) / (count - 3)


def _effective(n: int, inflation: float | None) -> int:
    return n if inflation is None else max(1, math.floor(n / inflation))


def serial_quantile_interval(
    values: Sequence[float],
    q: float,
    confidence: float = DEFAULT_CONFIDENCE,
    at: Sequence[float] = (),
) -> QuantileInterval:
    """The ``confidence`` interval of the ``q``-quantile of ``values`` given in the order they
    were measured, widened for their serial correlation (the module docstring): the
    order-statistic interval at the effective sample size, scaled back to ranks of all
    ``values``. The correlation is the largest of the indicators "at or below" each of
    ``at`` (default: the estimate alone). A test against a limit measures it at the limit
    (values far below it may jitter together around their own p95, a host's stalls, without
    ever nearing it) and, when the estimate is near the limit, at the estimate too (a
    window without a single value past the limit shows no correlation there, yet its p95
    moves with the others). Too few for batches: the independent-sample interval."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return QuantileInterval(n=0, low=None, high=None)
    thresholds = at or (ordered[math.ceil(q * n) - 1],)
    inflations = [serial_inflation([v <= t for v in values]) for t in thresholds]
    effective = _effective(n, max((i for i in inflations if i is not None), default=None))
    low, high = rank_bounds(effective, q, confidence)
    scale = n / effective
    return QuantileInterval(
        n=n,
        low=ordered[max(1, math.floor(low * scale)) - 1] if low is not None else None,
        high=ordered[min(n, math.ceil(high * scale)) - 1] if high is not None else None,
    )
