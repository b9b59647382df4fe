"""Between-run intervals on plain numbers: t quantiles, means, Welch differences."""

from __future__ import annotations

import random

import pytest

from qi_load.analyze.repeats import difference_interval, mean_interval, t_quantile


@pytest.mark.parametrize(
    ("df", "level", "expected"),
    [
        (1, 0.95, 12.706),
        (2, 0.95, 4.303),
        (3, 0.95, 3.182),
        (4, 0.95, 2.776),
        (9, 0.95, 2.262),
        (30, 0.95, 2.042),
        (2, 0.99, 9.925),
        (10, 0.90, 1.812),
        (2, 1 - 0.05 / 16, 17.847),  # t / sqrt(2 + t²) = level, solved
    ],
)
def test_t_quantile_matches_the_tables(df: int, level: float, expected: float) -> None:
    assert t_quantile(level, df) == pytest.approx(expected, abs=1e-3)


def test_fractional_degrees_of_freedom_lie_between_their_neighbours() -> None:
    # Welch's df is fractional: its quantile is the t distribution's own, not rounded.
    assert t_quantile(0.95, 2) > t_quantile(0.95, 2.5) > t_quantile(0.95, 3)
    assert t_quantile(0.95, 1e6) == pytest.approx(1.95996, abs=1e-4)  # the normal's
    with pytest.raises(ValueError, match="level"):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_quantile(0.95, 0)


def test_mean_interval_of_three_runs() -> None:
    iv = mean_interval([10.0, 12.0, 11.0])
    # mean 11, sd 1, half width 4.303 / sqrt(3)
    assert iv["n"] == 3
    assert iv["mean"] == pytest.approx(11.0)
    assert iv["sd"] == pytest.approx(1.0)
    assert iv["low"] == pytest.approx(11.0 - 2.4842, abs=1e-3)
    assert iv["high"] == pytest.approx(11.0 + 2.4842, abs=1e-3)


def test_fewer_than_two_values_give_no_interval() -> None:
    one = mean_interval([5.0, None, float("nan")])
    assert (one["n"], one["mean"], one["low"], one["high"]) == (1, 5.0, None, None)
    none = mean_interval([None])
    assert (none["n"], none["mean"], none["values"]) == (0, None, [])


def test_interval_is_cut_at_the_floor_only_on_request() -> None:
    assert mean_interval([10.0, 10.0, 20.0])["low"] == 0.0  # 13.3 +- 14.3: users are >= 0
    assert mean_interval([10.0, 10.0, 20.0], floor=None)["low"] == pytest.approx(-1.01, abs=0.01)


def test_identical_runs_give_a_zero_width_interval() -> None:
    iv = mean_interval([10.0, 10.0, 10.0])
    assert iv["low"] == iv["high"] == 10.0


def test_t_interval_covers_the_true_mean_at_its_level() -> None:
    rng = random.Random(7)
    trials, covered = 2000, 0
    for _ in range(trials):
        iv = mean_interval([rng.gauss(100.0, 10.0) for _ in range(3)], floor=None)
        assert iv["low"] is not None and iv["high"] is not None
        covered += iv["low"] <= 100.0 <= iv["high"]
    assert 0.93 <= covered / trials <= 0.97


def test_welch_difference_by_hand() -> None:
    diff = difference_interval([10.0, 12.0, 11.0], [15.0, 16.0, 14.0])
    assert diff is not None
    # equal spreads (sd 1): se = sqrt(2/3), df = 4, t = 2.776
    assert diff.diff == pytest.approx(4.0)
    assert diff.df == pytest.approx(4.0)
    assert diff.low == pytest.approx(4.0 - 2.7764 * (2 / 3) ** 0.5, abs=1e-3)


def test_a_single_run_takes_the_other_sides_spread() -> None:
    diff = difference_interval([10.0, 12.0, 11.0], [11.0])
    assert diff is not None
    # sd 1 from the set: se = sqrt(1/3 + 1), df = 2
    assert diff.diff == pytest.approx(0.0)
    assert diff.high == pytest.approx(4.3027 * (4 / 3) ** 0.5, abs=1e-3)
    assert difference_interval([10.0], [11.0]) is None
    assert difference_interval([], [1.0, 2.0]) is None


def test_same_distribution_rarely_excludes_zero() -> None:
    rng = random.Random(3)
    excluded = 0
    for _ in range(2000):
        d = difference_interval(
            [rng.gauss(50, 5) for _ in range(3)], [rng.gauss(50, 5) for _ in range(3)]
        )
        assert d is not None
        excluded += d.low > 0 or d.high < 0
    assert excluded / 2000 <= 0.06
