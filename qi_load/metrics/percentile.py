"""The one percentile definition: linear interpolation between closest ranks, finite values only."""

from __future__ import annotations

from typing import Final, Literal, TypedDict

import numpy as np
import numpy.typing as npt

__all__ = [
    "METHOD",
    "MIN_SAMPLES_P99",
    "Percentiles",
    "percentile",
    "percentile_rows",
    "percentile_windows",
    "percentiles",
]

METHOD: Final[Literal["linear"]] = "linear"
"""numpy's default (Hyndman & Fan type 7, as Excel's PERCENTILE.INC and pandas' quantile): the
p95 of 20 values lies between the 19th and 20th smallest, not on the largest."""
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


def _finite(values: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    return arr[np.isfinite(arr)]


def _ranks(n: int, q: float) -> tuple[int, int, float]:
    """The closest ranks below and above the ``q``-th percentile (0..100) of ``n`` sorted
    values and the weight of the upper one, as numpy's linear method takes them."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} is not in 0..100")
    h = (n - 1) * (q / 100.0)
    i = min(int(h), n - 1)
    return i, min(i + 1, n - 1), h - i


def _between(x: float, y: float, t: float) -> float:
    """numpy's linear interpolation, rounding included: the same value to the last bit."""
    return y - (y - x) * (1.0 - t) if t >= 0.5 else x + (y - x) * t


def _linear(arr: FloatArray, qs: tuple[float, ...]) -> list[float]:
    """The ``qs``-th percentiles of ``arr`` (finite, not empty; reordered in place) by a
    partial sort: ``np.percentile`` costs several times as much in set-up on a window's few
    hundred values, and a report asks for thousands."""
    ranks = [_ranks(arr.size, q) for q in qs]
    arr.partition(sorted({k for i, j, _ in ranks for k in (i, j)}))
    return [_between(float(arr[i]), float(arr[j]), t) for i, j, t in ranks]


def percentile(values: npt.ArrayLike, q: float) -> float | None:
    """The ``q``-th percentile (0..100) of the finite values; ``None`` when there are none."""
    arr = _finite(values)
    return _linear(arr, (q,))[0] if arr.size else None


def percentile_rows(matrix: FloatArray, q: float, *, overwrite: bool = False) -> FloatArray:
    """The ``q``-th percentile of each row, ignoring NaN (a row of NaN gives NaN); with
    ``overwrite`` the rows of ``matrix`` itself are sorted (a caller's scratch array: a
    bootstrap's is megabytes, and every fresh one is paged in anew)."""
    # All rows at once, each sorted: numpy's nanpercentile loops over the rows in Python (ten
    # times slower on a bootstrap's 400), and its percentile partitions them slower than this
    # sorts them. The same ranks and interpolation, to the last bit.
    ordered = matrix if overwrite else matrix.copy()
    ordered.sort(axis=1)  # NaN sorts last
    counts = matrix.shape[1] - np.count_nonzero(np.isnan(matrix), axis=1)
    rank = (counts - 1) * (q / 100.0)
    below = np.floor(rank)
    last = counts - 1
    top = rank >= last
    rows = np.arange(matrix.shape[0])
    x = ordered[rows, np.maximum(np.where(top, last, below).astype(np.intp), 0)]
    y = ordered[rows, np.maximum(np.where(top, last, below + 1).astype(np.intp), 0)]
    t = rank - below
    out: FloatArray = x + (y - x) * t
    np.subtract(y, (y - x) * (1.0 - t), out=out, where=t >= 0.5)
    out[counts == 0] = np.nan
    return out


def percentile_windows(
    values: FloatArray, lo: npt.NDArray[np.intp], hi: npt.NDArray[np.intp], q: float
) -> FloatArray:
    """The ``q``-th percentile of each window ``values[lo[k]:hi[k]]`` (finite values), NaN
    for an empty one: ``percentile`` of each, with a partial sort and no per-call set-up
    (an alert replay asks for ~100,000 overlapping windows)."""
    out = np.full(len(lo), np.nan)
    for k, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
        if b <= a:
            continue
        i, j, t = _ranks(b - a, q)
        part = np.partition(values[a:b], (i, j))
        out[k] = _between(float(part[i]), float(part[j]), t)
    return out


def percentiles(values: npt.ArrayLike) -> Percentiles:
    """p50/p90/p95/p99/max, mean and std of the finite values, with their count."""
    arr = _finite(values)
    n = int(arr.size)
    if n == 0:
        return Percentiles(
            n=0, mean=None, std=None, p50=None, p90=None, p95=None, p99=None, max=None,
            p99_flagged=True,
        )  # fmt: skip
    # The mean and std first: the partial sort reorders the values, and their sums' rounding
    # follows the order.
    mean, std = float(arr.mean()), float(arr.std(ddof=1)) if n > 1 else 0.0
    p50, p90, p95, p99, top = _linear(arr, (50.0, 90.0, 95.0, 99.0, 100.0))
    return Percentiles(
        n=n,
        mean=mean,
        std=std,
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        max=top,
        p99_flagged=n < MIN_SAMPLES_P99,
    )
