"""Between-run confidence intervals: Student-t intervals over one value per run."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Final, NamedTuple, TypedDict

__all__ = [
    "LEVEL",
    "METHOD",
    "Difference",
    "Interval",
    "difference_interval",
    "mean_interval",
    "t_quantile",
]

LEVEL: Final = 0.95
"""The confidence level of every between-run interval."""
METHOD: Final = "t-interval over run values"
"""How the intervals are made (docs/analysis.md says why not a bootstrap)."""


class Interval(TypedDict):
    """One statistic over the runs of a set: each run's value, their mean and its interval
    (``low``/``high`` are None with fewer than two runs: one run has no spread to tell)."""

    n: int
    values: list[float]
    mean: float | None
    sd: float | None
    low: float | None
    high: float | None


class Difference(NamedTuple):
    """``current - base`` of two means, with its interval."""

    diff: float
    low: float
    high: float
    df: float


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _beta_regularized(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def _two_sided_coverage(t: float, df: float) -> float:
    """P(|T| <= t) for Student's t with ``df`` degrees of freedom (fractional ones too)."""
    return 1.0 - _beta_regularized(df / 2.0, 0.5, df / (df + t * t))


def _t_density(t: float, df: float) -> float:
    """The density of Student's t with ``df`` degrees of freedom at ``t``."""
    return math.exp(
        math.lgamma((df + 1.0) / 2.0)
        - math.lgamma(df / 2.0)
        - 0.5 * math.log(df * math.pi)
        - (df + 1.0) / 2.0 * math.log1p(t * t / df)
    )


@functools.lru_cache(maxsize=256)
def t_quantile(level: float, df: float) -> float:
    """The ``t`` with ``P(|T| <= t) = level`` (Welch's fractional ``df`` as it is)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if not df > 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    lo, hi = 0.0, 1.0
    while _two_sided_coverage(hi, df) < level:
        lo, hi = hi, hi * 2.0
    # Newton's steps from below the root (the coverage is concave in t, so each lands below
    # it again, closer), bisection where rounding sends one outside the bracket: a handful
    # of evaluations where bisection to float precision took some sixty.
    t = lo
    for _ in range(100):
        gap = _two_sided_coverage(t, df) - level
        if gap == 0.0:
            return t
        if gap < 0.0:
            lo = t
        else:
            hi = t
        step = gap / (2.0 * _t_density(t, df))
        nxt = t - step if lo < t - step < hi else (lo + hi) / 2.0
        if abs(nxt - t) <= 1e-14 * nxt or nxt in (lo, hi):
            return nxt
        t = nxt
    return t


def _mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, None
    var = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def mean_interval(
    values: Sequence[float | None], level: float = LEVEL, floor: float | None = 0.0
) -> Interval:
    """The mean of the runs' values (``None`` and non-finite ones left out) with its
    t-interval; the interval is cut at ``floor`` (latencies, rates and users are never
    negative), ``None`` for no cut."""
    kept = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not kept:
        return Interval(n=0, values=[], mean=None, sd=None, low=None, high=None)
    mean, sd = _mean_sd(kept)
    low = high = None
    if sd is not None:
        half = t_quantile(level, len(kept) - 1) * sd / math.sqrt(len(kept))
        low, high = mean - half, mean + half
        if floor is not None:
            low = max(low, floor)
    return Interval(n=len(kept), values=kept, mean=mean, sd=sd, low=low, high=high)


def difference_interval(
    base: Sequence[float], current: Sequence[float], level: float = LEVEL
) -> Difference | None:
    """Welch's interval of ``mean(current) - mean(base)``. A side with a single run takes
    the other side's spread (the same build, the same run-to-run noise); ``None`` when
    neither side has two runs."""
    if not base or not current or max(len(base), len(current)) < 2:
        return None
    mb, sb = _mean_sd(base)
    mc, sc = _mean_sd(current)
    nb, nc = len(base), len(current)
    if sb is None or sc is None:
        spread = sc if sb is None else sb
        assert spread is not None
        se = spread * math.sqrt(1 / nb + 1 / nc)
        df = float(max(nb, nc) - 1)
    else:
        vb, vc = sb * sb / nb, sc * sc / nc
        se = math.sqrt(vb + vc)
        # Welch-Satterthwaite; two spreads of zero leave the pooled degrees of freedom.
        denom = (vb * vb / (nb - 1) if vb else 0.0) + (vc * vc / (nc - 1) if vc else 0.0)
        df = (vb + vc) ** 2 / denom if denom > 0 else float(nb + nc - 2)
    half = t_quantile(level, df) * se
    diff = mc - mb
    return Difference(diff=diff, low=diff - half, high=diff + half, df=df)
