"""The load plan as a pure function of time, and the shape adapter driven by a fake clock."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qi_load.generate.plan import (
    PlannedStage,
    next_change_s,
    plan_end_s,
    spawn_rate_at,
    stage_at,
    stage_mark,
    stage_plan,
    users_at,
)
from qi_load.generate.shapes import TICK_S, ScenarioShape
from qi_load.scenario import Scenario, resolve_scenario

# The methodology's ladder, written out by hand: (start, end, users before, users, ramp).
# Warm-up 30 s at 1 user, then 1 user for 300 s; 5, 10, 20, 50 users ramped over 30, 60,
# 120, 300 s, each then held 300 s.
LADDER = [
    (0, 30, 0, 1, 0),
    (30, 330, 1, 1, 0),
    (330, 660, 1, 5, 30),
    (660, 1020, 5, 10, 60),
    (1020, 1440, 10, 20, 120),
    (1440, 2040, 20, 50, 300),
]


def ladder_users(t: float) -> int:
    for start, end, before, users, ramp in LADDER:
        if start <= t < end:
            if t >= start + ramp:
                return users
            # Whole users only: one more each time another full user's share of the ramp passed.
            return before + int((users - before) * (t - start) // ramp)
    return 0


def scenario(stages: list[dict[str, object]], **fields: object) -> Scenario:
    return Scenario.model_validate({"name": "t", "stages": stages, **fields})


def test_users_at_matches_the_ladder_definition_at_every_second() -> None:
    plan = stage_plan(resolve_scenario("ladder"))
    assert plan_end_s(plan) == 2040
    for second in range(-5, 2050):
        for t in (float(second), second + 0.5):
            assert users_at(plan, t) == ladder_users(t), t


def test_ladder_plan_boundaries() -> None:
    plan = stage_plan(resolve_scenario("ladder"))
    assert [(s.name, s.start_s, s.ramp_end_s, s.end_s, s.start_users, s.users) for s in plan] == [
        ("warmup", 0, 0, 30, 0, 1),
        ("baseline", 30, 30, 330, 1, 1),
        ("light", 330, 360, 660, 1, 5),
        ("target", 660, 720, 1020, 5, 10),
        ("heavy", 1020, 1140, 1440, 10, 20),
        ("stress", 1440, 1740, 2040, 20, 50),
    ]
    assert [s.index for s in plan] == list(range(6))
    assert plan[0].is_warmup and not plan[1].is_warmup
    light = plan[2]
    assert (light.steady_start_s, light.steady_s) == (370, 290)  # ramp end + settle_s 10
    short = stage_plan(scenario([{"users": 1, "ramp_s": 4, "hold_s": 6}], settle_s=10))[0]
    assert short.steady_start_s == 7  # a settle longer than half the hold stops half-way


def test_stage_at_owns_start_but_not_end() -> None:
    plan = stage_plan(resolve_scenario("ladder"))
    assert stage_at(plan, -0.1) is None
    assert stage_at(plan, 0).name == "warmup"  # type: ignore[union-attr]
    assert stage_at(plan, 29.999).name == "warmup"  # type: ignore[union-attr]
    assert stage_at(plan, 30).name == "baseline"  # type: ignore[union-attr]
    assert stage_at(plan, 2040) is None


def test_warmup_takes_over_the_first_ramp_and_time_scale_applies() -> None:
    s = scenario(
        [{"users": 10, "ramp_s": 20, "hold_s": 100}, {"users": 4, "ramp_s": 6, "hold_s": 10}],
        warmup_s=30,
        settle_s=4,
        time_scale=0.5,
    )
    plan = stage_plan(s)
    assert [(p.name, p.start_s, p.ramp_end_s, p.end_s, p.start_users) for p in plan] == [
        ("warmup", 0, 10, 25, 0),
        ("10u", 25, 25, 75, 10),
        ("4u", 75, 78, 83, 10),
    ]
    assert plan_end_s(plan) == s.total_duration_s
    assert plan[2].settle_s == 2
    # Ramping down counts down in whole users and reaches the target at the ramp's end.
    assert [users_at(plan, 75 + k * 0.5) for k in range(7)] == [10, 9, 8, 7, 6, 5, 4]


def test_mix_and_sequence_travel_with_the_stage() -> None:
    plan = stage_plan(resolve_scenario("memory"))
    by_name = {s.name: s for s in plan}
    assert by_name["single-conversation"].mix == {"conversation": 1.0}
    assert by_name["single-conversation"].sequence_per_type == 1
    assert by_name["long-running"].mix == resolve_scenario("memory").mix
    assert by_name["idle"].users == 0 and users_at(plan, 10) == 0


def test_spawn_rate_reaches_the_plan_within_a_tick() -> None:
    plan = stage_plan(resolve_scenario("quick-ladder"))
    assert spawn_rate_at(plan, 5) == 1  # no ramp: the minimum
    stress = next(s for s in plan if s.name == "stress")
    assert spawn_rate_at(plan, stress.start_s + 1) == 5  # 30 users over 6 s
    jump = stage_plan(scenario([{"users": 3, "hold_s": 5}, {"users": 40, "hold_s": 5}]))
    assert spawn_rate_at(jump, 5.5) == 37
    assert spawn_rate_at(jump, 99) == 1


def _at_least_a_second(stage: tuple[int, float, float]) -> tuple[int, float, float]:
    """A stage lasting under 1 s holds 1 s longer: every stage of 1 s or more can still be
    drawn, and no draw is thrown away (filtering them out lost a third of the draws and
    gave some examples up)."""
    users, ramp, hold = stage
    return stage if ramp + hold >= 1 else (users, ramp, hold + 1)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 60),
            st.one_of(st.just(0.0), st.floats(0.001, 20)),  # ramps of real lengths
            st.floats(0, 20),
        ).map(_at_least_a_second),
        min_size=1,
        max_size=5,
    ),
    st.floats(0, 1, allow_nan=False, exclude_max=True),
)
def test_next_change_is_exactly_where_users_or_stage_change(
    stages: list[tuple[int, float, float]], fraction: float
) -> None:
    plan = stage_plan(scenario([{"users": u, "ramp_s": r, "hold_s": h} for u, r, h in stages]))
    t = fraction * plan_end_s(plan)
    nxt = next_change_s(plan, t)
    assert nxt is not None and nxt > t
    before = (users_at(plan, t), stage_at(plan, t))
    # Nothing changes strictly between t and the next change ...
    for k in range(1, 20):
        probe = t + (nxt - t) * k / 20
        if probe < nxt - 1e-6:
            assert (users_at(plan, probe), stage_at(plan, probe)) == before
    # ... and the count never moves by more than one user per step inside a ramp.
    assert abs(users_at(plan, nxt) - before[0]) <= 1 or stage_at(plan, nxt) is not before[1]


def test_stage_mark_keeps_the_ramp_offset() -> None:
    stage = PlannedStage(index=2, name="light", users=5, start_s=330, ramp_end_s=360, end_s=660)
    mark = stage_mark(stage, 1000.0, 1330.5)
    assert (mark.index, mark.name, mark.users) == (2, "light", 5)
    assert (mark.start, mark.ramp_end, mark.end) == (1000.0, 1030.0, 1330.5)
    assert stage_mark(stage, 1000.0, 1010.0).ramp_end == 1010.0  # cut short


# --- the shape adapter ---------------------------------------------------------------------


class FakeClockShape(ScenarioShape):
    """ScenarioShape on a simulated clock; ``run`` imitates Locust's shape loop."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.events: list[tuple[str | None, float]] = []

    def get_run_time(self) -> float:
        return self.now

    def _sleep(self, seconds: float) -> None:
        self.now += seconds

    def run(self, apply_delay: float = 0.0) -> list[tuple[float, tuple[int, float]]]:
        """Locust's ``shape_worker``: tick, apply, sleep what is left of one second."""
        applied: list[tuple[float, tuple[int, float]]] = []
        last = None
        for _ in range(100_000):
            started = self.now
            current = self.tick()
            if current is None:
                return applied
            if current != last:
                applied.append((self.now, current))
                self.now += apply_delay  # a master's start() blocks while it dispatches
                last = current
            self.now += max(TICK_S - (self.now - started), 0)
        raise AssertionError("the shape never ended")


