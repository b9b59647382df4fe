"""Regression detection: same build is no regression, 40 % slower is critical."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic_run import SyntheticRun, write_synthetic_run

from qi_load.analyze.compare import CompareSettings, Comparison, compare_runs
from qi_load.analyze.load import RunData, load_run
from qi_load.analyze.stages import pooled_stats


def _run(root: Path, **spec: object) -> RunData:
    return load_run(write_synthetic_run(root, SyntheticRun(**spec)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def runs(
    ladder: RunData, slow_ladder: RunData, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, RunData]:
    """The base ``a`` and ``slow`` are the session's (read only: comparing changes neither run)."""
    root = tmp_path_factory.mktemp("cmp")
    return {
        "a": ladder,
        "b": _run(root / "b", seed=22),
        "c": _run(root / "c", seed=23),
        "slow": slow_ladder,
        "fast": _run(root / "fast", seed=25, slowdown=0.6),
    }


@pytest.fixture(scope="module")
def same_build(runs: dict[str, RunData]) -> dict[str, Comparison]:
    """``a`` compared with ``b`` and ``c`` once a module (read only: tests do not change it)."""
    return {other: compare_runs(runs["a"], runs[other]) for other in ("b", "c")}


def test_same_build_is_no_regression(same_build: dict[str, Comparison]) -> None:
    for result in same_build.values():
        assert result["worst"] == "ok", result["rows"]
        assert not [r for r in result["rows"] if r["severity"] in ("warning", "critical")]


def test_forty_percent_slower_is_critical(runs: dict[str, RunData]) -> None:
    result = compare_runs(runs["a"], runs["slow"])
    assert result["worst"] == "critical"
    stage = {r["scope"]: r for r in result["rows"]}["stage u4"]
    assert stage["severity"] == "critical"
    assert stage["change"] == pytest.approx(0.4, abs=0.1)
    assert stage["ci_low"] is not None and stage["ci_low"] > 0.25  # type: ignore[operator]


def test_faster_is_improved_not_regressed(runs: dict[str, RunData]) -> None:
    result = compare_runs(runs["a"], runs["fast"])
    severities = {r["severity"] for r in result["rows"]}
    assert "improved" in severities and not severities & {"warning", "critical"}


def test_thresholds_and_sample_minimum_are_configurable(runs: dict[str, RunData]) -> None:
    lenient = compare_runs(runs["a"], runs["slow"], CompareSettings(warn=0.5, critical=0.9))
    stage = {r["scope"]: r for r in lenient["rows"]}["stage u4"]
    assert stage["severity"] == "ok"
    strict_n = compare_runs(runs["a"], runs["slow"], CompareSettings(min_samples=100_000))
    assert {r["severity"] for r in strict_n["rows"]} == {"insufficient_data"}
    assert strict_n["worst"] == "ok"


def test_error_rate_regression(tmp_path: Path, runs: dict[str, RunData]) -> None:
    errors = _run(tmp_path / "e", seed=26, error_rate=0.1)
    row = {r["metric"]: r for r in compare_runs(runs["a"], errors)["rows"]}["error_rate"]
    assert row["severity"] == "critical" and row["current"] == pytest.approx(0.1, abs=0.03)


def test_compared_values_are_the_reports(
    runs: dict[str, RunData], same_build: dict[str, Comparison]
) -> None:
    """Throughput, error rate and E2E p95 are the numbers summary.json gives for the run."""
    rows = {(r["metric"], r["scope"]): r for r in same_build["b"]["rows"]}
    for side, run in (("base", runs["a"]), ("current", runs["b"])):
        overall, _ = pooled_stats(run)
        assert rows[("throughput", "all")][side] == pytest.approx(overall["throughput_rps"])
        assert rows[("error_rate", "all")][side] == pytest.approx(overall["error_rate"])
        assert rows[("e2e_p95", "all")][side] == pytest.approx(overall["e2e_ms"]["p95"])
