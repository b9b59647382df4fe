"""Bootstrap intervals that cover the truth, stratified and over a subset."""

from __future__ import annotations

import numpy as np

from qi_load.analyze.bootstrap import bootstrap_ci


def test_bootstrap_ci_covers_the_true_percentile() -> None:
    rng = np.random.default_rng(3)
    values = rng.exponential(100.0, 4000)
    low, high, reps = bootstrap_ci(values, 95)
    truth = -100.0 * np.log(0.05)  # exponential p95
    assert low < truth < high
    assert high - low < 0.2 * truth and reps.size == 400


def test_a_subset_bootstrap_lets_its_share_of_each_stratum_vary() -> None:
    """A query type's count per stage comes from the mix draw: its CI must say so."""
    rng = np.random.default_rng(3)
    # Stage 0 fast (~100 ms), stage 1 slow (~1000 ms); the type has 1 of the 20 slow ones.
    values = np.concatenate([rng.normal(100, 5, 80), rng.normal(1000, 20, 20)])
    strata = np.repeat([0, 1], [80, 20])
    of_type = np.zeros(100, dtype=bool)
    of_type[:10] = True  # 10 fast ones
    of_type[80] = True  # and one slow one: the p95 is half-way to it
    point = float(np.percentile(values[of_type], 95))
    low, high, _ = bootstrap_ci(values, 95, strata=strata, subset=of_type, seed=1)
    # Held fixed (the type's own values, stratified), every replicate keeps the slow one.
    fixed_low, _, _ = bootstrap_ci(values[of_type], 95, strata=strata[of_type], seed=1)
    assert fixed_low > 0.5 * point
    # Resampled with the whole run, many replicates draw no slow request of the type at all.
    assert low < 0.3 * point <= point <= high
