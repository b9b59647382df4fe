"""The order-statistic interval of a quantile: exact ranks, and coverage on known distributions."""

from __future__ import annotations

import random

from qi_load.metrics.quantile_ci import quantile_interval, rank_bounds


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
