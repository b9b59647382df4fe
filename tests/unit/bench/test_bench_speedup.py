"""Summary statistics and the bootstrap speedup interval, on numbers worked out by hand."""

from __future__ import annotations

import math

import pytest

from qi_load.bench.speedup import speedup, summarize


def test_summarize_known_values() -> None:
    s = summarize([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (s.n, s.mean, s.median, s.min, s.max) == (5, 3.0, 3.0, 1.0, 5.0)
    # Linear interpolation: rank 0.95 * 4 = 3.8 -> 4 + 0.8 * (5 - 4).
    assert s.p95 == pytest.approx(4.8)
    assert s.stddev == pytest.approx(math.sqrt(2.5))


def test_summarize_single_value_has_zero_spread() -> None:
    s = summarize([7.5])
    assert (s.n, s.mean, s.p95, s.stddev) == (1, 7.5, 7.5, 0.0)


def test_summarize_rejects_empty() -> None:
    with pytest.raises(ValueError, match="at least one"):
        summarize([])


def test_speedup_of_constant_samples_is_exact() -> None:
    ratio = speedup([2.0, 2.0, 2.0], [0.5, 0.5, 0.5])
    assert (ratio.factor, ratio.low, ratio.high) == (4.0, 4.0, 4.0)


def test_slower_candidate_gives_factor_below_one() -> None:
    assert speedup([1.0, 1.1, 0.9], [2.0, 2.2, 1.8]).factor == pytest.approx(0.5)


def test_interval_brackets_the_factor_and_widens_with_noise() -> None:
    quiet = speedup([1.00, 1.01, 0.99, 1.00, 1.02], [0.50, 0.51, 0.49, 0.50, 0.50])
    noisy = speedup([1.0, 1.4, 0.7, 1.2, 0.8], [0.5, 0.8, 0.3, 0.6, 0.4])
    assert quiet.low <= quiet.factor <= quiet.high
    assert noisy.low <= noisy.factor <= noisy.high
    assert (noisy.high - noisy.low) > 5 * (quiet.high - quiet.low)
    assert quiet.confidence == 0.95


def test_speedup_is_reproducible_with_a_seed() -> None:
    base, cand = [1.0, 1.3, 0.8, 1.1], [0.6, 0.5, 0.7, 0.55]
    assert speedup(base, cand, seed=3) == speedup(base, cand, seed=3)


def test_wider_confidence_gives_a_wider_interval() -> None:
    base, cand = [1.0, 1.3, 0.8, 1.1, 0.9], [0.6, 0.5, 0.7, 0.55, 0.65]
    narrow = speedup(base, cand, confidence=0.5)
    wide = speedup(base, cand, confidence=0.99)
    assert wide.low < narrow.low and wide.high > narrow.high


@pytest.mark.parametrize(
    ("base", "cand", "confidence", "message"),
    [
        ([], [1.0], 0.95, "at least one"),
        ([1.0], [0.0], 0.95, "positive"),
        ([1.0], [1.0], 1.0, "confidence"),
    ],
)
def test_speedup_rejects_bad_input(
    base: list[float], cand: list[float], confidence: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        speedup(base, cand, confidence=confidence)
