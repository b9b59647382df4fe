"""Locust integration: qi-load options, stage broadcast, record shipping and the run directory.

``install()`` is called once at import of a qi-load locustfile. It adds qi-load's options to
Locust's parser and wires listeners so that, in every mode (local, master, worker):

- workers ship their records inside Locust's own stats report (so both counts agree), and the
  master (or the local runner) alone appends them to ``requests.csv``;
- the master owns the shape and broadcasts the stage plan and its wall-clock origin
  (``qi_plan``), so each worker tags every record with the stage in force at its start time;
- each test (Locust's ``test_start``: a headless run, or every start in the web UI) opens its
  own run directory; ``test_stop`` finalizes its ``run.json`` (status, end, stages, counts);
  records that arrive after it (workers' last reports when the master quits) still land in
  it, and ``quit`` writes the final counts;
- without ``--scenario`` no shape is installed: ``-u/-r/-t`` work exactly as in plain Locust.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import logging
import math
import sys
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

from qi_load.errors import OutputError, QiLoadError
from qi_load.generate import monitoring, preflight, webui
from qi_load.generate.master_watch import watch_master
from qi_load.generate.output_guard import stop_run_on_output_error
from qi_load.generate.parent_link import watch_parent
from qi_load.generate.plan import PlannedStage, stage_at, stage_plan, users_at
from qi_load.generate.quality import add_quality_arguments
from qi_load.generate.queries import QualityManifest, quality_manifest
from qi_load.generate.shapes import ScenarioShape
from qi_load.generate.shared_options import (
    add_chat_options,
    add_preflight_option,
    add_queries_option,
    add_run_id_option,
    add_time_scale_option,
)
from qi_load.generate.signals import hand_over_to_main, in_main_greenlet, install_signal_handlers
from qi_load.generate.validation import check_options
from qi_load.generate.worker_loss import WorkerLoss, enable_rebalancing
from qi_load.monitor.saturation import (
    DEFAULT_MIN_SECONDS,
    DEFAULT_THRESHOLD_PCT,
    saturated_stages_from_csv,
)
from qi_load.process.child import spawn
from qi_load.record.environment import capture_environment
from qi_load.record.recorder import (
    RecordBuffer,
    RecordsPayload,
    RunWriter,
    serialize_records,
    unserialize_records,
)
from qi_load.record.rundir import REPORT_HTML, RunDir, RunStatus, new_run_id
from qi_load.record.schema import HostSample, RequestRecord, StageMark
from qi_load.scenario import WARMUP_STAGE, Scenario, resolve_scenario

__all__ = [
    "SEQUENCE_DONE_MESSAGE",
    "WORKER_LEFT_MESSAGE",
    "PlanMessage",
    "QiShape",
    "QiState",
    "install",
    "plan_from_wire",
    "plan_to_wire",
    "state",
    "with_env_vars",
]

logger = logging.getLogger("qi_load")

REPORT_KEY = "qi_records"
PLAN_MESSAGE = "qi_plan"
SEQUENCE_DONE_MESSAGE = "qi_sequence_done"
WORKER_LEFT_MESSAGE = "qi_worker_left"
"""Worker -> master: this worker is leaving on a signal (its last records came just before)."""
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
    recent: list[RequestRecord] | None = None
    """Records of the progress window (kept only when progress lines are printed)."""
    greenlets: list[gevent.Greenlet] = field(default_factory=list)
    monitoring: Any = None
    observers: list[Callable[[list[RequestRecord]], None]] = field(default_factory=list)
    """Also called with every batch written (master / local): e.g. the web UI's live view."""
    quality: QualityManifest | None = None
    """The run's answer checks (``--quality``, ``--reference-agent``, ``--queries``)."""
    output_error: OutputError | None = None
    """The first failed write to the run directory: the run stops, its status is failed."""
    worker_loss: WorkerLoss = field(default_factory=WorkerLoss)

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

    def write_host_samples(self, samples: list[HostSample]) -> None:
        """Monitoring's sink: samples belong to the test that runs (none between tests)."""
        if self.active and self.writer is not None:
            self.writer.write_host_samples(samples)

    def _write(self, records: list[RequestRecord]) -> None:
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


