"""Locust integration: qi-load options, stage broadcast, record shipping and the run directory.

``install()`` is called once at import of a qi-load locustfile. It adds qi-load's options to
Locust's parser and wires listeners so that, in every mode (local, master, worker):

- workers ship their records inside Locust's own stats report (so both counts agree), and the
  master (or the local runner) alone appends them to ``requests.csv``;
- the master owns the shape and broadcasts the stage plan and its wall-clock origin
  (``qi_plan``), so each worker tags every record with the stage in force at its start time;
- the master writes ``run.json`` at start, keeps it current (workers, lost workers) and closes
  it with the final status, stage marks and counts.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlsplit, urlunsplit

import gevent
import locust.runners
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from qi_load.errors import QiLoadError
from qi_load.generate import monitoring, preflight, webui
from qi_load.generate.plan import PlannedStage, stage_at, stage_plan, users_at
from qi_load.generate.quality import add_quality_arguments
from qi_load.generate.queries import QualityManifest, quality_manifest
from qi_load.generate.shapes import ScenarioShape
from qi_load.generate.shared_options import add_chat_options, add_preflight_option
from qi_load.record.environment import capture_environment
from qi_load.record.recorder import (
    RecordBuffer,
    RecordsPayload,
    RunWriter,
    serialize_records,
    unserialize_records,
)
from qi_load.record.rundir import RunDir, RunStatus, new_run_id
from qi_load.record.saturation import (
    DEFAULT_MIN_SECONDS,
    DEFAULT_THRESHOLD_PCT,
    saturated_stages_from_csv,
)
from qi_load.record.schema import RequestRecord, StageMark
from qi_load.scenario import WARMUP_STAGE, Scenario, resolve_scenario

__all__ = [
    "SEQUENCE_DONE_MESSAGE",
    "PlanMessage",
    "QiShape",
    "QiState",
    "install",
    "plan_from_wire",
    "plan_to_wire",
    "state",
]

logger = logging.getLogger("qi_load")

REPORT_KEY = "qi_records"
PLAN_MESSAGE = "qi_plan"
SEQUENCE_DONE_MESSAGE = "qi_sequence_done"
# Locust reports worker stats every 3 s; records ride on those reports, and the design asks
# for at most ~2 s of data in flight, so workers report every second.
WORKER_REPORT_INTERVAL_S = 1.0
FLUSH_INTERVAL_S = 0.5
"""How often the master/local runner writes buffered records and flushes the CSVs."""


class PlanMessage(TypedDict):
    """Master -> workers: the stage plan and the wall-clock time its t=0 corresponds to."""

    t0: float
    stages: list[dict[str, Any]]


def plan_to_wire(t0: float, plan: list[PlannedStage]) -> PlanMessage:
    stages = []
    for stage in plan:
        item = dataclasses.asdict(stage)
        item["mix"] = dict(stage.mix)
        stages.append(item)
    return PlanMessage(t0=t0, stages=stages)


def plan_from_wire(message: PlanMessage) -> tuple[float, list[PlannedStage]]:
    return message["t0"], [PlannedStage(**item) for item in message["stages"]]


@dataclass
class QiState:
    """Per-process qi-load state, shared by the plugin and the users."""

    environment: Environment
    scenario: Scenario | None = None
    plan: list[PlannedStage] = field(default_factory=list)
    t0: float | None = None
    """Wall-clock (unix s) origin of the plan; None until the shape starts."""
    worker_id: str = "local"
    buffer: RecordBuffer = field(default_factory=RecordBuffer)
    writer: RunWriter | None = None
    run_dir: RunDir | None = None
    completed: bool = False
    interrupted_by: str = ""
    lost_workers: list[dict[str, Any]] = field(default_factory=list)
    workers_seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    recent: list[RequestRecord] | None = None
    """Records of the progress window (kept only when progress lines are printed)."""
    greenlets: list[gevent.Greenlet] = field(default_factory=list)
    monitoring: Any = None
    observers: list[Callable[[list[RequestRecord]], None]] = field(default_factory=list)
    """Also called with every batch written (master / local): e.g. the web UI's live view."""
    quality: QualityManifest | None = None
    """The run's answer checks (``--quality``, ``--reference-agent``, ``--queries``)."""

    def current_stage(self, wall: float | None = None) -> PlannedStage | None:
        if self.t0 is None or not self.plan:
            return None
        return stage_at(self.plan, (time.time() if wall is None else wall) - self.t0)

    def finish_sequence(self, stage_name: str) -> None:
        """A count-bounded stage is done (the shape runs in this process): the run ends when
        it was the last stage; otherwise the stage idles out its time budget."""
        shape = self.environment.shape_class
        if isinstance(shape, ScenarioShape) and shape.stage_done(stage_name):
            logger.info("sequence of the last stage %s done: ending the run", stage_name)

    def stage_now(self, wall: float | None = None) -> tuple[str, int]:
        """(stage name, planned total users) in force at ``wall`` (default: now)."""
        if self.t0 is None or not self.plan:
            runner = self.environment.runner
            return "", runner.target_user_count if runner is not None else 0
        t = (time.time() if wall is None else wall) - self.t0
        current = stage_at(self.plan, t)
        return (current.name if current else ""), users_at(self.plan, t)

    def record(self, record: RequestRecord) -> None:
        """Hand one finished request over. Workers ship the buffer with their next stats
        report; master and local runners write it in batches (``drain``), which keeps the
        per-request cost of the CSV row and the live metrics off the users' hot path."""
        self.buffer.add(record)

    def drain(self) -> None:
        """Master/local: write what the local users recorded since the last drain."""
        records = self.buffer.drain()
        if records:
            self._write(records)

    def _write(self, records: list[RequestRecord]) -> None:
        if self.writer is not None:
            self.writer.write_records(records)
        if self.recent is not None:
            self.recent.extend(records)
        if self.monitoring is not None:
            self.monitoring.observe_records(records)
        for observe in self.observers:
            observe(records)


