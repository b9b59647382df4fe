"""One Locust process's qi-load state for the current run, kept on Locust's ``Environment``.

The plugin builds it at ``init`` (``attach_state``); users, monitoring and the web UI reach
it through ``run_state(environment)``, never through a module global.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import gevent
from locust.env import Environment

from qi_load.errors import OutputError
from qi_load.generate.clock import RunClock
from qi_load.generate.options import LoadOptions
from qi_load.generate.plan import PlannedStage, plan_end_s, stage_at, stage_plan, users_at
from qi_load.generate.queries import QualityManifest
from qi_load.generate.recent import RecentRequests
from qi_load.generate.shapes import ScenarioShape
from qi_load.generate.worker_loss import WorkerLoss
from qi_load.record.record_gate import RecordGate
from qi_load.record.recorder import RecordBuffer, RunWriter
from qi_load.record.rundir import RunDir, RunStatus
from qi_load.record.schema import HostSample, RequestRecord, StageMark
from qi_load.scenario import Scenario

if TYPE_CHECKING:
    from qi_load.generate.monitoring import Monitoring
    from qi_load.generate.otlp_intake import SpanIntake
    from qi_load.generate.queries import QueryCatalogue

__all__ = ["PLAN_OVER_IDLE_S", "MixTable", "QiState", "attach_state", "run_state"]

logger = logging.getLogger("qi_load")

_ATTRIBUTE: Final = "qi_load_state"
"""The ``Environment`` attribute the state hangs on."""
PLAN_OVER_IDLE_S: Final = 0.2
"""How long a user idles per turn once the plan is over, until the master's quit arrives."""

MixTable = tuple[list[str], list[float]]
"""Query types and their cumulative weights."""


