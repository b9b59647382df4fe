"""The messages qi-load's Locust processes exchange, and the wire form of the run's plan."""

from __future__ import annotations

import dataclasses
from typing import Any, Final, TypedDict

from qi_load.generate.plan import PlannedStage
from qi_load.scenario import Scenario

__all__ = [
    "PLAN_MESSAGE",
    "REPORT_KEY",
    "SEQUENCE_DONE_MESSAGE",
    "WORKER_LEFT_MESSAGE",
    "PlanMessage",
    "plan_from_wire",
    "plan_to_wire",
]

REPORT_KEY: Final = "qi_records"
"""Worker -> master: the records, inside Locust's own stats report."""
PLAN_MESSAGE: Final = "qi_plan"
"""Master -> workers: ``PlanMessage``, the one way a worker learns the scenario."""
SEQUENCE_DONE_MESSAGE: Final = "qi_sequence_done"
"""Worker -> master: ``{"stage": name}``, a count-bounded stage's sequence is done."""
WORKER_LEFT_MESSAGE: Final = "qi_worker_left"
"""Worker -> master: this worker is leaving on a signal (its last records came just before)."""


class PlanMessage(TypedDict):
    """Master -> workers: the resolved scenario, its stage plan and the wall-clock time the
    plan's t=0 corresponds to."""

    t0: float
    stages: list[dict[str, Any]]
    scenario: dict[str, Any] | None


def plan_to_wire(t0: float, plan: list[PlannedStage], scenario: Scenario | None) -> PlanMessage:
    stages = []
    for stage in plan:
        item = dataclasses.asdict(stage)
        item["mix"] = dict(stage.mix)
        stages.append(item)
    dumped = scenario.model_dump(mode="json") if scenario is not None else None
    return PlanMessage(t0=t0, stages=stages, scenario=dumped)


def plan_from_wire(message: PlanMessage) -> tuple[float, list[PlannedStage], Scenario | None]:
    scenario = message.get("scenario")
    return (
        message["t0"],
        [PlannedStage(**item) for item in message["stages"]],
        Scenario.model_validate(scenario) if scenario is not None else None,
    )
