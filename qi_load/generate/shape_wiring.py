"""The scenario's shape in Locust: the plan's wall-clock origin, stage changes, early ends."""

from __future__ import annotations

import logging
from typing import Any

from locust.env import Environment
from locust.runners import MasterRunner

from qi_load.generate.plan import PlannedStage
from qi_load.generate.run_state import QiState, run_state
from qi_load.generate.search_shape import install_search
from qi_load.generate.shapes import ScenarioShape
from qi_load.generate.sweep_shape import install_sweep
from qi_load.generate.wire import PLAN_MESSAGE, plan_to_wire
from qi_load.record.wall_clock import wall_now

__all__ = ["QiShape", "configure_shape", "drop_shape", "on_sequence_done"]

logger = logging.getLogger("qi_load")


class QiShape(ScenarioShape):
    """The scenario's shape, plus the wall-clock origin of its plan.

    Without ``--scenario`` the plugin removes it at ``init``, so Locust runs as it does
    without a shape (``-u``, ``-r``, ``-t``). With one, ``use_common_options`` turns False
    (set while Locust parses ``--scenario``): Locust then warns that the shape overrides
    ``-u/-r/-t``, and its web UI hides those inputs, as for any shape that ignores them.
    """

    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self.t0_wall = wall_now()

    def reset_time(self) -> None:
        super().reset_time()  # type: ignore[no-untyped-call]
        # Taken together with Locust's perf_counter origin, so t=0 of the plan is this instant.
        self.t0_wall = wall_now()


def drop_shape(environment: Environment) -> None:
    """Without a scenario, Locust runs without a shape: -u/-r/-t as in plain Locust."""
    if isinstance(environment.shape_class, QiShape):
        environment.shape_class = None
    shapes = environment.available_shape_classes
    if shapes:
        for name in [n for n, shape in shapes.items() if isinstance(shape, QiShape)]:
            del shapes[name]


def configure_shape(qi: QiState) -> None:
    """Master/local: give the shape the plan; each stage change broadcasts the plan's origin
    (first stage), marks run.json and tells monitoring."""
    shape = qi.environment.shape_class
    if not isinstance(shape, QiShape) or not qi.plan:
        return

    def on_stage_change(stage: PlannedStage | None, wall: float) -> None:
        if stage is not None and (qi.t0 is None or stage is qi.plan[0]):
            qi.t0 = shape.t0_wall
            qi.completed = False
            runner = qi.environment.runner
            if isinstance(runner, MasterRunner):
                runner.send_message(PLAN_MESSAGE, dict(plan_to_wire(qi.t0, qi.plan, qi.scenario)))
            if qi.active and qi.run_dir is not None:
                qi.run_dir.update_manifest(test_start=qi.t0, stages=qi.stage_marks())
        if stage is None:
            qi.completed = True
            return
        logger.info("stage %s: %d users", stage.name, stage.users)
        if qi.monitoring is not None:
            qi.monitoring.stage_changed(stage.name, stage.users)

    shape.configure(qi.plan, on_stage_change=on_stage_change)
    install_search(qi, shape)
    install_sweep(qi, shape)


def on_sequence_done(environment: Environment, msg: Any, **_kw: Any) -> None:
    """Master: a worker's user finished a count-bounded stage's sequence."""
    qi = run_state(environment)
    if qi.record_gate is not None and qi.record_gate.admits(msg):
        qi.finish_sequence(str((msg.data or {}).get("stage", "")))