def record_into(shape: FakeClockShape) -> None:
    def listener(stage: PlannedStage | None, wall: float) -> None:
        shape.events.append((stage.name if stage else None, shape.now))

    shape.on_stage_change = listener


@pytest.mark.parametrize("apply_delay", [0.0, 0.3])
def test_shape_follows_the_plan_and_marks_stages_on_time(apply_delay: float) -> None:
    plan = stage_plan(resolve_scenario("quick-ladder"))
    shape = FakeClockShape()
    shape.configure(plan)
    record_into(shape)
    applied = shape.run(apply_delay)
    # Every stage starts on time (the shape sleeps until the boundary), then the end.
    assert [name for name, _ in shape.events] == [s.name for s in plan] + [None]
    for (_, at), stage in zip(shape.events, plan, strict=False):
        assert at == pytest.approx(stage.start_s, abs=0.01)
    assert shape.events[-1][1] == pytest.approx(plan_end_s(plan), abs=0.01)
    # What is applied is the plan's count at that instant, with a rate reaching it in a tick.
    previous = 0
    for at, (users, rate) in applied:
        assert users == users_at(plan, at)
        assert rate >= abs(users - previous) and rate >= 1
        previous = users
    # Between applications the plan never runs more than one tick ahead of Locust.
    times = [at for at, _ in applied] + [plan_end_s(plan)]
    for (at, (users, _)), until in zip(applied, times[1:], strict=True):
        t = at
        while t < until - 1e-6:
            lag_target = users_at(plan, t)
            assert abs(lag_target - users) <= spawn_rate_at(plan, t) * (TICK_S + apply_delay)
            t += 0.1
    assert {users for _, (users, _) in applied} >= {1, 5, 10, 20, 50}


