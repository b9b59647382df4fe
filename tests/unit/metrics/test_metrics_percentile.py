"""The one percentile: linear interpolation, finite values only, n and the p99 flag."""

from __future__ import annotations

import math

import numpy as np

from qi_load.metrics.percentile import (
    METHOD,
    percentile,
    percentile_rows,
    percentile_windows,
    percentiles,
)

QS = (0.0, 50.0, 95.0, 99.0, 100.0)


def _numpys(values: np.ndarray) -> np.ndarray:
    """numpy's own percentiles of the finite values, one row per ``QS`` (NaN: none), the
    definition every fast path here must match to the bit."""
    kept = values[np.isfinite(values)]
    if not kept.size:
        return np.full(len(QS), np.nan)
    return np.asarray(np.percentile(kept, QS, method=METHOD), dtype=np.float64)


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
        assert p[key] == np.percentile(values, q, method=METHOD)  # type: ignore[literal-required]
    assert (p["mean"], p["std"], p["max"]) == (values.mean(), values.std(ddof=1), values.max())


def test_the_scalar_is_numpys_to_the_bit() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 20, 101, 1000):
        values = np.round(rng.lognormal(3.0, 1.0, n), 1)  # ties too
        got = [percentile(values, q) for q in QS]
        assert np.array_equal(np.array(got, dtype=np.float64), _numpys(values))


def test_rows_ignore_nan_and_match_the_scalar() -> None:
    matrix = np.array([[1.0, 2.0, 3.0, np.nan], [4.0, 5.0, 6.0, 7.0], [np.nan] * 4])
    rows = percentile_rows(matrix, 95)
    assert rows[0] == percentile(matrix[0], 95)
    assert rows[1] == percentile(matrix[1], 95)
    assert math.isnan(rows[2])


def test_rows_with_nan_match_numpy_to_the_bit() -> None:
    rng = np.random.default_rng(2)
    matrix = np.round(rng.lognormal(3.0, 1.0, (300, 120)), 1)  # ties too
    matrix[rng.random(matrix.shape) < rng.uniform(0.0, 1.0, (300, 1))] = np.nan
    want = np.array([_numpys(row) for row in matrix])
    for k, q in enumerate(QS):
        assert np.array_equal(percentile_rows(matrix, q), want[:, k], equal_nan=True)
        scratch = matrix.copy()  # sorted in place: the same figures
        assert np.array_equal(
            percentile_rows(scratch, q, overwrite=True), want[:, k], equal_nan=True
        )
    assert not np.array_equal(scratch, matrix, equal_nan=True)


def test_windows_match_numpy_to_the_bit() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(3.0, 1.0, 2000)
    lo = rng.integers(0, 2000, 500)
    hi = np.minimum(lo + rng.integers(0, 200, 500), 2000)
    want = np.array([_numpys(values[a:b]) for a, b in zip(lo, hi, strict=True)])
    for k, q in enumerate(QS):
        assert np.array_equal(percentile_windows(values, lo, hi, q), want[:, k], equal_nan=True)
