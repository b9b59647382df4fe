"""The capacity search in Locust: the master (or local runner) runs its steps as plan stages.

The scenario's last stage, when it has ``search``, is run as steps (``plan_steps``): users for
the closed loop, the stage's users at a step ``rate`` for the open loop. Each step is judged
at every shape tick from the records written in this process (the local users' and the
workers', as they arrive), so local and master/worker runs decide alike; ``search.json``
holds the result and the path so far.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Final, Literal

from qi_load.generate.plan import PlannedStage
from qi_load.generate.plan_steps import PlanSteps, StepDriver
from qi_load.generate.run_state import QiState
from qi_load.generate.search import (
    CUT_MIN_SAMPLES,
    LOOK_GROWTH,
    SEARCH_JSON,
    CapacitySearch,
    Decision,
    PathStep,
    StepSamples,
    Verdict,
    collect,
    judge,
    point_decision,
    rising,
    settling,
)
from qi_load.generate.shapes import ScenarioShape
from qi_load.record.schema import RequestRecord
from qi_load.scenario import Scenario, Slo

__all__ = ["SearchDriver", "install_search"]

logger = logging.getLogger("qi_load")

_MIN_STEP_S: Final = 1.0
"""A step shorter than Locust's shape tick cannot be applied."""


class SearchDriver(StepDriver):
    """Runs the search stage: starts, judges, repeats and ends its steps at shape ticks."""

    def __init__(self, qi: QiState, shape: ScenarioShape, scenario: Scenario) -> None:
        stage = scenario.stages[-1]
        assert stage.search is not None
        self.settings, self.pool = stage.search, stage.users
        self.open_loop = scenario.arrival.mode == "open"
        mix = scenario.stage_mix(stage)
        self.slos: dict[str, Slo] = {
            t: scenario.slos[t] for t, w in mix.items() if w > 0 and t in scenario.slos
        }
        self.steps = PlanSteps(qi, shape, stage.name, SEARCH_JSON)
        self.reset()

    def reset(self) -> None:
        """A new test: the plan from the scenario again, a fresh search."""
        self.steps.restore()
        loop: Literal["closed", "open"] = "open" if self.open_loop else "closed"
        self.search = CapacitySearch(self.settings, loop, self.steps.name)
        self.samples: dict[str, StepSamples] = {}
        self.window_start = 0.0
        self.repeat = 0
        self.done = False
        self.next_look = self.first_look

    @property
    def first_look(self) -> int:
        return self.settings.min_samples

    def observe(self, records: list[RequestRecord]) -> None:
        """``QiState`` observer: the records scheduled in the step's window count."""
        if self.steps.step is not None and not self.done:
            collect(records, self.window_start, self.slos, self.samples, self.open_loop)

    def begin(self, t: float) -> None:
        self._next_step(t, self.search.first_load(), settle=True)

    def tick(self, t: float, step: PlannedStage) -> None:
        verdict = judge(
            self.samples, self.slos, self.settings.min_samples, self.settings.confidence
        )
        out_of_time = t >= self.steps.budget.end_s - _MIN_STEP_S
        at_end = out_of_time or t >= step.end_s
        n = verdict["n"]
        look = n >= self.next_look or at_end
        if look:
            self.next_look = max(self.next_look, math.ceil(n * LOOK_GROWTH))
        if verdict["decision"] == "fail" and n >= CUT_MIN_SAMPLES and (look or n < self.first_look):
            self._decide(t, verdict, "fail", certain=True, cut=n < self.first_look)
        elif verdict["decision"] == "pass" and self._ttft_shows(settling):
            # Still climbing towards its steady state: start the window again from here.
            self.window_start, self.samples = self.steps.t0 + t, {}
            self.next_look = self.first_look
        elif verdict["decision"] == "pass" and look:
            self._decide(t, verdict, "pass", certain=True, cut=False)
        elif self._ttft_shows(rising):
            self._decide(t, verdict, "fail", certain=True, cut=True)
        elif at_end:
            if self.repeat < self.settings.max_repeats and not out_of_time:
                self.search.path.append(self._path_step(t, verdict, "uncertain", False, False))
                self.repeat += 1
                self._next_step(t, self._load(step), settle=False)
            else:
                self._decide(t, verdict, point_decision(verdict), certain=False, cut=False)
        if out_of_time and not self.done:
            self.search.finished = "budget"
            self._finish(t)

    def _ttft_shows(self, trend: Callable[[list[float], float], bool]) -> bool:
        """Whether any judged type's TTFT shows ``trend`` (``rising``, ``settling``)
        against its TTFT SLO."""
        return any(
            slo.ttft_p95_ms is not None
            and trend(self.samples.get(t, StepSamples()).ttft_ms, slo.ttft_p95_ms)
            for t, slo in self.slos.items()
        )

    def _load(self, step: PlannedStage) -> float:
        return step.rate if self.open_loop else float(step.users)

    def _path_step(
        self, t: float, verdict: Verdict, decision: Decision, certain: bool, cut: bool
    ) -> PathStep:
        step, t0 = self.steps.step, self.steps.t0
        assert step is not None
        logger.info(
            "search %s: load %g, %s%s (%s %s, n %d)",
            step.name,
            self._load(step),
            decision,
            "" if certain else " (uncertain)",
            verdict["statistic"],
            f"{verdict['value']:.0f}" if verdict["value"] is not None else "-",
            verdict["n"],
        )
        return PathStep(
            stage=step.name,
            load=self._load(step),
            start=t0 + step.start_s,
            end=t0 + t,
            verdict=verdict,
            decision=decision,
            certain=certain,
            repeat=self.repeat,
            cut_short=cut,
        )

    def _decide(
        self, t: float, verdict: Verdict, decision: Decision, *, certain: bool, cut: bool
    ) -> None:
        next_load = self.search.record(self._path_step(t, verdict, decision, certain, cut))
        self.repeat, self.samples = 0, {}
        if next_load is None or t >= self.steps.budget.end_s - _MIN_STEP_S:
            if next_load is not None:
                self.search.finished = "budget"
            self._finish(t)
        else:
            self._next_step(t, next_load, settle=True)

    def _next_step(self, t: float, load: float, settle: bool) -> None:
        """End the current step at ``t`` (if any) and start one at ``load`` there; a repeat
        (``settle`` False) pools its samples with the step it repeats."""
        settle_s = self.settings.settle_s if settle else 0.0
        if settle and self.search.path and self.search.path[-1]["decision"] == "fail":
            settle_s *= 2  # the agent's queue still holds the failed step's backlog
        if settle:
            self.window_start = self.steps.t0 + t + settle_s
            self.next_look = self.first_look
        self.steps.start(
            t,
            self.search.result(),
            users=self.pool if self.open_loop else int(load),
            end_s=min(t + self.settings.step_max_s, self.steps.budget.end_s),
            settle_s=settle_s,
            rate=load if self.open_loop else 0.0,
        )

    def _finish(self, t: float) -> None:
        self.done = True
        result = self.search.result()
        self.steps.end(t, result)
        logger.info(
            "search %s: capacity %s %s (%s)",
            result["stage"],
            f"{result['capacity']:g}" if result["capacity"] is not None else "-",
            result["unit"],
            result["finished"],
        )


def install_search(qi: QiState, shape: ScenarioShape) -> None:
    """Master/local: when the scenario ends with a search stage, it drives the shape."""
    scenario = qi.scenario
    if scenario is None or scenario.stages[-1].search is None:
        return
    driver = SearchDriver(qi, shape, scenario)
    qi.observers.append(driver.observe)
    shape.driver = driver
