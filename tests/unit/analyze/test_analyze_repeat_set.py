"""A repeat set's summary from its runs' summaries, and two sets compared on their intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from qi_load.analyze.compare import CompareSettings
from qi_load.analyze.compare_sets import compare_sets
from qi_load.analyze.repeat_set import SetSummary, run_capacity, summarize_set
from qi_load.analyze.repeats import difference_interval
from qi_load.analyze.summary import Summary
from qi_load.record.repeat_index import RepeatIndex, RepeatRun


def _stage(
    name: str, users: int, p50: float, p95: float, rps: float, invalid: str | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "users": users,
        "invalid": invalid,
        "overall": {"throughput_rps": rps, "e2e_ms": {"p50": p50, "p95": p95}},
    }


def _summary(capacity: int | None, scale: float = 1.0, invalid: str | None = None) -> Summary:
    body: dict[str, Any] = {
        "stages": [
            _stage("one", 1, 100 * scale, 150 * scale, 2.0 / scale),
            _stage("ten", 10, 300 * scale, 600 * scale, 15.0 / scale, invalid),
        ],
        "capacity": {"users": capacity, "status": "found" if capacity else "below_lowest"},
    }
    return cast(Summary, body)


def _set(name: str, summaries: list[Summary], statuses: list[str] | None = None) -> SetSummary:
    statuses = statuses or ["complete"] * len(summaries)
    runs = [RepeatRun(f"{name}-r{i}", f"{name}-r{i}", st) for i, st in enumerate(statuses, 1)]
    index = RepeatIndex(name, "ladder", len(runs), 0.0, runs)
    given = {r.run_id: s for r, s in zip(runs, summaries, strict=True)}
    return summarize_set(index, Path(name), given)


def test_capacity_is_read_from_the_summary() -> None:
    assert run_capacity(_summary(10)) == (10.0, "found")
    assert run_capacity(_summary(None)) == (None, "below_lowest")


def test_stage_intervals_over_the_runs() -> None:
    s = _set("a", [_summary(10, 1.0), _summary(10, 1.1), _summary(20, 0.9)])
    assert [(st["stage"], st["users"]) for st in s["stages"]] == [("one", 1), ("ten", 10)]
    p95 = s["stages"][1]["e2e_p95_ms"]
    assert p95["n"] == 3
    assert p95["values"] == pytest.approx([600.0, 660.0, 540.0])
    assert p95["mean"] == pytest.approx(600.0)
    assert p95["low"] is not None and p95["low"] < 600.0 < p95["high"]  # type: ignore[operator]
    cap = s["capacity"]
    assert cap["per_run"] == [10.0, 10.0, 20.0]
    assert cap["users"]["mean"] == pytest.approx(40 / 3)
    assert s["warnings"] == []
    assert s["kind"] == "repeat_set"


def test_interrupted_runs_and_invalid_stages_are_left_out_and_said() -> None:
    s = _set(
        "a",
        [_summary(10), _summary(10, 1.2, invalid="generator saturated"), _summary(10)],
        ["complete", "complete", "interrupted"],
    )
    ten = s["stages"][1]
    assert ten["throughput_rps"]["n"] == 1
    assert ten["throughput_rps"]["low"] is None  # one run: no interval
    assert s["runs"][2]["status"] == "interrupted"
    assert any("interrupted: left out" in w for w in s["warnings"])
    assert any("stage ten (10 users) is valid in 1 of 2 runs" in w for w in s["warnings"])


def test_one_complete_run_gives_no_interval() -> None:
    s = _set("a", [_summary(None)])
    assert s["stages"][0]["e2e_p50_ms"]["low"] is None
    assert s["capacity"]["users"]["n"] == 0
    assert any("an interval needs at least 2" in w for w in s["warnings"])
    assert (
        "capacity: 1 of 1 runs have none (below_lowest): left out of its interval" in s["warnings"]
    )


def test_same_build_sets_read_ok() -> None:
    base = _set("a", [_summary(10, 1.0), _summary(10, 1.05), _summary(10, 0.97)])
    cur = _set("b", [_summary(10, 1.02), _summary(10, 0.95), _summary(10, 1.04)])
    result = compare_sets(base, cur)
    assert result["worst"] == "ok", result["rows"]
    assert result["method"].startswith("t-interval over runs")
    metrics = [(r["metric"], r["scope"]) for r in result["rows"]]
    assert ("e2e_p95", "stage ten") in metrics and ("capacity", "all") in metrics
    assert all(r["n_base"] == 3 for r in result["rows"])


def test_forty_percent_slower_set_is_critical() -> None:
    base = _set("a", [_summary(10, 1.0), _summary(10, 1.05), _summary(10, 0.97)])
    slow = _set("b", [_summary(5, 1.4), _summary(5, 1.45), _summary(5, 1.38)])
    result = compare_sets(base, slow)
    assert result["worst"] == "critical"
    by = {(r["metric"], r["scope"]): r for r in result["rows"]}
    p95 = by[("e2e_p95", "stage ten")]
    assert p95["severity"] == "critical"
    assert p95["change"] == pytest.approx(0.40, abs=0.03)
    assert p95["ci_low"] is not None and p95["ci_low"] > 0
    # Throughput is better when higher: 1/1.4 of it is a loss (positive = worse).
    assert by[("throughput", "stage one")]["change"] == pytest.approx(0.29, abs=0.02)
    assert by[("capacity", "all")]["severity"] == "critical"


def test_a_large_change_within_the_run_to_run_noise_is_inconclusive() -> None:
    base = _set("a", [_summary(10, 0.7), _summary(10, 1.3), _summary(10, 1.0)])
    cur = _set("b", [_summary(10, 1.5), _summary(10, 0.9), _summary(10, 1.2)])
    rows = compare_sets(base, cur, CompareSettings())["rows"]
    p95 = next(r for r in rows if r["metric"] == "e2e_p95" and r["scope"] == "stage ten")
    assert p95["change"] == pytest.approx(0.2)
    assert p95["severity"] == "inconclusive"


def test_sets_of_one_run_each_are_insufficient_data() -> None:
    result = compare_sets(_set("a", [_summary(10)]), _set("b", [_summary(10, 2.0)]))
    assert {r["severity"] for r in result["rows"]} == {"insufficient_data"}
    assert result["worst"] == "ok"


def test_different_scenarios_are_warned_about() -> None:
    base = _set("a", [_summary(10), _summary(10)])
    cur = _set("b", [_summary(10), _summary(10)])
    cur["scenario"] = "soak"
    assert any("different scenarios" in w for w in compare_sets(base, cur)["warnings"])


def test_rows_hold_their_level_together() -> None:
    # Stress-stage throughputs of two same-build quick-ladder sets on a busy machine: one
    # 95 % interval alone excludes zero (+1.9 … +22.8 %), so 7 rows at 95 % each would call
    # noise a warning; at 1 - 0.05/7 each the comparison reads it as within noise.
    base = _set("a", [_summary(10, 15 / v) for v in (5.083, 4.75, 5.0)])
    cur = _set("b", [_summary(10, 15 / v) for v in (4.5, 4.417, 4.083)])
    alone = difference_interval([5.083, 4.75, 5.0], [4.5, 4.417, 4.083])
    assert alone is not None and alone.high < 0
    result = compare_sets(base, cur)
    assert result["level"] == pytest.approx(1 - 0.05 / 7)
    throughput = next(r for r in result["rows"] if r["metric"] == "throughput")
    assert throughput["change"] == pytest.approx(0.124, abs=0.005)
    assert throughput["severity"] == "inconclusive"
    assert result["worst"] == "ok"
