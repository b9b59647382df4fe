"""Locust ``LoadTestShape`` adapter that makes Locust follow a scenario's load plan.

The pure plan functions (``stage_plan``, ``users_at``, ``stage_at``, ``spawn_rate_at``,
``next_change_s``, ``stage_mark``) live in ``qi_load.generate.plan`` and are re-exported here;
import them from ``plan`` in processes that must not import Locust (importing Locust
monkey-patches the process with gevent).

Using the shape from a locustfile (the shape only runs on the master or the local runner)::

    from qi_load.generate.shapes import ScenarioShape   # Locust finds and instantiates it

    @events.init.add_listener
    def on_init(environment, **_):
        plan = stage_plan(load_scenario(path))
        environment.shape_class.configure(plan, on_stage_change=broadcast)

``on_stage_change(stage, wall)`` is called from the shape's greenlet, before the stage's
users are requested, with the ``PlannedStage`` that starts and the run's wall clock
(``wall_now()``); at the end of the plan (or after ``finish()``, or ``stage_done(name)``
for a count-bounded last stage) it is called once more with ``None``, then ``tick()``
returns ``None`` and Locust stops the test. A run interrupted by Ctrl-C gets no final
``None`` call: close the last stage on Locust's ``test_stop``/``quit`` events.

Locust calls ``tick()`` about once a second and applies ``(users, spawn_rate)`` when it
changes. Locust skips a stage when the spawn it asked for takes longer than the stage, so
each tick asks for the interpolated user count of that instant, with a spawn rate that
reaches it within the tick. When nothing is pending and the next change of users or stage
(``next_change_s``) falls within the coming second, ``tick()`` sleeps until it, so stage
boundaries and jumps happen on time (to a few milliseconds) instead of up to a second late.
Ticks stay about a second apart, hence the scenario loader's 1 s minimum per stage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import gevent
from locust import LoadTestShape

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
from qi_load.record.wall_clock import wall_now

__all__ = [
    "PlanDriver",
    "PlannedStage",
    "ScenarioShape",
    "StageListener",
    "next_change_s",
    "plan_end_s",
    "spawn_rate_at",
    "stage_at",
    "stage_mark",
    "stage_plan",
    "users_at",
]

logger = logging.getLogger(__name__)


class PlanDriver(Protocol):
    """Changes the plan while the test runs (the capacity search): ``advance(t)`` at each
    tick, before the plan is read; ``reset()`` when a new test starts from the beginning."""

    def advance(self, t: float) -> None: ...

    def reset(self) -> None: ...


StageListener = Callable[[PlannedStage | None, float], None]
"""``(stage that starts, or None at the end; wall-clock unix seconds)``."""

TICK_S = 1.0
"""Locust's shape loop period."""
_OVERSLEEP_S = 0.002
"""Wake just after a change, never just before it."""


class ScenarioShape(LoadTestShape):
    """Follows ``users_at(plan, t)`` with ``t`` = Locust's shape run time."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.plan: list[PlannedStage] = []
        self.on_stage_change: StageListener | None = None
        self._stage: PlannedStage | None = None
        self._last: tuple[int, float] | None = None
        self._last_t = -1.0
        self._finished = False
        self.driver: PlanDriver | None = None

    def configure(
        self, plan: Sequence[PlannedStage], on_stage_change: StageListener | None = None
    ) -> None:
        """Set the plan to follow (before the test starts) and the stage listener."""
        self.plan = list(plan)
        self.on_stage_change = on_stage_change

    def replan(self, plan: Sequence[PlannedStage]) -> None:
        """Follow ``plan`` from the next reading on (the driver changed it)."""
        self.plan = list(plan)

    def finish(self) -> None:
        """End the test at the next tick."""
        self._finished = True

    def stage_done(self, name: str) -> bool:
        """A count-bounded stage finished its work early. When it is the plan's last stage
        the test ends at the next tick (returns True); otherwise the plan goes on unchanged
        and the rest of the stage's budget stays idle, so that stage times (and the stage
        tags derived from them) keep matching the plan."""
        if self.plan and self.plan[-1].name == name:
            self.finish()
            return True
        return False

    @property
    def current_stage(self) -> PlannedStage | None:
        return self._stage

    def tick(self) -> tuple[int, float] | None:
        if not self.plan:
            logger.error("ScenarioShape has no plan: call configure() at Locust's init event")
            return None
        t = self.get_run_time()  # type: ignore[no-untyped-call]
        if t < self._last_t:
            self.restart()  # Locust reset the clock: a new test (e.g. from the web UI)
        if self._unchanged_at(t):
            # Nothing to apply now: wait for a change due before the next tick, so that
            # it is applied on time rather than up to a second late.
            upcoming = next_change_s(self.plan, t)
            if upcoming is not None and upcoming - t <= TICK_S:
                self._sleep(upcoming - t + _OVERSLEEP_S)
                t = self.get_run_time()  # type: ignore[no-untyped-call]
        self._last_t = t
        if self.driver is not None:
            self.driver.advance(t)
        stage = None if self._finished else stage_at(self.plan, t)
        # By name: a step the driver lengthened is a new object but not a new stage.
        before = self._stage.name if self._stage is not None else None
        starts = (stage.name if stage is not None else None) != before
        self._stage = stage
        if starts and self.on_stage_change is not None:
            self.on_stage_change(stage, wall_now())
        if stage is None:
            return None
        users = users_at(self.plan, t)
        if self._last is not None and self._last[0] == users:
            return self._last  # same tuple: Locust leaves a running spawn alone
        previous = self._last[0] if self._last is not None else 0
        rate = max(spawn_rate_at(self.plan, t), float(abs(users - previous)))
        self._last = (users, rate)
        return self._last

    def _unchanged_at(self, t: float) -> bool:
        if self._finished or self._last is None:
            return False
        return stage_at(self.plan, t) is self._stage and users_at(self.plan, t) == self._last[0]

    def restart(self) -> None:
        """The next tick starts the plan from its first stage (a test ended: the web UI may
        start another, whose first tick can come before the last one's clock reading)."""
        self._stage = None
        self._last = None
        self._finished = False
        if self.driver is not None:
            self.driver.reset()

    def _sleep(self, seconds: float) -> None:
        gevent.sleep(seconds)
