"""The per-run state on Locust's environment: stage lookups, record hand-over, user numbers."""

from __future__ import annotations

import pytest
from fake_locust import FakeMaster, fake_environment, fake_state, record

from qi_load.generate.plan import PlannedStage
from qi_load.generate.recent import RecentRequests
from qi_load.generate.run_state import QiState, run_state

PLAN = [
    PlannedStage(0, "one", 2, 0.0, 2.0, 10.0),
    PlannedStage(1, "two", 6, 10.0, 12.0, 30.0, start_users=2),
]


def test_the_state_hangs_on_its_environment() -> None:
    qi = fake_state()
    assert run_state(qi.environment) is qi
    with pytest.raises(RuntimeError, match="not initialized"):
        run_state(fake_environment())


def test_user_numbers_are_per_state() -> None:
    first, second = fake_state(), fake_state()
    assert [first.next_user_id(), first.next_user_id()] == [1, 2]
    assert second.next_user_id() == 1  # a new run (or process) counts afresh


def test_stage_now_follows_the_plan_once_it_has_an_origin() -> None:
    runner = FakeMaster()
    runner.target_user_count = 7
    qi = fake_state(runner)
    qi.plan = PLAN
    assert qi.stage_now(1000.0) == ("", 7)  # no origin yet: Locust's own target count
    assert qi.current_stage(1000.0) is None
    qi.t0 = 1000.0
    assert qi.stage_now(1001.0) == ("one", 1)  # half-way up the first ramp
    assert qi.stage_now(1015.0) == ("two", 6)
    assert qi.current_stage(1015.0) is PLAN[1]


def test_the_plan_is_over_at_its_last_stage_end_on_the_run_clock() -> None:
    qi = fake_state()
    qi.plan = PLAN
    assert not qi.plan_over()  # no origin yet
    now = qi.clock.now()
    qi.t0 = now - 29.0
    assert not qi.plan_over()
    qi.t0 = now - 30.5
    assert qi.plan_over()


def test_stage_marks_are_the_plan_on_the_wall_clock() -> None:
    qi = fake_state()
    qi.plan = PLAN
    assert qi.stage_marks() == []
    qi.t0 = 1000.0
    marks = qi.stage_marks()
    assert [(m["name"], m["start"], m["ramp_end"], m["end"]) for m in marks] == [
        ("one", 1000.0, 1002.0, 1010.0),
        ("two", 1010.0, 1012.0, 1030.0),
    ]


def test_written_records_reach_the_live_views_without_cancelled_ones() -> None:
    qi = fake_state()
    seen: list[int] = []
    qi.observers.append(lambda records: seen.append(len(records)))
    qi.recent = RecentRequests()
    qi.record(record())
    qi.record(record(ok=False, error_kind="cancelled"))
    qi.drain()
    assert seen == [1] and len(qi.recent) == 1
    qi.drain()  # nothing new: no empty batch
    assert seen == [1]


def test_host_samples_go_nowhere_between_tests() -> None:
    qi = fake_state()
    qi.write_host_samples([])  # no writer, not active: nothing happens
    assert isinstance(qi, QiState) and not qi.active
