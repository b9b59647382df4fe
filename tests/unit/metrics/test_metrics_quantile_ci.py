"""The order-statistic interval of a quantile: exact ranks, and coverage on known distributions."""

from __future__ import annotations

import math
import random

import numpy as np

from qi_load.metrics.quantile_ci import (
    QuantileInterval,
    quantile_interval,
    rank_bounds,
    serial_quantile_interval,
)


def test_a_p95_needs_73_samples_for_an_upper_end() -> None:
    # P(all n below the p95) = 0.95**n must fall under 2.5 %: n >= 72 gives 0.0249.
    assert rank_bounds(71, 0.95)[1] is None
    assert rank_bounds(72, 0.95)[1] == 72
    assert rank_bounds(0, 0.95) == (None, None)


def test_ranks_bracket_the_binomial_center() -> None:
    low, high = rank_bounds(1000, 0.95)
    assert low is not None and high is not None
    assert 930 <= low < 950 < high <= 970


def test_interval_covers_the_true_p95_about_95_percent_of_the_time() -> None:
    rng = random.Random(7)
    true_p95 = 2.995732273553991  # Exp(1)'s 0.95 quantile: -ln(0.05)
    covered = 0
    for _ in range(400):
        values = [rng.expovariate(1.0) for _ in range(200)]
        interval = quantile_interval(values, 0.95)
        assert interval.low is not None and interval.high is not None
        covered += interval.low <= true_p95 <= interval.high
    assert 0.92 <= covered / 400 <= 0.995


def test_interval_ends_are_samples() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    interval = quantile_interval(values, 0.95)
    assert interval.n == 100
    assert interval.low in values and interval.high in values
    assert interval.low is not None and interval.high is not None
    assert interval.low <= 95 <= interval.high


def _covers(interval: QuantileInterval, true: float) -> bool:
    """An unknown end (``None``) is unbounded on its side."""
    return (interval.low is None or interval.low <= true) and (
        interval.high is None or true <= interval.high
    )


def _ar1(rng: np.random.Generator, phi: float, n: int, series: int) -> list[list[float]]:
    """Stationary AR(1) series: each value leans on the one before, as queued latencies do.
    Every series steps at once (one step of all of them per array operation): drawn a value
    at a time, the series cost more than their intervals."""
    x = rng.normal(0.0, 1.0 / math.sqrt(1 - phi * phi), series)
    steps = rng.normal(0.0, 1.0, (n, series))
    for k in range(n):
        x = phi * x + steps[k]
        steps[k] = x
    return steps.T.tolist()


def test_serially_correlated_samples_need_the_widened_interval() -> None:
    phi = 0.8
    true_p95 = 1.6448536269514722 / math.sqrt(1 - phi * phi)
    independent = serial = 0
    for values in _ar1(np.random.default_rng(4), phi, 1000, 200):
        independent += _covers(quantile_interval(values, 0.95), true_p95)
        serial += _covers(serial_quantile_interval(values, 0.95), true_p95)
    assert independent / 200 < 0.85  # too narrow: neighbours move together
    assert serial / 200 >= 0.9


def test_independent_samples_keep_a_usable_widened_interval() -> None:
    rng = random.Random(7)
    true_p95 = -math.log(0.05)
    covered = bounded = 0
    for _ in range(200):
        interval = serial_quantile_interval([rng.expovariate(1.0) for _ in range(400)], 0.95)
        covered += _covers(interval, true_p95)
        bounded += interval.high is not None
    assert covered / 200 >= 0.93
    assert bounded / 200 >= 0.9


def test_too_few_samples_for_batches_fall_back_to_the_independent_interval() -> None:
    values = [float(v) for v in range(39)]
    assert serial_quantile_interval(values, 0.95) == quantile_interval(values, 0.95)
