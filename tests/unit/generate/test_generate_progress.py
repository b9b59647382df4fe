"""The progress line: where the run is, and the window's rate, p95, errors and quality."""

from __future__ import annotations

from fake_locust import FakeMaster, fake_state, record

from qi_load.generate.plan import PlannedStage, stage_plan
from qi_load.generate.progress import progress_line
from qi_load.generate.recent import RecentRequests
from qi_load.scenario import Scenario


def test_a_line_in_a_scenario() -> None:
    runner = FakeMaster()
    runner.user_count = 3
    qi = fake_state(runner)
    qi.plan = [PlannedStage(0, "one", 2, 0.0, 0.0, 10.0), PlannedStage(1, "two", 4, 10, 10, 30)]
    qi.t0 = 1000.0
    records = [record(e2e_ms=float(ms), quality_ok=ms < 80) for ms in range(10, 110, 10)]
    records.append(record(ok=False, error_kind="timeout"))
    line = progress_line(qi, RecentRequests(records), 5.0, 1012.0)
    assert line.startswith("[qi-load] stage 2/2 two")
    assert "12s/30s (18s left)" in line
    assert "users   3/4" in line
    assert "req/s   2.00" in line
    assert "p95      95 ms" in line  # ~95.5 by linear interpolation, as every qi-load p95
    assert "errors 1" in line and "quality  70%" in line


def test_the_warm_up_is_named_and_stages_are_numbered_as_the_scenario_numbers_them() -> None:
    qi = fake_state(FakeMaster())
    qi.plan = [
        PlannedStage(0, "warmup", 2, 0.0, 1.0, 4.0),
        PlannedStage(1, "soak", 2, 4.0, 4.0, 60.0),
    ]
    qi.t0 = 1000.0
    warm = progress_line(qi, RecentRequests(), 5.0, 1002.0)
    steady = progress_line(qi, RecentRequests(), 5.0, 1010.0)
    assert warm.startswith("[qi-load] warm-up                  2s/60s (58s left)")
    assert steady.startswith("[qi-load] stage 1/1 soak          10s/60s (50s left)")


def test_a_sweeps_steps_count_as_its_stage_and_its_budget_is_the_total() -> None:
    qi = fake_state(FakeMaster())
    qi.scenario = Scenario.model_validate(
        {
            "name": "sweep",
            "stages": [
                {"name": "one", "users": 2, "hold_s": 10},
                {"name": "sweep", "users": 4, "hold_s": 60, "sweep": {"rates": 2}},
            ],
            "arrival": {"mode": "open", "rate": 1},
        }
    )
    one = stage_plan(qi.scenario)[0]
    # The plan so far: the first stage, then the sweep's first two steps of 15 s.
    qi.plan = [
        one,
        PlannedStage(1, "sweep-1", 1, 10.0, 10.0, 25.0, no_think=True),
        PlannedStage(2, "sweep-2", 4, 25.0, 25.0, 40.0, no_think=True),
    ]
    qi.t0 = 1000.0
    line = progress_line(qi, RecentRequests(), 5.0, 1030.0)
    assert line.startswith("[qi-load] stage 2/2 sweep-2       30s/70s (40s left)"), line
    # Between the plan's end (a search's can come before its budget's) and the runner's stop.
    over = progress_line(qi, RecentRequests(), 5.0, 1040.4)
    assert over.startswith("[qi-load] plan over               40s/40s (0s left)"), over


def test_a_line_without_scenario_or_requests() -> None:
    line = progress_line(fake_state(), RecentRequests(), 5.0, 1000.0)
    assert "no scenario" in line and "p95       - ms" in line and "quality    -" in line


def test_the_window_keeps_only_requests_that_ended_inside_it() -> None:
    recent = RecentRequests(
        [record(e2e_ms=1000.0), record(ok=False, error_kind="connect", e2e_ms=None)]
    )
    ts = record().ts_start
    recent.keep_since(ts + 0.5)  # the failure ended where it started, the success 1 s later
    assert len(recent) == 1 and recent.served() == 1
    assert recent.e2e_ms().tolist() == [1000.0]
    recent.keep_since(ts + 2.0)
    assert len(recent) == 0 and recent.e2e_ms().size == 0
