"""The load plan: a scenario's stages on one time axis, and the users they ask for at each instant.

Pure functions of plain numbers, free of Locust, so that any process (the ``qi-load run``
parent, the analysis, tests) can use them without gevent's monkey patch.

Time ``t`` is seconds since the start of the test. The plan begins with a stage named
``warmup`` when the scenario has ``warmup_s > 0``: it ramps to the first stage's users over
that stage's ``ramp_s`` and holds them for ``warmup_s``; the first stage then starts at full
load and lasts its ``hold_s``. Each later stage ramps linearly from the previous stage's users
to its own over ``ramp_s`` (the user count steps up at whole users: ``floor`` on the way up,
``ceil`` on the way down, so the target is reached exactly at the ramp's end), then holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from qi_load.metrics.window import window_start
from qi_load.record.schema import StageMark
from qi_load.scenario import Scenario
from qi_load.vocabulary import WARMUP_STAGE

__all__ = [
    "PlannedStage",
    "next_change_s",
    "plan_end_s",
    "spawn_rate_at",
    "stage_at",
    "stage_mark",
    "stage_plan",
    "users_at",
]

_EPS = 1e-9
"""Absorbs float error in ramp arithmetic (0.1 * 3 != 0.3) so a step lands on its second."""


@dataclass(frozen=True, slots=True)
class PlannedStage:
    """One stage placed on the test's time axis (seconds since the test started)."""

    index: int
    name: str
    users: int
    start_s: float
    ramp_end_s: float
    end_s: float
    start_users: int = 0
    """Users at the stage's start: the previous stage's users (0 for the first)."""
    settle_s: float = 0.0
    mix: Mapping[str, float] = field(default_factory=dict)
    """Query-type weights in force (the stage's own, else the scenario's)."""
    sequence_per_type: int = 0
    """Count-bounded stage: requests per query type of one sequential user (0: none)."""
    sequence_pause_s: float = 0.0
    rate: float = 0.0
    """Open loop: this stage's total requests per second (0: the scenario's arrival rate)."""
    no_think: bool = False
    """Closed loop without think time, whatever the scenario's arrival (a sweep's synchronous
    and throughput steps)."""

    @property
    def is_warmup(self) -> bool:
        return self.name == WARMUP_STAGE

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def steady_start_s(self) -> float:
        """Start of the stage's steady-state window, in plan seconds."""
        return window_start(self.ramp_end_s, self.end_s, self.settle_s)

    @property
    def steady_s(self) -> float:
        return self.end_s - self.steady_start_s


def stage_plan(scenario: Scenario) -> list[PlannedStage]:
    """The stages of ``scenario`` in wall-clock seconds (``time_scale`` applied)."""
    s = scenario.scaled()
    plan: list[PlannedStage] = []
    t = 0.0
    users = 0
    first_ramp_done = False
    if s.warmup_s > 0:
        first = s.stages[0]
        ramp_end = first.ramp_s
        end = ramp_end + s.warmup_s
        plan.append(
            PlannedStage(
                index=0,
                name=WARMUP_STAGE,
                users=first.users,
                start_s=0.0,
                ramp_end_s=ramp_end,
                end_s=end,
                settle_s=s.settle_s,
                mix=s.stage_mix(first),
            )
        )
        t, users, first_ramp_done = end, first.users, True
    for position, stage in enumerate(s.stages):
        ramp = 0.0 if position == 0 and first_ramp_done else stage.ramp_s
        end = t + ramp + stage.hold_s
        plan.append(
            PlannedStage(
                index=len(plan),
                name=stage.name,
                users=stage.users,
                start_s=t,
                ramp_end_s=t + ramp,
                end_s=end,
                start_users=users,
                settle_s=s.settle_s,
                mix=s.stage_mix(stage),
                sequence_per_type=stage.sequence.per_type if stage.sequence else 0,
                sequence_pause_s=stage.sequence.pause_s if stage.sequence else 0.0,
            )
        )
        t, users = end, stage.users
    return plan


def plan_end_s(plan: Sequence[PlannedStage]) -> float:
    return plan[-1].end_s if plan else 0.0


def stage_at(plan: Sequence[PlannedStage], t: float) -> PlannedStage | None:
    """The stage in force at ``t`` (a stage owns ``[start, end)``); ``None`` outside the plan."""
    for stage in plan:
        if stage.start_s <= t < stage.end_s:
            return stage
    return None


def users_at(plan: Sequence[PlannedStage], t: float) -> int:
    """Users the plan asks for at ``t``; 0 before the start and from the end on."""
    stage = stage_at(plan, t)
    if stage is None:
        return 0
    if t >= stage.ramp_end_s:
        return stage.users
    delta = stage.users - stage.start_users
    done = delta * (t - stage.start_s) / (stage.ramp_end_s - stage.start_s)
    if delta >= 0:
        return stage.start_users + math.floor(done + _EPS)
    return stage.start_users + math.ceil(done - _EPS)


def next_change_s(plan: Sequence[PlannedStage], t: float) -> float | None:
    """The first instant after ``t`` at which the user count or the stage changes."""
    stage = stage_at(plan, t)
    if stage is None:
        ahead = [s.start_s for s in plan if s.start_s > t]
        return min(ahead) if ahead else None
    if t < stage.ramp_end_s and stage.users != stage.start_users:
        step = (stage.ramp_end_s - stage.start_s) / abs(stage.users - stage.start_users)
        if step <= 0:  # a ramp too short to split into steps
            return stage.ramp_end_s
        k = math.floor((t - stage.start_s) / step + _EPS) + 1
        return min(stage.start_s + k * step, stage.ramp_end_s)
    return stage.end_s


def spawn_rate_at(plan: Sequence[PlannedStage], t: float) -> float:
    """Users per second to start (or stop) at ``t`` so Locust keeps up with the plan within
    a one-second tick: the ramp's slope, the whole step for a jump, and at least 1."""
    stage = stage_at(plan, t)
    if stage is None:
        return 1.0
    delta = abs(stage.users - stage.start_users)
    ramp = stage.ramp_end_s - stage.start_s
    rate = delta / ramp if ramp > 0 else float(delta)
    return max(1.0, math.ceil(rate))


def stage_mark(stage: PlannedStage, start: float, end: float) -> StageMark:
    """The ``run.json`` mark of a stage that actually ran from ``start`` to ``end`` (unix s);
    its ramp end keeps the planned offset from the start, cut at ``end``."""
    ramp_end = min(start + (stage.ramp_end_s - stage.start_s), end)
    return StageMark(
        index=stage.index,
        name=stage.name,
        users=stage.users,
        start=start,
        ramp_end=ramp_end,
        end=end,
    )
