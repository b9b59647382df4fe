"""One open-loop user's schedule: the scenario's rate as before, a step's rate at once."""

from __future__ import annotations

import random

import pytest

from qi_load.generate.open_loop import POLL_S, OpenSchedule, first_gap_s
from qi_load.scenario import Arrival

CONSTANT = Arrival(mode="open", rate=2.0, process="constant")


def test_at_the_scenario_rate_a_user_sleeps_whole_gaps() -> None:
    schedule = OpenSchedule(CONSTANT, random.Random(0), now=100.0)
    assert schedule.due(100.0)
    schedule.sent()
    # Two users share 2 requests/s: one start per second each.
    assert schedule.wait_s(100.2, users=2, stage="s", stage_rate=0.0) == pytest.approx(0.8)
    assert schedule.next == 101.0 and not schedule.due(100.9)
    # Woken early (no start made): the schedule does not move.
    assert schedule.wait_s(100.5, users=2, stage="s", stage_rate=0.0) == pytest.approx(0.5)


def test_a_step_rate_applies_at_once_and_drops_the_backlog() -> None:
    schedule = OpenSchedule(CONSTANT, random.Random(0), now=100.0)
    schedule.sent()
    schedule.wait_s(100.0, users=2, stage="a", stage_rate=0.0)
    # A step at 20 requests/s: its first start within one new gap (0.1 s), not a second.
    wait = schedule.wait_s(100.0, users=2, stage="step-1", stage_rate=20.0)
    assert 0.0 <= wait <= 0.1 and 100.0 <= schedule.next <= 100.1
    schedule.sent()
    assert schedule.wait_s(
        schedule.next, users=2, stage="step-1", stage_rate=20.0
    ) == pytest.approx(0.1)
    # At a step's rate a user looks again at least every POLL_S.
    slow = OpenSchedule(CONSTANT, random.Random(0), now=0.0)
    assert slow.wait_s(0.0, users=2, stage="step-2", stage_rate=0.1) <= POLL_S


def test_first_gaps_spread_users() -> None:
    rng = random.Random(3)
    constant = [first_gap_s(CONSTANT, rng, users=10, rate=None) for _ in range(200)]
    assert all(0.0 <= g <= 5.0 for g in constant) and max(constant) - min(constant) > 3.0
    poisson = Arrival(mode="open", rate=10.0)
    gaps = [first_gap_s(poisson, rng, users=10, rate=None) for _ in range(2000)]
    assert 0.9 <= sum(gaps) / len(gaps) <= 1.1
