"""Bucketed percentiles: within half a bucket of the exact ones, on plain numbers."""

from __future__ import annotations

import numpy as np
import pytest

from qi_load.metrics.log_histogram import BUCKETS, bucket_counts, histogram_percentile
from qi_load.metrics.percentile import percentile


def test_every_finite_value_is_counted_once() -> None:
    counts = bucket_counts([0.0, 1e-4, 1.0, 5.0, 1e12, float("nan"), float("inf")])
    assert counts.size == BUCKETS and int(counts.sum()) == 5
    assert counts[0] == 2 and counts[-1] == 1  # at or below 1 µs; beyond the last edge


@pytest.mark.parametrize("q", [0.0, 50.0, 95.0, 99.0, 100.0])
def test_percentiles_are_within_half_a_percent(q: float) -> None:
    values = np.random.default_rng(1).lognormal(mean=4.0, sigma=1.0, size=5000)
    got = histogram_percentile(bucket_counts(values), q)
    assert got == pytest.approx(percentile(values, q), rel=0.005)


def test_an_empty_histogram_has_no_percentile() -> None:
    assert histogram_percentile(bucket_counts([]), 50.0) is None
