"""The capacity search in Locust: the master (or local runner) runs its steps as plan stages.

The scenario's last stage, when it has ``search``, is a placeholder in the plan until the
shape reaches it; from then on the ``SearchDriver`` replaces it with one stage per step
(``<stage>-1``, ``<stage>-2``, ...): users for the closed loop, the stage's users at a step
``rate`` for the open loop. Every change of the plan is broadcast to the workers (each
record then carries its step's name), written to ``run.json`` and, with the path so far, to
``search.json``. Each step is judged from the records written in this process (the local
users' and the workers', as they arrive), so local and master/worker runs decide alike.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from locust.runners import MasterRunner

from qi_load.generate.plan import PlannedStage
from qi_load.generate.run_state import QiState
from qi_load.generate.search import (
    CUT_MIN_SAMPLES,
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
)
from qi_load.generate.shapes import ScenarioShape
from qi_load.generate.wire import PLAN_MESSAGE, plan_to_wire
from qi_load.record.schema import RequestRecord
from qi_load.scenario import Scenario, Slo

__all__ = ["SearchDriver", "install_search"]

logger = logging.getLogger("qi_load")

_MIN_STEP_S: Final = 1.0
"""A step shorter than Locust's shape tick cannot be applied."""


class SearchDriver:
    """Runs the search stage: starts, judges, repeats and ends its steps at shape ticks."""

    def __init__(self, qi: QiState, shape: ScenarioShape, scenario: Scenario) -> None:
        stage = scenario.stages[-1]
        assert stage.search is not None
        self.qi, self.shape, self.settings = qi, shape, stage.search
        self.name, self.pool = stage.name, stage.users
        self.open_loop = scenario.arrival.mode == "open"
        mix = scenario.stage_mix(stage)
        self.slos: dict[str, Slo] = {
            t: scenario.slos[t] for t, w in mix.items() if w > 0 and t in scenario.slos
        }
        self.origin = list(qi.plan)
        """The plan as the scenario gives it: the search stage is its last, a placeholder."""
        self.reset()

    def reset(self) -> None:
        """A new test: the plan from the scenario again, a fresh search."""
        if self.origin:
            self.qi.plan = list(self.origin)
            self.shape.replan(self.origin)
        self.search = CapacitySearch(
            self.settings, "open" if self.open_loop else "closed", self.name
        )
        self.step: PlannedStage | None = None
        self.samples: dict[str, StepSamples] = {}
        self.window_start = 0.0
        self.t0 = 0.0
        self.repeat = 0
        self.done = False

    @property
    def budget(self) -> PlannedStage:
        """The search stage as planned: its start and its time budget's end."""
        return self.origin[-1]

    def observe(self, records: list[RequestRecord]) -> None:
        """``QiState`` observer: the records scheduled in the step's window count."""
        if self.step is not None and not self.done:
            collect(records, self.window_start, self.slos, self.samples, self.open_loop)

    def advance(self, t: float) -> None:
        """At each shape tick (``t``: plan seconds), before the shape reads the plan."""
        if self.done:
            return
        # The plan's wall-clock origin (the shape's first stage sets qi.t0 only after this).
        self.t0 = self.qi.t0 if self.qi.t0 is not None else time.time() - t
        if self.step is None:
            if t >= self.budget.start_s:
                self._next_step(t, self.search.first_load(), settle=True)
            return
        verdict = judge(self.samples, self.slos, self.settings.min_samples)
        out_of_time = t >= self.budget.end_s - _MIN_STEP_S
        if verdict["decision"] == "fail" and verdict["n"] >= CUT_MIN_SAMPLES:
            self._decide(
                t, verdict, "fail", certain=True, cut=verdict["n"] < self.settings.min_samples
            )
        elif verdict["decision"] == "pass":
            self._decide(t, verdict, "pass", certain=True, cut=False)
        elif self._rising():
            self._decide(t, verdict, "fail", certain=True, cut=True)
        elif out_of_time or t >= self.step.end_s:
            if self.repeat < self.settings.max_repeats and not out_of_time:
                self.search.path.append(self._path_step(t, verdict, "uncertain", False, False))
                self.repeat += 1
                self._next_step(t, self._load(self.step), settle=False)
            else:
                self._decide(t, verdict, point_decision(verdict), certain=False, cut=False)
        if out_of_time and not self.done:
            self.search.finished = "budget"
            self._finish(t)

    def _rising(self) -> bool:
        return any(
            slo.ttft_p95_ms is not None
            and rising(self.samples.get(t, StepSamples()).ttft_ms, slo.ttft_p95_ms)
            for t, slo in self.slos.items()
        )

    def _load(self, step: PlannedStage) -> float:
        return step.rate if self.open_loop else float(step.users)

    def _path_step(
        self, t: float, verdict: Verdict, decision: Decision, certain: bool, cut: bool
    ) -> PathStep:
        assert self.step is not None
        step, t0 = self.step, self.t0
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
        if next_load is None or t >= self.budget.end_s - _MIN_STEP_S:
            if next_load is not None:
                self.search.finished = "budget"
            self._finish(t)
        else:
            self._next_step(t, next_load, settle=True)

    def _next_step(self, t: float, load: float, settle: bool) -> None:
        """End the current step at ``t`` (if any) and start one at ``load`` there; a repeat
        (``settle`` False) pools its samples with the step it repeats."""
        plan = self._ended(t)
        settle_s = self.settings.settle_s if settle else 0.0
        if settle and self.search.path and self.search.path[-1]["decision"] == "fail":
            settle_s *= 2  # the agent's queue still holds the failed step's backlog
        if settle:
            self.window_start = self.t0 + t + settle_s
        number = sum(1 for s in plan if s.name.startswith(f"{self.name}-")) + 1
        self.step = PlannedStage(
            index=len(plan),
            name=f"{self.name}-{number}",
            users=self.pool if self.open_loop else int(load),
            start_s=t,
            ramp_end_s=t,
            end_s=min(t + self.settings.step_max_s, self.budget.end_s),
            start_users=plan[-1].users if plan else 0,
            settle_s=settle_s,
            mix=self.budget.mix,
            rate=load if self.open_loop else 0.0,
        )
        self._publish([*plan, self.step])

    def _ended(self, t: float) -> list[PlannedStage]:
        """The plan with the current step ended at ``t`` (or without the placeholder)."""
        plan = list(self.qi.plan)
        if self.step is None:
            return plan[:-1]
        plan[-1] = dataclasses.replace(plan[-1], end_s=t)
        return plan

    def _finish(self, t: float) -> None:
        self.done = True
        self._publish(self._ended(t))
        self.step = None
        result = self.search.result()
        logger.info(
            "search %s: capacity %s %s (%s)",
            result["stage"],
            f"{result['capacity']:g}" if result["capacity"] is not None else "-",
            result["unit"],
            result["finished"],
        )

    def _publish(self, plan: list[PlannedStage]) -> None:
        """The plan changed: the shape, the workers, run.json and search.json learn it."""
        qi = self.qi
        qi.plan = plan
        self.shape.replan(plan)
        runner = qi.environment.runner
        if isinstance(runner, MasterRunner) and qi.t0 is not None:
            runner.send_message(PLAN_MESSAGE, dict(plan_to_wire(qi.t0, plan, qi.scenario)))
        if qi.active and qi.run_dir is not None and qi.t0 is not None:
            qi.run_dir.update_manifest(stages=qi.stage_marks())
            _write_json(qi.run_dir.path / SEARCH_JSON, self.search.result())


def _write_json(path: Path, content: Mapping[str, Any]) -> None:
    """Replace ``path`` atomically: a reader never sees half a file."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(json.dumps(content, indent=2) + "\n")
        os.replace(temporary, path)
    except OSError as exc:
        logger.error("qi-load: cannot write %s: %s", path, exc)


def install_search(qi: QiState, shape: ScenarioShape) -> None:
    """Master/local: when the scenario ends with a search stage, it drives the shape."""
    scenario = qi.scenario
    if scenario is None or scenario.stages[-1].search is None:
        return
    driver = SearchDriver(qi, shape, scenario)
    qi.observers.append(driver.observe)
    shape.driver = driver