def test_short_stages_are_not_skipped() -> None:
    # A 1 s spike between two holds: Locust's own shape loop would skip a stage shorter
    # than its spawn time; the shape must still ask for it, on time.
    plan = stage_plan(
        scenario(
            [
                {"users": 2, "hold_s": 2.5},
                {"name": "spike", "users": 30, "hold_s": 1},
                {"users": 1, "hold_s": 1.5},
                {"users": 6, "ramp_s": 1, "hold_s": 0.2},
            ]
        )
    )
    shape = FakeClockShape()
    shape.configure(plan)
    record_into(shape)
    applied = shape.run()
    assert [name for name, _ in shape.events] == ["2u", "spike", "1u", "6u", None]
    assert (pytest.approx(2.5, abs=0.01), (30, 28.0)) in [(at, tick) for at, tick in applied]
    assert any(users == 6 for _, (users, _) in applied)


def test_unchanged_users_repeat_the_same_tick_and_finish_ends_the_test() -> None:
    plan = stage_plan(scenario([{"users": 3, "hold_s": 60}]))
    shape = FakeClockShape()
    shape.configure(plan)
    record_into(shape)
    first = shape.tick()
    shape.now = 10.0
    assert shape.tick() is first
    shape.finish()
    assert shape.tick() is None
    assert shape.events == [("3u", 0.0), (None, 10.0)]


def test_stage_done_ends_the_test_only_after_the_last_stage() -> None:
    plan = stage_plan(
        scenario(
            [
                {"name": "seq1", "users": 1, "hold_s": 60, "sequence": {"per_type": 1}},
                {"name": "seq2", "users": 1, "hold_s": 60, "sequence": {"per_type": 1}},
            ]
        )
    )
    shape = FakeClockShape()
    shape.configure(plan)
    assert shape.tick() == (1, 1.0)
    assert not shape.stage_done("seq1")  # the timeline stays as planned
    shape.now = 61.0
    assert shape.tick() == (1, 1.0)
    assert shape.current_stage is plan[1]
    assert shape.stage_done("seq2")
    assert shape.tick() is None


def test_a_stage_the_driver_lengthens_does_not_start_again() -> None:
    plan = stage_plan(scenario([{"name": "step", "users": 3, "hold_s": 4}]))
    shape = FakeClockShape()
    shape.configure(plan)
    record_into(shape)
    shape.tick()
    longer = dataclasses.replace(plan[0], end_s=6.0)  # as PlanSteps.extend replans it
    shape.replan([longer])
    shape.now = 4.5
    assert shape.tick() == (3, 3.0)
    assert shape.current_stage is longer
    assert shape.events == [("step", 0.0)]


def test_a_clock_reset_starts_a_new_test() -> None:
    plan = stage_plan(scenario([{"users": 3, "hold_s": 60}]))
    shape = FakeClockShape()
    shape.configure(plan)
    record_into(shape)
    shape.tick()
    shape.now = 30.0
    shape.tick()
    shape.now = 0.5  # Locust's reset_time() for a new test
    assert shape.tick() == (3, 3.0)
    assert [name for name, _ in shape.events] == ["3u", "3u"]


def test_without_a_plan_the_shape_stops() -> None:
    assert FakeClockShape().tick() is None


def test_ramp_steps_land_on_their_instant() -> None:
    plan = stage_plan(scenario([{"users": 4, "ramp_s": 8, "hold_s": 2}]))
    shape = FakeClockShape()
    shape.configure(plan)
    applied = shape.run()
    assert [(round(at, 2), users) for at, (users, _) in applied] == [
        (0, 0),
        (2.0, 1),
        (4.0, 2),
        (6.0, 3),
        (8.0, 4),
    ]
    assert all(math.isclose(rate, 1.0) for _, (_, rate) in applied)