@dataclass
class QiState:
    """Per-process qi-load state of one Locust environment, shared by the plugin and users."""

    environment: Environment
    options: LoadOptions = field(default_factory=LoadOptions)
    """qi-load's options, read once from Locust's (a worker's: the master's, at each test)."""
    scenario: Scenario | None = None
    plan: list[PlannedStage] = field(default_factory=list)
    t0: float | None = None
    """Wall-clock (unix s) origin of the plan; None until the shape starts."""
    clock: RunClock = field(default_factory=RunClock)
    """qi-load's wall clock here, on the master's time line (``clock_sync`` sets a worker's)."""
    worker_clocks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Master: each worker's last clock report (run.json's ``workers[].clock``)."""
    worker_id: str = "local"
    buffer: RecordBuffer = field(default_factory=RecordBuffer)
    writer: RunWriter | None = None
    run_dir: RunDir | None = None
    """The run directory of the current (or last) test; None before the first test starts."""
    runs_opened: int = 0
    active: bool = False
    """Between ``test_start`` and ``test_stop``: host samples go to the run directory."""
    finalized: bool = False
    status: RunStatus = "running"
    completed: bool = False
    interrupted_by: str = ""
    quitting: bool = False
    """Locust's shutdown began (its ``quitting`` event fired)."""
    lost_workers: list[dict[str, Any]] = field(default_factory=list)
    workers_seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    recent: RecentRequests | None = None
    """Requests of the progress window (kept only when progress lines are printed)."""
    greenlets: list[gevent.Greenlet] = field(default_factory=list)
    monitoring: Monitoring | None = None
    spans: SpanIntake | None = None
    """Master / local with ``--otlp-port``: the agent's spans into the run's spans.csv."""
    observers: list[Callable[[list[RequestRecord]], None]] = field(default_factory=list)
    """Also called with every batch written (master / local): e.g. the web UI's live view."""
    quality: QualityManifest | None = None
    """The run's answer checks (``--quality``, ``--reference-agent``, ``--queries``)."""
    record_gate: RecordGate | None = None
    """Master: the check of the workers' record batches (and its drop counts)."""
    output_error: OutputError | None = None
    """The first failed write to the run directory: the run stops, its status is failed."""
    worker_loss: WorkerLoss = field(default_factory=WorkerLoss)
    catalogue: QueryCatalogue | None = None
    """The prompts and checks the users draw from (built by the first user)."""
    mix_tables: dict[tuple[tuple[str, float], ...], MixTable] = field(default_factory=dict)
    """Per stage mix: the users' weighted choice, computed once (hot path)."""
    user_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    """Numbers for new virtual users, unique within this process."""

    def next_user_id(self) -> int:
        """A number for a new virtual user, unique within this Locust process."""
        return next(self.user_ids)

    def current_stage(self, wall: float | None = None) -> PlannedStage | None:
        if self.t0 is None or not self.plan:
            return None
        return stage_at(self.plan, (self.clock.now() if wall is None else wall) - self.t0)

    def scenario_plan(self) -> list[PlannedStage]:
        """The plan as the scenario gives it: a search's or a sweep's steps replace its last
        stage in ``plan`` as they start, this keeps the stage and its whole time budget."""
        return stage_plan(self.scenario) if self.scenario is not None else list(self.plan)

    def finish_sequence(self, stage_name: str) -> None:
        """A count-bounded stage is done (the shape runs in this process): the run ends when
        it was the last stage; otherwise the stage idles out its time budget."""
        shape = self.environment.shape_class
        if isinstance(shape, ScenarioShape) and shape.stage_done(stage_name):
            logger.info("sequence of the last stage %s done: ending the run", stage_name)

    def trace_baggage(
        self, user_id: int, query_type: str, conversation_id: str = ""
    ) -> dict[str, object]:
        """What a request's W3C baggage says about it: where in the run it was sent."""
        return {
            "qi.stage": self.stage_now()[0],
            "qi.worker": self.worker_id,
            "qi.user": user_id,
            "qi.query_type": query_type,
            "qi.conversation": conversation_id,
        }

    def stage_now(self, wall: float | None = None) -> tuple[str, int]:
        """(stage name, planned total users) in force at ``wall`` (the master's time line;
        default: now)."""
        if self.t0 is None or not self.plan:
            runner = self.environment.runner
            return "", runner.target_user_count if runner is not None else 0
        t = (self.clock.now() if wall is None else wall) - self.t0
        current = stage_at(self.plan, t)
        return (current.name if current else ""), users_at(self.plan, t)

    def plan_over(self) -> bool:
        """The plan has an origin and its last stage has ended (on the master's time line)."""
        if self.t0 is None or not self.plan:
            return False
        return self.clock.now() - self.t0 >= plan_end_s(self.plan)

    def stage_marks(self) -> list[dict[str, Any]]:
        """The plan's stages on the wall clock (empty until the plan has an origin)."""
        if self.t0 is None:
            return []
        return [
            dict(
                StageMark(
                    index=s.index,
                    name=s.name,
                    users=s.users,
                    start=self.t0 + s.start_s,
                    ramp_end=self.t0 + s.ramp_end_s,
                    end=self.t0 + s.end_s,
                ).to_dict()
            )
            for s in self.plan
        ]

    def record(self, record: RequestRecord) -> None:
        """Hand one finished request over. Workers ship the buffer with their next stats
        report; master and local runners write it in batches (``drain``), which keeps the
        per-request cost of the CSV row and the live metrics off the users' hot path."""
        self.buffer.add(record)

    def drain(self) -> None:
        """Master/local: write what the local users recorded since the last drain."""
        records = self.buffer.drain()
        if records:
            self.write(records)

    def write_host_samples(self, samples: list[HostSample]) -> None:
        """Monitoring's sink: samples belong to the test that runs (none between tests)."""
        if self.active and self.writer is not None:
            self.writer.write_host_samples(samples)

    def write(self, records: list[RequestRecord]) -> None:
        """Master/local: write a batch of records (local users' or a worker's)."""
        self.worker_loss.correct(records)
        if self.writer is not None:
            self.writer.write_records(records)
        # Live views count what the report counts: cancelled requests never finished.
        records = [r for r in records if r.error_kind != "cancelled"]
        if self.recent is not None:
            self.recent.extend(records)
        if self.monitoring is not None:
            self.monitoring.observe_records(records)
        for observe in self.observers:
            observe(records)


def attach_state(environment: Environment, qi: QiState) -> None:
    """Hang ``qi`` on its environment (the plugin, at ``init``)."""
    setattr(environment, _ATTRIBUTE, qi)


def run_state(environment: Environment) -> QiState:
    """The qi-load state of this environment (attached by the plugin at ``init``)."""
    qi = getattr(environment, _ATTRIBUTE, None)
    if not isinstance(qi, QiState):
        raise RuntimeError("qi-load's plugin has not initialized this Locust environment")
    return qi