_STATE: QiState | None = None


def state() -> QiState:
    """The current process's qi-load state (installed by ``install``)."""
    if _STATE is None:
        raise RuntimeError("qi_load.generate.plugin.install() has not run in this process")
    return _STATE


def _add_arguments(parser: Any) -> None:
    monitoring.add_arguments(parser)
    group = parser.add_argument_group("qi-load")
    add_preflight_option(group)
    group.add_argument(
        "--scenario",
        default="",
        help="qi-load scenario: a YAML file or a packaged name (e.g. quick-ladder). "
        "Without it, Locust's -u/-r/-t drive the run with an even query-type mix.",
    )
    group.add_argument(
        "--run-dir",
        default="",
        help="Run directory to write (default: reports/<run-id>/)",
    )
    group.add_argument("--run-id", default="", help="Run id (default: timestamp-scenario)")
    group.add_argument(
        "--time-scale",
        type=float,
        default=0.0,
        help="Multiply every scenario duration by this factor (0: the scenario's own)",
    )
    group.add_argument(
        "--qi-progress",
        type=float,
        default=0.0,
        help="Print a progress line every N seconds (0: off)",
    )
    group.add_argument(
        "--queries",
        default="",
        help="YAML file with extra prompts and quality checks per query type",
    )
    add_quality_arguments(group)
    add_chat_options(group)


def _public_url(url: str) -> str:
    """The target URL without credentials or query string, safe to store in run.json."""
    if not url:
        return ""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _resolve_scenario(environment: Environment) -> Scenario | None:
    options = environment.parsed_options
    if options is None or not options.scenario:
        return None
    overrides: dict[str, Any] = {}
    if options.time_scale:
        overrides["time_scale"] = options.time_scale
    scenario = resolve_scenario(options.scenario, overrides or None)
    return scenario.scaled()