_STATE: QiState | None = None


def state() -> QiState:
    """The current process's qi-load state (installed by ``install``)."""
    if _STATE is None:
        raise RuntimeError("qi_load.generate.plugin.install() has not run in this process")
    return _STATE


class _ScenarioAction(argparse.Action):
    """Stores ``--scenario`` and tells the shape, while Locust parses its options (from the
    command line, ``LOCUST_SCENARIO`` or a config file): Locust decides right after parsing,
    before any event, whether to warn that a shape overrides ``-u/-r/-t``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        QiShape.use_common_options = not values


def with_env_vars(add: Callable[[Any], None]) -> Callable[..., None]:
    """An ``init_command_line_parser`` listener: ``add(parser)`` adds options, and each gets
    its ``LOCUST_<NAME>`` variable (as Locust's own have; config files need nothing)."""

    def listener(parser: Any, **_kw: Any) -> None:
        first = len(parser._actions)
        add(parser)
        for action in parser._actions[first:]:
            if action.option_strings and getattr(action, "env_var", None) is None:
                action.env_var = "LOCUST_" + action.dest.upper()

    return listener


def _add_arguments(parser: Any) -> None:
    monitoring.add_arguments(parser)
    group = parser.add_argument_group("qi-load")
    add_preflight_option(group)
    group.add_argument(
        "--scenario",
        default="",
        action=_ScenarioAction,
        help="qi-load scenario: a YAML file or a packaged name (e.g. quick-ladder); its "
        "shape then sets users and duration. Without it, Locust's -u/-r/-t drive the run "
        "with an even query-type mix.",
    )
    group.add_argument(
        "--qi-report",
        action="store_true",
        default=False,
        help="Render the report (qi-load report) when Locust quits",
    )
    group.add_argument(
        "--run-dir",
        default="",
        help="Run directory to write (default: reports/<run-id>/)",
    )
    add_run_id_option(group)
    add_time_scale_option(group)
    group.add_argument(
        "--qi-progress",
        type=float,
        default=0.0,
        help="Print a progress line every N seconds (0: off)",
    )
    add_queries_option(group)
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
        check_options(environment.parsed_options, environment.host)
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
    else:
        _drop_shape(environment)
    if not isinstance(runner, WorkerRunner):
        _preflight(qi)
    if isinstance(runner, WorkerRunner):
        qi.worker_id = runner.client_id
        _init_worker(qi, runner)
        watch_master(environment, runner)
    else:
        _init_writer(qi, environment)
        _configure_shape(qi)
        webui.install(qi)
        if isinstance(runner, MasterRunner):
            runner.register_message(SEQUENCE_DONE_MESSAGE, _on_sequence_done)
            enable_rebalancing(environment)
    # Added after the runner's own listeners, so it runs before them (quitting fires in
    # reverse): the flag is up before Locust's shutdown blocks.
    environment.events.quitting.add_listener(_on_quitting)
    _install_monitoring(qi)
    watch_parent(environment)
    # Everything built so far (Locust, qi-load, the scenario) lives for the whole run: keep it
    # out of the collector's full passes, which otherwise pause every stream for tens of ms.
    gc.freeze()
    # gevent's timers count from the loop's cached clock, last read before the imports and
    # this init: without a refresh Locust's -t timer, armed next, fires a second early.
    gevent.get_hub().loop.update_now()


def _drop_shape(environment: Environment) -> None:
    """Without a scenario, Locust runs without a shape: -u/-r/-t as in plain Locust."""
    if isinstance(environment.shape_class, QiShape):
        environment.shape_class = None
    shapes = environment.available_shape_classes
    if shapes:
        for name in [n for n, shape in shapes.items() if isinstance(shape, QiShape)]:
            del shapes[name]


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

    def on_test_stop(**_kw: Any) -> None:
        # The users just stopped: their last records, the cancelled ones too, go out now,
        # ahead of the `client_stopped` that lets the master's stop() finish.
        runner._send_stats()

    qi.environment.events.report_to_master.add_listener(on_report)
    qi.environment.events.test_stop.add_listener(on_test_stop)
    runner.register_message(PLAN_MESSAGE, on_plan)


def _on_quitting(environment: Environment, **_kw: Any) -> None:
    qi = _STATE
    if qi is None:
        return
    qi.quitting = True
    if not in_main_greenlet():
        hand_over_to_main()  # Locust's SIGTERM handler: one shutdown, in the main greenlet
    runner = environment.runner
    if isinstance(runner, WorkerRunner) and qi.interrupted_by:
        _leave(qi, runner)


def _leave(qi: QiState, runner: WorkerRunner) -> None:
    """A worker leaving on a signal: stop its users (``test_stop`` then sends the last
    report, as Locust's worker does when the master tells it to quit), so the requests it
    finished and those it cancelled reach the master; then say why it goes."""
    if runner.state in (locust.runners.STATE_SPAWNING, locust.runners.STATE_RUNNING):
        runner.stop()
    runner.send_message(WORKER_LEFT_MESSAGE, {"reason": qi.interrupted_by})


def _init_writer(qi: QiState, environment: Environment) -> None:
    options = environment.parsed_options
    runner = environment.runner
    environment.events.test_start.add_listener(lambda **_kw: _open_run(qi))
    environment.events.test_stop.add_listener(lambda **_kw: _finalize(qi))
    if isinstance(runner, MasterRunner):

        def on_worker_report(client_id: str, data: dict[str, Any]) -> None:
            qi.worker_loss.reported(client_id, data, time.time())
            payload: RecordsPayload | None = data.get(REPORT_KEY)
            if payload:
                qi._write(unserialize_records(payload))

        def on_worker_connect(client_id: str, **_kw: Any) -> None:
            qi.workers_seen.setdefault(
                client_id, {"id": client_id, "joined": time.time(), "lost_at": None}
            )
            if qi.t0 is not None:
                runner.send_message(PLAN_MESSAGE, dict(plan_to_wire(qi.t0, qi.plan)), client_id)

        def on_worker_left(environment: Environment, msg: Any, **_kw: Any) -> None:
            reason = str((msg.data or {}).get("reason", ""))
            logger.warning("worker %s left (%s); continuing with the rest", msg.node_id, reason)
            _note_lost(qi, msg.node_id, reason)

        environment.events.worker_report.add_listener(on_worker_report)
        environment.events.worker_connect.add_listener(on_worker_connect)
        runner.register_message(WORKER_LEFT_MESSAGE, on_worker_left)
        qi.greenlets.append(gevent.spawn(_watch_workers, qi, runner))
    qi.greenlets.append(gevent.spawn(_flush_loop, qi))
    interval = float(getattr(options, "qi_progress", 0.0) or 0.0) if options else 0.0
    if interval > 0:
        qi.recent = []
        qi.greenlets.append(gevent.spawn(_progress_loop, qi, interval))


def _run_location(qi: QiState) -> tuple[str, Path]:
    """Run id and directory of the next test: the options' for the first, fresh ones after."""
    options = qi.environment.parsed_options
    scenario_name = qi.scenario.name if qi.scenario else "adhoc"
    run_id = (options.run_id if options else "") or new_run_id(scenario_name)
    given = (options.run_dir if options else "") or ""
    path = Path(given) if given else Path("reports") / run_id
    if qi.runs_opened == 0 and given:
        return run_id, path  # `qi-load run` made it, and reads it back
    base_id, base_path, n = run_id, path, 1
    while path.exists() and any(path.iterdir()):
        n += 1
        run_id, path = f"{base_id}-{n}", base_path.with_name(f"{base_path.name}-{n}")
    return run_id, path


def _open_run(qi: QiState) -> None:
    """``test_start``: a new run directory for this test (the last one is closed first)."""
    if qi.writer is not None:
        _close_run(qi)
    environment = qi.environment
    runner = environment.runner
    qi.buffer.drain()  # anything left from before this test belongs to no run
    run_id, path = _run_location(qi)
    qi.runs_opened += 1
    qi.run_dir = RunDir(path, on_error=stop_run_on_output_error(qi)).create()
    qi.writer = RunWriter(qi.run_dir)
    qi.active, qi.finalized, qi.status = True, False, "running"
    qi.lost_workers = []
    qi.workers_seen = {}
    qi.worker_loss = WorkerLoss()
    if isinstance(runner, MasterRunner):
        for node in list(runner.clients.values()):
            qi.workers_seen[node.id] = {"id": node.id, "joined": time.time(), "lost_at": None}
    options = environment.parsed_options
    workers = int(getattr(options, "expect_workers", 1) or 1) if options else 1
    qi.run_dir.write_manifest(
        {
            "run_id": run_id,
            "status": "running",
            "mode": "master" if isinstance(runner, MasterRunner) else "local",
            "scenario": qi.scenario.model_dump(mode="json") if qi.scenario else None,
            "target_url": _public_url(environment.host or ""),
            "start": time.time(),
            "end": None,
            "expected_workers": workers if isinstance(runner, MasterRunner) else 0,
            "workers": list(qi.workers_seen.values()),
            "lost_workers": [],
            "stages": [],
            "environment": None,
            "counts": {"requests": 0, "host_samples": 0},
            "quality": qi.quality,
        }
    )
    if qi.t0 is not None:
        qi.run_dir.update_manifest(test_start=qi.t0, stages=_stage_marks(qi))
    # Its CPU sample takes 0.2 s: in its own greenlet, so test_start's other listeners (the
    # web UI tab) and the ramp are not held up.
    gevent.spawn(_record_environment, qi.run_dir)
    logger.info("qi-load run directory: %s", qi.run_dir.path)


def _record_environment(run_dir: RunDir) -> None:
    run_dir.update_manifest(environment=capture_environment())


def _run_status(qi: QiState) -> RunStatus:
    if qi.output_error is not None:
        return "failed"
    if qi.interrupted_by:
        return "interrupted"
    if qi.plan and not qi.completed:
        return "interrupted"  # stopped (web UI, -t) before the scenario's end
    return "complete"


def _finalize(qi: QiState) -> None:
    """``test_stop``: close this test's run.json (status, end, stage marks, counts)."""
    if qi.writer is None or qi.run_dir is None or qi.finalized:
        return
    qi.drain()
    qi.active, qi.finalized = False, True
    qi.writer.flush()
    end = time.time()
    qi.status = _run_status(qi)
    if qi.status == "interrupted" and not qi.interrupted_by:
        qi.interrupted_by = "stop"
    marks = _stage_marks(qi)
    for mark in marks:
        # A stage cut short by an interruption ends when the run ended.
        mark["end"] = min(mark["end"], end)
        mark["ramp_end"] = min(mark["ramp_end"], mark["end"])
    marks = [m for m in marks if m["start"] < end]
    invalid = _saturated(qi, marks)
    short = qi.worker_loss.invalid_stages(marks, end)
    for mark in marks:
        mark["invalid"] = invalid.get(mark["name"]) or short.get(mark["name"])
    qi.run_dir.update_manifest(
        status=qi.status,
        end=end,
        interrupted_by=qi.interrupted_by or None,
        stages=marks,
        workers=list(qi.workers_seen.values()),
        lost_workers=qi.lost_workers,
        counts=_counts(qi.writer),
        error=str(qi.output_error) if qi.output_error else None,
    )
    logger.info("qi-load run directory: %s (%s)", qi.run_dir.path, qi.status)
    # The next test starts afresh (its own plan origin and flags).
    qi.t0, qi.completed, qi.interrupted_by = None, False, ""
    if isinstance(qi.environment.shape_class, ScenarioShape):
        qi.environment.shape_class.restart()


def _counts(writer: RunWriter) -> dict[str, int]:
    return {"requests": writer.request_count, "host_samples": writer.host_sample_count}


def _close_run(qi: QiState, exit_code: int | None = None) -> None:
    """Write what arrived after ``test_stop`` (workers' last reports) and close the files."""
    if qi.writer is None or qi.run_dir is None:
        return
    if not qi.finalized:
        _finalize(qi)
    qi.drain()
    if exit_code is not None and exit_code not in (0, 1) and qi.status == "complete":
        qi.status = "failed"
        qi.run_dir.update_manifest(status=qi.status)
    qi.run_dir.update_manifest(counts=_counts(qi.writer))
    qi.writer.close()
    qi.writer = None


def _install_monitoring(qi: QiState) -> None:
    qi.monitoring = monitoring.install_monitoring(
        qi.environment, qi, qi.environment.parsed_options, scenario=qi.scenario
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
        if qi.active:
            qi.worker_loss.sample(time.time(), qi.stage_now()[1], runner.user_count)
        for node in list(runner.clients.values()):
            if node.state != locust.runners.STATE_MISSING:
                continue
            info = qi.workers_seen.get(node.id)
            if info is None or info["lost_at"] is None:
                logger.warning("worker %s lost (no heartbeat); continuing with the rest", node.id)
                _note_lost(qi, node.id, "heartbeat")


def _note_lost(qi: QiState, worker_id: str, reason: str) -> None:
    """A worker left the current test (a signal, or no heartbeat): run.json says when."""
    if not qi.active:
        return
    at = time.time()
    info = qi.workers_seen.setdefault(worker_id, {"id": worker_id, "joined": at, "lost_at": None})
    if info["lost_at"] is not None:
        return
    info["lost_at"] = at
    qi.worker_loss.lost(worker_id, at)
    qi.lost_workers.append({"id": worker_id, "at": at, "reason": reason})
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

    Without ``--scenario`` the plugin removes it at ``init``, so Locust runs as it does
    without a shape (``-u``, ``-r``, ``-t``). With one, ``use_common_options`` turns False
    (set while Locust parses ``--scenario``): Locust then warns that the shape overrides
    ``-u/-r/-t``, and its web UI hides those inputs, as for any shape that ignores them.
    """

    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self.t0_wall = time.time()

    def reset_time(self) -> None:
        super().reset_time()  # type: ignore[no-untyped-call]
        # Taken together with Locust's perf_counter origin, so t=0 of the plan is this instant.
        self.t0_wall = time.time()


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
            if qi.active and qi.run_dir is not None:
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
    if qi is None:
        return
    for greenlet in qi.greenlets:
        greenlet.kill(block=False)
    if qi.monitoring is not None:
        qi.monitoring.stop()
    if qi.writer is None or qi.run_dir is None:
        return
    _close_run(qi, exit_code)
    path = qi.run_dir.path
    options = qi.environment.parsed_options
    if getattr(options, "qi_report", False):
        _render_report(path)
    else:
        logger.info(
            "qi-load run directory: %s (%s); for its report: qi-load report %s",
            path,
            qi.status,
            path,
        )


def _render_report(path: Path) -> None:
    """``--qi-report``: pandas and matplotlib run in a child process, never in this one."""
    command = [sys.executable, "-m", "qi_load", "report", str(path)]
    done = spawn(command, name="report").popen  # dies with this process, as every child
    if done.wait() == 0:
        logger.info("qi-load run directory: %s; report: %s", path, path / REPORT_HTML)
    else:
        logger.error(
            "qi-load run directory: %s; `qi-load report %s` failed (exit %d)",
            path,
            path,
            done.returncode,
        )


def _saturated(qi: QiState, marks: list[dict[str, Any]]) -> dict[str, str]:
    assert qi.run_dir is not None
    options = qi.environment.parsed_options
    return saturated_stages_from_csv(
        qi.run_dir.host_samples_csv,
        [m for m in marks if m["name"] != WARMUP_STAGE],
        threshold_pct=getattr(options, "saturation_threshold", DEFAULT_THRESHOLD_PCT),
        min_seconds=getattr(options, "saturation_seconds", DEFAULT_MIN_SECONDS),
    )


def _on_signal(name: str) -> None:
    """Remember that a signal ended the run (unless it had already ended by itself)."""
    if _STATE is not None and not _STATE.completed and not _STATE.interrupted_by:
        _STATE.interrupted_by = name


_INSTALLED = False


def install() -> None:
    """Register qi-load with Locust's events; idempotent (locustfiles call it on import)."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    events.init_command_line_parser.add_listener(with_env_vars(_add_arguments))
    events.init.add_listener(_on_init)
    events.quit.add_listener(_on_quit)
    install_signal_handlers(
        lambda: _STATE.environment if _STATE is not None else None,
        _on_signal,
        lambda: _STATE is not None and _STATE.quitting,
    )
