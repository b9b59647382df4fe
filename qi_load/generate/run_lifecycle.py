"""Each test's run directory: opened at ``test_start``, finalized at ``test_stop``, closed at
``quit`` (with the records that arrived after the stop) and, with ``--qi-report``, rendered."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import gevent
from locust.runners import MasterRunner

from qi_load.generate.columnar_store import store_columnar
from qi_load.generate.output_guard import stop_run_on_output_error
from qi_load.generate.run_state import QiState
from qi_load.generate.shapes import ScenarioShape
from qi_load.generate.worker_loss import WorkerLoss
from qi_load.monitor.saturation import saturated_stages_from_csv
from qi_load.process.child import spawn
from qi_load.record.drops import drop_report, reset_gates
from qi_load.record.environment import capture_environment
from qi_load.record.manifest import new_manifest
from qi_load.record.recorder import RunWriter
from qi_load.record.rundir import REPORT_HTML, RunDir, RunStatus, new_run_id
from qi_load.record.wall_clock import host_clock_step, wall_now
from qi_load.vocabulary import WARMUP_STAGE

__all__ = ["close_run", "finalize", "open_run", "public_url", "quit_run", "run_location"]

logger = logging.getLogger("qi_load")


def public_url(url: str) -> str:
    """The target URL without credentials or query string, safe to store in run.json."""
    if not url:
        return ""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def run_location(qi: QiState) -> tuple[str, Path]:
    """Run id and directory of the next test: the options' for the first, fresh ones after."""
    scenario_name = qi.scenario.name if qi.scenario else "adhoc"
    run_id = qi.options.run_id or new_run_id(scenario_name)
    given = qi.options.run_dir
    path = Path(given) if given else Path("reports") / run_id
    if qi.runs_opened == 0 and given:
        return run_id, path  # `qi-load run` made it, and reads it back
    base_id, base_path, n = run_id, path, 1
    while path.exists() and any(path.iterdir()):
        n += 1
        run_id, path = f"{base_id}-{n}", base_path.with_name(f"{base_path.name}-{n}")
    return run_id, path


def open_run(qi: QiState) -> None:
    """``test_start``: a new run directory for this test (the last one is closed first)."""
    if qi.writer is not None:
        close_run(qi)
    environment = qi.environment
    runner = environment.runner
    qi.buffer.drain()  # anything left from before this test belongs to no run
    reset_gates(qi.record_gate, getattr(qi.monitoring, "gate", None))
    run_id, path = run_location(qi)
    qi.runs_opened += 1
    qi.run_dir = RunDir(path, on_error=stop_run_on_output_error(qi)).create()
    qi.writer = RunWriter(qi.run_dir)
    if qi.spans is not None:
        qi.spans.open_run(qi.run_dir)
    qi.active, qi.finalized, qi.status = True, False, "running"
    qi.lost_workers = []
    qi.workers_seen = {}
    qi.worker_loss = WorkerLoss()
    if isinstance(runner, MasterRunner):
        for node in list(runner.clients.values()):
            qi.workers_seen[node.id] = {
                "id": node.id,
                "joined": wall_now(),
                "lost_at": None,
                "clock": qi.worker_clocks.get(node.id),
            }
    options = environment.parsed_options
    workers = int(getattr(options, "expect_workers", 1) or 1) if options else 1
    qi.run_dir.write_manifest(
        new_manifest(
            run_id=run_id,
            mode="master" if isinstance(runner, MasterRunner) else "local",
            scenario=qi.scenario.model_dump(mode="json") if qi.scenario else None,
            target_url=public_url(environment.host or ""),
            expected_workers=workers if isinstance(runner, MasterRunner) else 0,
            workers=list(qi.workers_seen.values()),
            quality=dict(qi.quality) if qi.quality else None,
        )
    )
    if qi.t0 is not None:
        qi.run_dir.update_manifest(test_start=qi.t0, stages=qi.stage_marks())
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


def finalize(qi: QiState) -> None:
    """``test_stop``: close this test's run.json (status, end, stage marks, counts)."""
    if qi.writer is None or qi.run_dir is None or qi.finalized:
        return
    qi.drain()
    qi.active, qi.finalized = False, True
    qi.writer.flush()
    end = wall_now()
    qi.status = _run_status(qi)
    if qi.status == "interrupted" and not qi.interrupted_by:
        qi.interrupted_by = "stop"
    marks = qi.stage_marks()
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
        ingest=drop_report(records=qi.record_gate, samples=getattr(qi.monitoring, "gate", None)),
        error=str(qi.output_error) if qi.output_error else None,
        clock_step_s=host_clock_step(),
        **_span_counts(qi),
    )
    logger.info("qi-load run directory: %s (%s)", qi.run_dir.path, qi.status)
    # The next test starts afresh (its own plan origin and flags).
    qi.t0, qi.completed, qi.interrupted_by = None, False, ""
    if isinstance(qi.environment.shape_class, ScenarioShape):
        qi.environment.shape_class.restart()


def _span_counts(qi: QiState) -> dict[str, Any]:
    if qi.spans is None:
        return {}
    qi.spans.flush()
    return {"otlp": qi.spans.manifest()}


def _counts(writer: RunWriter) -> dict[str, int]:
    return {"requests": writer.request_count, "host_samples": writer.host_sample_count}


def close_run(qi: QiState, exit_code: int | None = None) -> None:
    """Write what arrived after ``test_stop`` (workers' last reports) and close the files."""
    if qi.writer is None or qi.run_dir is None:
        return
    if not qi.finalized:
        finalize(qi)
    qi.drain()
    if exit_code is not None and exit_code not in (0, 1) and qi.status == "complete":
        qi.status = "failed"
        qi.run_dir.update_manifest(status=qi.status)
    qi.run_dir.update_manifest(counts=_counts(qi.writer), **_span_counts(qi))
    qi.writer.close()
    qi.writer = None
    store_columnar(qi.run_dir.path)


def quit_run(qi: QiState, exit_code: int) -> None:
    """``quit``: close the last run directory and render its report (``--qi-report``)."""
    if qi.writer is None or qi.run_dir is None:
        return
    close_run(qi, exit_code)
    path = qi.run_dir.path
    if qi.options.qi_report:
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
    return saturated_stages_from_csv(
        qi.run_dir.host_samples_csv,
        [m for m in marks if m["name"] != WARMUP_STAGE],
        threshold_pct=qi.options.saturation_threshold,
        min_seconds=qi.options.saturation_seconds,
    )
