"""The rate sweep in Locust: synchronous baseline, maximum throughput, then rates between.

The scenario's last stage, when it has ``sweep``, runs as ``rates + 2`` steps
(``plan_steps``): one user without think time, the stage's users without think time, then
the open loop at ``rates`` rates spread evenly between the two throughputs measured. Each
step's throughput is counted from the records written in this process (local users' and the
workers'): ends per second after the step's settle time. Each step gets an equal share of the
time the stage has left; a measuring step that has no rate yet (a slow service, users that
started late) goes on, a tick at a time, while the stage has time. ``sweep.json`` holds the
steps so far; the report shows one row per step.
"""

from __future__ import annotations

import logging

from qi_load.generate.plan import PlannedStage
from qi_load.generate.plan_steps import PlanSteps, StepDriver
from qi_load.generate.run_state import QiState
from qi_load.generate.shapes import ScenarioShape
from qi_load.generate.sweep import (
    SWEEP_JSON,
    StepKind,
    SweepResult,
    SweepStep,
    Throughput,
    sweep_rates,
)
from qi_load.scenario import Scenario

__all__ = ["SweepDriver", "install_sweep"]

logger = logging.getLogger("qi_load")

EXTEND_S = 1.0
"""How far a measuring step without a rate goes on before it looks again (a shape tick)."""


class SweepDriver(StepDriver):
    """Runs the sweep stage's steps at shape ticks."""

    def __init__(self, qi: QiState, shape: ScenarioShape, scenario: Scenario) -> None:
        stage = scenario.stages[-1]
        assert stage.sweep is not None
        self.count, self.pool, self.settle_s = stage.sweep.rates, stage.users, scenario.settle_s
        self.steps = PlanSteps(qi, shape, stage.name, SWEEP_JSON)
        self.throughput = Throughput()
        self.reset()

    def reset(self) -> None:
        self.steps.restore()
        self.result = SweepResult(
            stage=self.steps.name, synchronous_rate=None, max_rate=None, steps=[]
        )
        self.rates: list[float] = []
        self.waiting = ""
        """The step that went on past its share for want of a rate (logged once)."""
        self.done = False

    def begin(self, t: float) -> None:
        self._start(t)

    def tick(self, t: float, step: PlannedStage) -> None:
        if t < step.end_s:
            return
        end_s = self.steps.budget.end_s
        if len(self.result["steps"]) < 2 and self.throughput.rate() is None and t < end_s:
            # The rates between come from the first two steps: one without a rate is no use.
            if self.waiting != step.name:
                self.waiting = step.name
                logger.info("sweep %s: no rate yet, the step goes on", step.name)
            self.steps.extend(min(t + EXTEND_S, end_s), self.result)
            return
        self._measured(t)
        taken, planned = len(self.result["steps"]), self.count + 2
        if taken == planned or t >= end_s:
            self.done = True
            self.steps.end(t, self.result)
            if taken == planned:
                logger.info("sweep %s: done", self.steps.name)
            else:
                logger.warning(
                    "sweep %s: the stage's time ran out after %d of %d steps: lengthen hold_s",
                    self.steps.name,
                    taken,
                    planned,
                )
        else:
            self._start(t)

    def _share(self, t: float) -> float:
        """The length of a step that starts at ``t``: an equal share of the time left."""
        left = self.count + 2 - len(self.result["steps"])
        return max(0.0, self.steps.budget.end_s - t) / left

    def _measured(self, t: float) -> None:
        step = self.steps.step
        assert step is not None
        index = len(self.result["steps"])
        rate = self.throughput.rate()
        kind: StepKind = "synchronous" if index == 0 else "throughput" if index == 1 else "rate"
        self.result["steps"].append(
            SweepStep(
                stage=step.name,
                kind=kind,
                target_rate=step.rate or None,
                measured_rate=rate,
                start=self.steps.t0 + step.start_s,
                end=self.steps.t0 + t,
            )
        )
        measured = "no rate: fewer than two ended" if rate is None else f"{rate:.3g} requests/s"
        logger.info("sweep %s: %s, %s", step.name, kind, measured)
        if index == 0:
            self.result["synchronous_rate"] = rate
        elif index == 1:
            self.result["max_rate"] = rate
            self.rates = sweep_rates(
                self.result["synchronous_rate"] or 0.0, rate or 0.0, self.count
            )

    def _start(self, t: float) -> None:
        index = len(self.result["steps"])
        end_s = t + self._share(t)
        self.throughput.restart(self.steps.t0 + t + self.settle_s)
        if index < 2:
            users = 1 if index == 0 else self.pool
            self.steps.start(
                t, self.result, users=users, end_s=end_s, settle_s=self.settle_s, no_think=True
            )
            return
        rate = self.rates[index - 2]
        if rate <= 0:  # nothing was served: no rate to try
            self.done = True
            self.steps.end(t, self.result)
            return
        self.steps.start(
            t, self.result, users=self.pool, end_s=end_s, settle_s=self.settle_s, rate=rate
        )


def install_sweep(qi: QiState, shape: ScenarioShape) -> None:
    """Master/local: when the scenario ends with a sweep stage, it drives the shape."""
    scenario = qi.scenario
    if scenario is None or scenario.stages[-1].sweep is None:
        return
    driver = SweepDriver(qi, shape, scenario)
    qi.observers.append(driver.throughput.observe)
    shape.driver = driver
