"""The rate sweep's logic: the rates between a synchronous baseline and the maximum throughput,
and a step's throughput from live records. Pure: no Locust, no pandas."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal, TypedDict

from qi_load.record.schema import RequestRecord

__all__ = ["SWEEP_JSON", "StepKind", "SweepResult", "SweepStep", "Throughput", "sweep_rates"]

SWEEP_JSON: Final = "sweep.json"
"""The sweep's steps and rates in the run directory (a ``SweepResult``)."""

StepKind = Literal["synchronous", "throughput", "rate"]


class SweepStep(TypedDict):
    """One step of the sweep: its stage, kind, the rate it was given (open loop) and the
    throughput it measured live (requests finished per second in its window)."""

    stage: str
    kind: StepKind
    target_rate: float | None
    measured_rate: float | None
    start: float
    end: float


class SweepResult(TypedDict):
    stage: str
    synchronous_rate: float | None
    max_rate: float | None
    steps: list[SweepStep]


def sweep_rates(low: float, high: float, count: int) -> list[float]:
    """``count`` rates spread evenly strictly between ``low`` and ``high``."""
    return [low + (high - low) * i / (count + 1) for i in range(1, count + 1)]


class Throughput:
    """Requests that finished in a window, counted as their records arrive."""

    def __init__(self) -> None:
        self.ends: list[float] = []
        self.window_start = 0.0

    def restart(self, window_start: float) -> None:
        self.ends, self.window_start = [], window_start

    def observe(self, records: Iterable[RequestRecord]) -> None:
        for record in records:
            if record.error_kind == "cancelled":
                continue
            end = record.ts_start + (record.e2e_ms or 0.0) / 1000.0
            if end >= self.window_start:
                self.ends.append(end)

    def rate(self) -> float | None:
        """Requests per second between the first and the last end counted so far: records
        still on their way (a worker reports once a second) or a user that started late
        shorten the span instead of diluting the rate; None below two ends."""
        if len(self.ends) < 2:
            return None
        span = max(self.ends) - min(self.ends)
        return (len(self.ends) - 1) / span if span > 0 else None
