"""Theil-Sen leak detection finds the slope that is there and nothing where there is none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qi_load.analyze.leaks import leak_fits, theil_sen
from qi_load.analyze.load import RunData, load_run
from qi_load.analyze.synthetic import SyntheticRun, write_synthetic_run


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


def test_no_leak_on_flat_runs(tmp_path: Path) -> None:
    for seed in (1, 2, 3):
        run = load_run(write_synthetic_run(tmp_path / str(seed), SyntheticRun(seed=seed)))
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
