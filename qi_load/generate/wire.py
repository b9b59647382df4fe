"""The messages qi-load's Locust processes exchange, and the wire form of the run's plan."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Final, TypedDict

from qi_load.generate.clock_estimate import ClockEstimate, ClockSample
from qi_load.generate.plan import PlannedStage
from qi_load.scenario import Scenario

__all__ = [
    "CLOCK_OFFSET_MESSAGE",
    "CLOCK_PING_MESSAGE",
    "CLOCK_PONG_MESSAGE",
    "PLAN_MESSAGE",
    "PLAN_REQUEST_MESSAGE",
    "REPORT_KEY",
    "SEQUENCE_DONE_MESSAGE",
    "WORKER_LEFT_MESSAGE",
    "ClockPing",
    "ClockPong",
    "ClockReport",
    "PlanMessage",
    "ping_from_wire",
    "plan_from_wire",
    "plan_to_wire",
    "pong_from_wire",
    "report_from_wire",
    "report_to_wire",
]

REPORT_KEY: Final = "qi_records"
"""Worker -> master: the records, inside Locust's own stats report."""
PLAN_MESSAGE: Final = "qi_plan"
"""Master -> workers: ``PlanMessage``, the one way a worker learns the scenario."""
PLAN_REQUEST_MESSAGE: Final = "qi_plan_request"
"""Worker -> master, once its handlers are in place: the plan, if it has started (a worker
that joins late; the master cannot send it on connect, which comes before the worker's
``init``, when the worker would drop it as an unknown message)."""
SEQUENCE_DONE_MESSAGE: Final = "qi_sequence_done"
"""Worker -> master: ``{"stage": name}``, a count-bounded stage's sequence is done."""
WORKER_LEFT_MESSAGE: Final = "qi_worker_left"
"""Worker -> master: this worker is leaving on a signal (its last records came just before)."""
CLOCK_PING_MESSAGE: Final = "qi_clock_ping"
"""Worker -> master: ``ClockPing``, one probe of the master's clock."""
CLOCK_PONG_MESSAGE: Final = "qi_clock_pong"
"""Master -> the worker that pinged: ``ClockPong``."""
CLOCK_OFFSET_MESSAGE: Final = "qi_clock_offset"
"""Worker -> master: ``ClockReport``, the offset the worker now applies (for run.json)."""


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


class ClockPing(TypedDict):
    """A probe the worker sent at ``t1`` (unix s, its own clock)."""

    seq: int
    t1: float


class ClockPong(TypedDict):
    """The probe back, with the master's receive (``t2``) and send (``t3``) times."""

    seq: int
    t1: float
    t2: float
    t3: float


class ClockReport(TypedDict):
    """The offset a worker applies (master = worker + offset) and its sample's round trip."""

    offset_ms: float
    delay_ms: float
    samples: int


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def ping_from_wire(data: Any) -> ClockPing | None:
    """The master's check of a worker's probe; ``None`` when it is not one."""
    if not isinstance(data, dict):
        return None
    seq, t1 = _count(data.get("seq")), _number(data.get("t1"))
    return None if seq is None or t1 is None else ClockPing(seq=seq, t1=t1)


def pong_from_wire(data: Any, t4: float) -> tuple[int, ClockSample] | None:
    """The worker's reading of a pong received at ``t4``: its probe's number and sample."""
    if not isinstance(data, dict):
        return None
    seq = _count(data.get("seq"))
    t1, t2, t3 = (_number(data.get(k)) for k in ("t1", "t2", "t3"))
    if seq is None or t1 is None or t2 is None or t3 is None:
        return None
    return seq, ClockSample(t1=t1, t2=t2, t3=t3, t4=t4)


def report_to_wire(estimate: ClockEstimate) -> ClockReport:
    return ClockReport(
        offset_ms=estimate.offset_s * 1000.0,
        delay_ms=estimate.delay_s * 1000.0,
        samples=estimate.samples,
    )


def report_from_wire(data: Any) -> ClockReport | None:
    """The master's check of a worker's report; ``None`` when it is not one."""
    if not isinstance(data, dict):
        return None
    offset, delay = _number(data.get("offset_ms")), _number(data.get("delay_ms"))
    samples = _count(data.get("samples"))
    if offset is None or delay is None or delay < 0 or samples is None or samples < 1:
        return None
    return ClockReport(offset_ms=offset, delay_ms=delay, samples=samples)
