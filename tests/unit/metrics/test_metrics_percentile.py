"""The one percentile: linear interpolation, finite values only, n and the p99 flag."""

from __future__ import annotations

import math

import numpy as np

from qi_load.metrics.percentile import (
    percentile,
    percentile_rows,
    percentile_windows,
    percentiles,
)


def test_percentiles_of_known_values() -> None:
    p = percentiles(np.arange(1, 101, dtype=float))
    assert p["n"] == 100 and p["max"] == 100.0
    assert p["p50"] == 50.5 and abs(p["p95"] - 95.05) < 1e-9  # type: ignore[operator]
    assert p["p99_flagged"] is False


def test_small_samples_flag_p99_and_nan_is_ignored() -> None:
    p = percentiles([1.0, float("nan"), 3.0])
    assert p["n"] == 2 and p["p99_flagged"] is True
    empty = percentiles([])
    assert empty["n"] == 0 and empty["p95"] is None


def test_the_p95_of_20_values_interpolates_between_the_top_two() -> None:
    """Nearest rank would give the 19th value (19); the report's method gives 19.05."""
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 95) == 19.05
    assert percentile([], 95) is None
    assert percentile([float("inf"), 2.0], 50) == 2.0


def test_the_scalar_and_the_summary_agree() -> None:
    values = np.random.default_rng(1).exponential(100.0, 333)
    p = percentiles(values)
    for q, key in ((50, "p50"), (90, "p90"), (95, "p95"), (99, "p99")):
        assert percentile(values, q) == p[key]  # type: ignore[literal-required]


def test_rows_ignore_nan_and_match_the_scalar() -> None:
    matrix = np.array([[1.0, 2.0, 3.0, np.nan], [4.0, 5.0, 6.0, 7.0], [np.nan] * 4])
    rows = percentile_rows(matrix, 95)
    assert rows[0] == percentile(matrix[0], 95)
    assert rows[1] == percentile(matrix[1], 95)
    assert math.isnan(rows[2])


def test_rows_with_nan_match_the_scalar_to_the_bit() -> None:
    rng = np.random.default_rng(2)
    matrix = np.round(rng.lognormal(3.0, 1.0, (300, 120)), 1)  # ties too
    matrix[rng.random(matrix.shape) < rng.uniform(0.0, 1.0, (300, 1))] = np.nan
    for q in (0.0, 50.0, 95.0, 99.0, 100.0):
        want = [percentile(row, q) for row in matrix]
        got = percentile_rows(matrix, q)
        assert np.array_equal(got, np.array(want, dtype=np.float64), equal_nan=True)  # None: NaN


def test_windows_match_the_scalar_to_the_bit() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(3.0, 1.0, 2000)
    lo = rng.integers(0, 2000, 500)
    hi = np.minimum(lo + rng.integers(0, 200, 500), 2000)
    for q in (0.0, 50.0, 95.0, 99.0, 100.0):
        want = [percentile(values[a:b], q) for a, b in zip(lo, hi, strict=True)]
        got = percentile_windows(values, lo, hi, q)
        assert np.array_equal(got, np.array(want, dtype=np.float64), equal_nan=True)  # None: NaN
