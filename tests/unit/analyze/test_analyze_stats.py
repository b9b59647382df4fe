"""Percentiles with n and the p99 flag; bootstrap intervals that cover the truth."""

from __future__ import annotations

import numpy as np

from qi_load.analyze.stats import bootstrap_ci, percentiles


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


def test_bootstrap_ci_covers_the_true_percentile() -> None:
    rng = np.random.default_rng(3)
    values = rng.exponential(100.0, 4000)
    low, high, reps = bootstrap_ci(values, 95)
    truth = -100.0 * np.log(0.05)  # exponential p95
    assert low < truth < high
    assert high - low < 0.2 * truth and reps.size == 400
