"""Theil-Sen leak detection finds the slope that is there and nothing where there is none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synthetic_run import SyntheticRun, write_synthetic_run

from qi_load.analyze.leaks import classify_rss, leak_fits, leaks_of, theil_sen
from qi_load.analyze.load import RunData, load_run


def test_theil_sen_exact_line_and_robust_to_outliers() -> None:
    t = np.arange(100, dtype=float)
    y = 2.0 * t + 5
    assert theil_sen(t, y)[0] == pytest.approx(2.0)
    y[::10] += 500.0  # 10 % wild outliers
    slope, low, high = theil_sen(t, y)
    assert slope == pytest.approx(2.0, abs=0.05) and low <= 2.0 <= high


def test_theil_sen_ignores_level_shifts_between_groups() -> None:
    t = np.arange(200, dtype=float)
    y = np.where(t < 100, 10.0, 50.0) + np.random.default_rng(1).normal(0, 0.1, 200)
    groups = (t >= 100).astype(int)
    slope, low, high = theil_sen(t, y, groups)
    assert low < 0 < high and abs(slope) < 0.01
    assert theil_sen(t, y)[1] > 0  # without groups, the step reads as growth


def test_leak_found_with_its_slope(leaky: RunData) -> None:
    fits = {f["role"]: f for f in leak_fits(leaky)}
    target = fits["target"]
    assert target["status"] == "leak"
    assert target["slope_mb_per_min"] == pytest.approx(5.0, rel=0.1)
    assert target["ci_low"] is not None and target["ci_low"] > 1.0  # type: ignore[operator]
    assert fits["master"]["status"] == "none" and fits["worker"]["status"] == "none"


def test_a_generator_leak_is_qi_loads_never_the_agents(tmp_path: Path) -> None:
    spec = SyntheticRun(seed=12, leak_mb_per_min=5.0, leak_role="worker")
    fits = leak_fits(load_run(write_synthetic_run(tmp_path / "r", spec)))
    assert [(f["side"], f["role"], f["status"]) for f in fits] == [
        ("agent", "target", "none"),
        ("qi-load", "master", "none"),
        ("qi-load", "worker", "leak"),
    ]
    assert leaks_of(fits, "agent") == []
    assert [f["role"] for f in leaks_of(fits, "qi-load")] == ["worker"]


def test_the_agents_leak_is_the_agents(leaky: RunData) -> None:
    fits = leak_fits(leaky)
    assert [f["role"] for f in leaks_of(fits, "agent")] == ["target"]
    assert leaks_of(fits, "qi-load") == []


def test_no_leak_on_flat_runs(ladder: RunData, tmp_path: Path) -> None:
    # Three flat runs: the session's ladder (read only) and two more seeds.
    runs = [
        ladder,
        *(load_run(write_synthetic_run(tmp_path / str(s), SyntheticRun(seed=s))) for s in (1, 2)),
    ]
    for run in runs:
        assert [f["status"] for f in leak_fits(run)].count("leak") == 0


def test_slow_growth_is_growth_not_leak(tmp_path: Path) -> None:
    spec = SyntheticRun(seed=4, leak_mb_per_min=0.5, hold_s=120)
    fits = {f["role"]: f for f in leak_fits(load_run(write_synthetic_run(tmp_path / "r", spec)))}
    assert fits["target"]["status"] == "growth"


def test_warmup_and_short_runs(tmp_path: Path) -> None:
    spec = SyntheticRun(users=(1,), hold_s=20, ramp_s=0, settle_s=0)
    fits = leak_fits(load_run(write_synthetic_run(tmp_path / "r", spec)))
    assert {f["status"] for f in fits} == {"insufficient_data"}
    assert "need 10 over 30 s" in fits[0]["detail"]


def _windows(
    rss_at: object, users: tuple[int, ...] = (1, 5, 10, 20), seconds: int = 40, noise: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, int]]:
    """Samples at 1 Hz over constant-load windows separated by 5 s ramps, RSS from
    ``rss_at(t, users)`` (MB) plus noise."""
    rng = np.random.default_rng(7)
    ts, rss, groups = [], [], []
    t0 = 0.0
    for k, u in enumerate(users):
        t = t0 + np.arange(seconds, dtype=float)
        ts.append(t)
        rss.append(np.array([rss_at(x, u) for x in t]) + rng.normal(0, noise, t.size))  # type: ignore[operator]
        groups.append(np.full(t.size, k))
        t0 += seconds + 5
    return (
        np.concatenate(ts),
        np.concatenate(rss),
        np.concatenate(groups),
        dict(enumerate(users)),
    )


def test_persistent_slope_is_a_leak_with_its_slope_and_ci() -> None:
    t, y, g, users = _windows(lambda t, u: 50 + 5.0 * t / 60)
    trend = classify_rss(t, y, g, users)
    assert trend["status"] == "leak" and trend["pattern"] == "persistent"
    assert trend["slope_mb_per_min"] == pytest.approx(5.0, rel=0.1)
    assert trend["ci_low"] is not None and trend["ci_low"] > 1.0  # type: ignore[operator]
    assert trend["plateau_mb"] is None and "high severity" in trend["detail"]


def test_bounded_growth_levels_off_and_is_not_a_leak() -> None:
    # A cache filling at 146 MB/min until its 60 MB bound, inside the first windows.
    t, y, g, users = _windows(lambda t, u: 50 + min(146.0 * t / 60, 60.0))
    trend = classify_rss(t, y, g, users)
    assert trend["status"] == "growth" and trend["pattern"] == "levels_off"
    assert trend["plateau_mb"] == pytest.approx(110.0, abs=0.5)
    assert "not a leak" in trend["detail"]


def test_bounded_growth_in_a_single_soak_window() -> None:
    t, y, g, _ = _windows(lambda t, u: 80 + min(t / 10, 20.0), users=(10,), seconds=600)
    trend = classify_rss(t, y, g)
    assert trend["status"] == "growth" and trend["pattern"] == "levels_off"
    assert trend["plateau_mb"] == pytest.approx(100.0, abs=0.5)


def test_leak_in_a_single_soak_window() -> None:
    t, y, g, _ = _windows(lambda t, u: 80 + 2.0 * t / 60, users=(10,), seconds=600)
    trend = classify_rss(t, y, g)
    assert trend["status"] == "leak"
    assert trend["slope_mb_per_min"] == pytest.approx(2.0, rel=0.05)


def test_growth_that_follows_the_user_count_is_not_a_leak() -> None:
    # A thread pool: a level per user count, reached early in each window.
    def pool(t: float, u: int) -> float:
        start = {1: 0.0, 5: 45.0, 10: 90.0, 20: 135.0}[u]
        return 40 + 0.5 * u * min((t - start) / 5.0, 1.0)

    t, y, g, users = _windows(pool)
    trend = classify_rss(t, y, g, users)
    assert trend["status"] == "growth" and trend["pattern"] == "follows_users"
    assert "follows the user count" in trend["detail"]
    assert trend["plateau_mb"] == pytest.approx(50.0, abs=0.5)


def test_flat_is_none_and_slow_persistent_growth_is_growth() -> None:
    t, y, g, users = _windows(lambda t, u: 60.0)
    assert classify_rss(t, y, g, users)["status"] == "none"
    t, y, g, users = _windows(lambda t, u: 60 + 0.4 * t / 60, noise=0.01)
    slow = classify_rss(t, y, g, users)
    assert slow["status"] == "growth" and slow["pattern"] == "persistent"


def test_growth_in_the_last_window_only_is_not_a_leak() -> None:
    # Flat through three windows, then growing in the last one: it did not persist.
    t, y, g, users = _windows(lambda t, u: 80 + (2.0 * (t - 135) / 60 if t >= 135 else 0.0))
    trend = classify_rss(t, y, g, users)
    assert trend["status"] == "growth" and trend["pattern"] == "intermittent"