def _on_init(environment: Environment, **_kwargs: Any) -> None:
    global _STATE
    runner = environment.runner
    qi = QiState(environment=environment)
    _STATE = qi
    try:
        qi.scenario = _resolve_scenario(environment)
        qi.quality = quality_manifest(environment.parsed_options)
    except QiLoadError as exc:
        logger.error("%s", exc)
        environment.process_exit_code = 2
        if runner is not None:
            runner.quit()
        raise SystemExit(2) from None
    if qi.scenario is not None:
        qi.plan = stage_plan(qi.scenario)
    if not isinstance(runner, WorkerRunner):
        _preflight(qi)
    if isinstance(runner, WorkerRunner):
        qi.worker_id = runner.client_id
        _init_worker(qi, runner)
    else:
        _init_writer(qi, environment)
        _configure_shape(qi)
        webui.install(qi)
        if isinstance(runner, MasterRunner):
            runner.register_message(SEQUENCE_DONE_MESSAGE, _on_sequence_done)
    _install_monitoring(qi)
    # Everything built so far (Locust, qi-load, the scenario) lives for the whole run: keep it
    # out of the collector's full passes, which otherwise pause every stream for tens of ms.
    gc.freeze()


def _preflight(qi: QiState) -> None:
    """Master/local: one request per protocol before anything is written or ramped; a
    failure ends the process with its one-line cause (exit 2, no run directory)."""
    if getattr(qi.environment.parsed_options, "no_preflight", False):
        return
    try:
        preflight.run_in_locust(qi)
    except QiLoadError as exc:
        preflight.report_failure(exc)
        qi.environment.process_exit_code = 2
        if qi.environment.runner is not None:
            qi.environment.runner.quit()
        raise SystemExit(2) from None


def _init_worker(qi: QiState, runner: WorkerRunner) -> None:
    # Records travel inside Locust's stats reports; report every second instead of every 3 s.
    locust.runners.WORKER_REPORT_INTERVAL = WORKER_REPORT_INTERVAL_S

    def on_report(client_id: str, data: dict[str, Any]) -> None:
        data[REPORT_KEY] = serialize_records(qi.worker_id, qi.buffer.drain())

    def on_plan(environment: Environment, msg: Any, **_kw: Any) -> None:
        qi.t0, qi.plan = plan_from_wire(msg.data)

    qi.environment.events.report_to_master.add_listener(on_report)
    runner.register_message(PLAN_MESSAGE, on_plan)


def _init_writer(qi: QiState, environment: Environment) -> None:
    options = environment.parsed_options
    scenario_name = qi.scenario.name if qi.scenario else "adhoc"
    run_id = (options.run_id if options else "") or new_run_id(scenario_name)
    path = (options.run_dir if options else "") or str(Path("reports") / run_id)
    qi.run_dir = RunDir(path).create()
    qi.writer = RunWriter(qi.run_dir)
    workers = int(getattr(options, "expect_workers", 1) or 1) if options else 1
    qi.run_dir.write_manifest(
        {
            "run_id": run_id,
            "status": "running",
            "mode": "master" if isinstance(environment.runner, MasterRunner) else "local",
            "scenario": qi.scenario.model_dump(mode="json") if qi.scenario else None,
            "target_url": _public_url(environment.host or ""),
            "start": time.time(),
            "end": None,
            "expected_workers": workers if isinstance(environment.runner, MasterRunner) else 0,
            "workers": [],
            "lost_workers": [],
            "stages": [],
            "environment": capture_environment(),
            "counts": {"requests": 0, "host_samples": 0},
            "quality": qi.quality,
        }
    )
    runner = environment.runner
    if isinstance(runner, MasterRunner):

        def on_worker_report(client_id: str, data: dict[str, Any]) -> None:
            payload: RecordsPayload | None = data.get(REPORT_KEY)
            if payload:
                qi._write(unserialize_records(payload))

        def on_worker_connect(client_id: str, **_kw: Any) -> None:
            qi.workers_seen.setdefault(
                client_id, {"id": client_id, "joined": time.time(), "lost_at": None}
            )
            if qi.t0 is not None:
                runner.send_message(PLAN_MESSAGE, dict(plan_to_wire(qi.t0, qi.plan)), client_id)

        environment.events.worker_report.add_listener(on_worker_report)
        environment.events.worker_connect.add_listener(on_worker_connect)
        qi.greenlets.append(gevent.spawn(_watch_workers, qi, runner))
    qi.greenlets.append(gevent.spawn(_flush_loop, qi))
    interval = float(getattr(options, "qi_progress", 0.0) or 0.0) if options else 0.0
    if interval > 0:
        qi.recent = []
        qi.greenlets.append(gevent.spawn(_progress_loop, qi, interval))


