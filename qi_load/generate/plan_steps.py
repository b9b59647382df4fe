"""The plan's last stage run as steps chosen while the test runs (a capacity search, a sweep).

The master (or local runner) owns the plan: the scenario's last stage is a placeholder until
the shape reaches it, then each step replaces it as a stage of its own (``<stage>-1``,
``<stage>-2``, ...). Every change is published: to the shape, to the workers (so each record
carries its step's name), to ``run.json`` and, with the driver's result so far, to the
driver's JSON file in the run directory.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from locust.runners import MasterRunner

from qi_load.generate.plan import PlannedStage
from qi_load.generate.run_state import QiState
from qi_load.generate.shapes import ScenarioShape
from qi_load.generate.wire import PLAN_MESSAGE, plan_to_wire
from qi_load.record.wall_clock import wall_now

__all__ = ["PlanSteps", "StepDriver", "write_json"]

logger = logging.getLogger("qi_load")


class PlanSteps:
    """Starts and ends the steps of the plan's last stage, and publishes each change."""

    def __init__(self, qi: QiState, shape: ScenarioShape, name: str, result_file: str) -> None:
        self.qi, self.shape, self.name, self.result_file = qi, shape, name, result_file
        self.origin = list(qi.plan)
        """The plan as the scenario gives it, the stepped stage a placeholder at its end."""
        self.step: PlannedStage | None = None
        self.t0 = 0.0

    @property
    def budget(self) -> PlannedStage:
        """The stepped stage as planned: its start and its time budget's end."""
        return self.origin[-1]

    def restore(self) -> None:
        """A new test: the plan as the scenario gives it."""
        if self.origin:
            self.qi.plan = list(self.origin)
            self.shape.replan(self.origin)
        self.step = None

    def clock(self, t: float) -> None:
        """Note the plan's wall-clock origin at a tick (``t``: plan seconds); the shape's
        first stage sets ``qi.t0`` only after the driver ran."""
        self.t0 = self.qi.t0 if self.qi.t0 is not None else wall_now() - t

    def start(self, t: float, result: Mapping[str, Any], **fields: Any) -> PlannedStage:
        """End the current step at ``t`` and start the next there; ``fields`` are the new
        step's ``PlannedStage`` fields (``users``, ``rate``, ``settle_s``, ...)."""
        plan = self._ended(t)
        number = sum(1 for s in plan if s.name.startswith(f"{self.name}-")) + 1
        fields.setdefault("end_s", self.budget.end_s)
        self.step = PlannedStage(
            index=len(plan),
            name=f"{self.name}-{number}",
            start_s=t,
            ramp_end_s=t,
            start_users=plan[-1].users if plan else 0,
            mix=self.budget.mix,
            **fields,
        )
        self.publish([*plan, self.step], result)
        return self.step

    def extend(self, end_s: float, result: Mapping[str, Any]) -> None:
        """The current step goes on until ``end_s``."""
        assert self.step is not None
        self.step = dataclasses.replace(self.step, end_s=end_s)
        self.publish([*self.qi.plan[:-1], self.step], result)

    def end(self, t: float, result: Mapping[str, Any]) -> None:
        """End the current step at ``t``: the plan, and so the test, end there."""
        self.publish(self._ended(t), result)
        self.step = None

    def _ended(self, t: float) -> list[PlannedStage]:
        plan = list(self.qi.plan)
        if self.step is None:
            return plan[:-1]  # the placeholder goes
        plan[-1] = dataclasses.replace(plan[-1], end_s=t)
        return plan

    def publish(self, plan: list[PlannedStage], result: Mapping[str, Any]) -> None:
        """The plan changed: the shape, the workers, run.json and the result file learn it."""
        qi = self.qi
        qi.plan = plan
        self.shape.replan(plan)
        runner = qi.environment.runner
        if isinstance(runner, MasterRunner) and qi.t0 is not None:
            runner.send_message(PLAN_MESSAGE, dict(plan_to_wire(qi.t0, plan, qi.scenario)))
        if qi.active and qi.run_dir is not None and qi.t0 is not None:
            qi.run_dir.update_manifest(stages=qi.stage_marks())
            write_json(qi.run_dir.path / self.result_file, result)


class StepDriver(ABC):
    """A plan driver that runs the last stage as steps (``shapes.PlanDriver``): it waits for
    the stage's start, begins the first step there, then looks at the running step at every
    tick until it is ``done``."""

    steps: PlanSteps
    done: bool

    def advance(self, t: float) -> None:
        """At each shape tick (``t``: plan seconds), before the shape reads the plan."""
        if self.done:
            return
        self.steps.clock(t)
        step = self.steps.step
        if step is None:
            if t >= self.steps.budget.start_s:
                self.begin(t)
            return
        self.tick(t, step)

    @abstractmethod
    def begin(self, t: float) -> None:
        """The stage starts: its first step."""

    @abstractmethod
    def tick(self, t: float, step: PlannedStage) -> None:
        """A tick while ``step`` runs: end it, start the next, or let it go on."""


def write_json(path: Path, content: Mapping[str, Any]) -> None:
    """Replace ``path`` atomically: a reader never sees half a file."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(json.dumps(content, indent=2) + "\n")
        os.replace(temporary, path)
    except OSError as exc:
        logger.error("qi-load: cannot write %s: %s", path, exc)