def _install_monitoring(qi: QiState) -> None:
    qi.monitoring = monitoring.install_monitoring(
        qi.environment, qi.writer, qi.environment.parsed_options, scenario=qi.scenario
    )


def _flush_loop(qi: QiState) -> None:
    while True:
        gevent.sleep(FLUSH_INTERVAL_S)
        qi.drain()
        if qi.writer is not None:
            qi.writer.flush()


def _watch_workers(qi: QiState, runner: MasterRunner) -> None:
    """Note workers that stop heart-beating: Locust drops them; the run directory keeps them."""
    while True:
        gevent.sleep(1.0)
        for node in list(runner.clients.values()):
            info = qi.workers_seen.setdefault(
                node.id, {"id": node.id, "joined": time.time(), "lost_at": None}
            )
            if node.state == locust.runners.STATE_MISSING and info["lost_at"] is None:
                info["lost_at"] = time.time()
                qi.lost_workers.append({"id": node.id, "at": info["lost_at"]})
                logger.warning("worker %s lost (no heartbeat); continuing with the rest", node.id)
                if qi.run_dir is not None:
                    qi.run_dir.update_manifest(
                        lost_workers=qi.lost_workers, workers=list(qi.workers_seen.values())
                    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[rank]


def _progress_loop(qi: QiState, interval: float) -> None:
    window = max(interval, 5.0)
    while True:
        gevent.sleep(interval)
        now = time.time()
        done = [r for r in qi.recent or [] if r.ts_start + (r.e2e_ms or 0) / 1000 >= now - window]
        qi.recent = done
        served = [r for r in done if r.ok]
        e2e = [r.e2e_ms for r in served if r.e2e_ms is not None]
        errors = len(done) - len(served)
        checked = [r.quality_ok for r in served if r.quality_ok is not None]
        name, users = qi.stage_now(now)
        runner = qi.environment.runner
        active = runner.user_count if runner is not None else 0
        if qi.t0 is not None and qi.plan:
            elapsed = now - qi.t0
            total = qi.plan[-1].end_s
            index = next((s.index for s in qi.plan if s.name == name), len(qi.plan) - 1)
            where = (
                f"stage {index + 1}/{len(qi.plan)} {name:<10} "
                f"{elapsed:5.0f}s/{total:.0f}s ({max(0.0, total - elapsed):.0f}s left)"
            )
        else:
            where = "no scenario"
        p95 = f"{_percentile(e2e, 95):7.0f} ms" if e2e else "      - ms"
        quality = f"{sum(checked) / len(checked):4.0%}" if checked else "   -"
        print(
            f"[qi-load] {where} users {active:>3}/{users:<3} "
            f"req/s {len(served) / window:6.2f} p95 {p95} errors {errors} quality {quality}",
            flush=True,
        )


class QiShape(ScenarioShape):
    """The scenario's shape, plus the wall-clock origin of its plan.

    Without ``--scenario`` it falls back to plain Locust behaviour (``-u``, ``-r``, ``-t``).
    """

    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self.t0_wall = time.time()

    def reset_time(self) -> None:
        super().reset_time()  # type: ignore[no-untyped-call]
        # Taken together with Locust's perf_counter origin, so t=0 of the plan is this instant.
        self.t0_wall = time.time()

    def tick(self) -> tuple[int, float] | None:
        if self.plan:
            return super().tick()
        options = self.runner.environment.parsed_options if self.runner else None
        users = int(getattr(options, "num_users", None) or 1)
        return users, float(getattr(options, "spawn_rate", None) or users)


def _configure_shape(qi: QiState) -> None:
    shape = qi.environment.shape_class
    if not isinstance(shape, QiShape) or not qi.plan:
        return

    def on_stage_change(stage: PlannedStage | None, wall: float) -> None:
        if stage is not None and (qi.t0 is None or stage is qi.plan[0]):
            qi.t0 = shape.t0_wall
            qi.completed = False
            runner = qi.environment.runner
            if isinstance(runner, MasterRunner):
                runner.send_message(PLAN_MESSAGE, dict(plan_to_wire(qi.t0, qi.plan)))
            if qi.run_dir is not None:
                qi.run_dir.update_manifest(test_start=qi.t0, stages=_stage_marks(qi))
        if stage is None:
            qi.completed = True
            return
        logger.info("stage %s: %d users", stage.name, stage.users)
        if qi.monitoring is not None:
            qi.monitoring.stage_changed(stage.name, stage.users)

    shape.configure(qi.plan, on_stage_change=on_stage_change)


def _on_sequence_done(environment: Environment, msg: Any, **_kw: Any) -> None:
    state().finish_sequence(str(msg.data.get("stage", "")))


def _stage_marks(qi: QiState) -> list[dict[str, Any]]:
    if qi.t0 is None:
        return []
    return [
        dict(
            StageMark(
                index=s.index,
                name=s.name,
                users=s.users,
                start=qi.t0 + s.start_s,
                ramp_end=qi.t0 + s.ramp_end_s,
                end=qi.t0 + s.end_s,
            ).to_dict()
        )
        for s in qi.plan
    ]


def _on_quit(exit_code: int, **_kwargs: Any) -> None:
    qi = _STATE
    if qi is None or qi.writer is None or qi.run_dir is None:
        if qi is not None and qi.monitoring is not None:
            qi.monitoring.stop()
        return
    for greenlet in qi.greenlets:
        greenlet.kill(block=False)
    qi.drain()
    if qi.monitoring is not None:
        qi.monitoring.stop()
    qi.writer.flush()
    end = time.time()
    status: RunStatus
    if qi.interrupted_by:
        status = "interrupted"
    elif qi.completed or not qi.plan:
        status = "complete" if exit_code in (0, 1) else "failed"
    else:
        status = "interrupted"
    marks = _stage_marks(qi)
    for mark in marks:
        # A stage cut short by an interruption ends when the run ended.
        mark["end"] = min(mark["end"], end)
        mark["ramp_end"] = min(mark["ramp_end"], mark["end"])
    marks = [m for m in marks if m["start"] < end]
    invalid = _saturated(qi, marks)
    for mark in marks:
        mark["invalid"] = invalid.get(mark["name"])
    qi.run_dir.update_manifest(
        status=status,
        end=end,
        interrupted_by=qi.interrupted_by or None,
        stages=marks,
        workers=list(qi.workers_seen.values()),
        lost_workers=qi.lost_workers,
        counts={
            "requests": qi.writer.request_count,
            "host_samples": qi.writer.host_sample_count,
        },
    )
    qi.writer.close()
    logger.info("qi-load run directory: %s (%s)", qi.run_dir.path, status)


def _saturated(qi: QiState, marks: list[dict[str, Any]]) -> dict[str, str]:
    assert qi.run_dir is not None
    options = qi.environment.parsed_options
    return saturated_stages_from_csv(
        qi.run_dir.host_samples_csv,
        [m for m in marks if m["name"] != WARMUP_STAGE],
        threshold_pct=getattr(options, "saturation_threshold", DEFAULT_THRESHOLD_PCT),
        min_seconds=getattr(options, "saturation_seconds", DEFAULT_MIN_SECONDS),
    )


def _install_signal_flags() -> None:
    """Remember that a signal ended the run; Locust's own handlers still do the shutdown."""

    def flag(name: str) -> None:
        if _STATE is not None and not _STATE.completed:
            _STATE.interrupted_by = name

    previous_int = signal.getsignal(signal.SIGINT)

    def on_sigint(signum: int, frame: Any) -> None:
        flag("SIGINT")
        if callable(previous_int):
            previous_int(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    gevent.signal_handler(signal.SIGTERM, flag, "SIGTERM")


_INSTALLED = False


def install() -> None:
    """Register qi-load with Locust's events; idempotent (locustfiles call it on import)."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    events.init_command_line_parser.add_listener(_add_arguments)
    events.init.add_listener(_on_init)
    events.quit.add_listener(_on_quit)
    _install_signal_flags()
