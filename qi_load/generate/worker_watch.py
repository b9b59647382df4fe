"""The master's view of its workers: their records in, the plan out to late joiners, their
clock probes answered, and run.json's record of who joined, who was lost (a signal, or no
heartbeat) and each one's clock offset."""

from __future__ import annotations

import logging
from typing import Any

import gevent
import locust.runners
from locust.env import Environment
from locust.runners import MasterRunner

from qi_load.generate.clock_sync import serve_clock
from qi_load.generate.last_reports import stop_before_quit
from qi_load.generate.master_guard import guard_master
from qi_load.generate.run_state import QiState
from qi_load.generate.wire import (
    PLAN_MESSAGE,
    PLAN_REQUEST_MESSAGE,
    REPORT_KEY,
    WORKER_LEFT_MESSAGE,
    plan_to_wire,
)
from qi_load.record.ingest_key import ingest_key
from qi_load.record.record_gate import RecordGate
from qi_load.record.wall_clock import wall_now

__all__ = ["HEARTBEAT_CHECK_S", "init_master", "note_lost", "watch_workers"]

logger = logging.getLogger("qi_load")

HEARTBEAT_CHECK_S = 1.0
"""How often the master looks for workers Locust marked missing."""


def init_master(qi: QiState, runner: MasterRunner) -> None:
    """Master: write the workers' records, send the plan to each worker that connects, and
    keep run.json's worker list."""
    events = qi.environment.events
    gate = qi.record_gate = RecordGate(ingest_key(), runner.clients.__contains__)
    guard_master(runner, gate.drops)
    stop_before_quit(runner)

    def on_worker_report(client_id: str, data: dict[str, Any]) -> None:
        qi.worker_loss.reported(client_id, data, wall_now())
        if REPORT_KEY in data:
            qi.write(gate.accept(client_id, data[REPORT_KEY]))

    def on_worker_connect(client_id: str, **_kw: Any) -> None:
        qi.workers_seen.setdefault(
            client_id, {"id": client_id, "joined": wall_now(), "lost_at": None}
        )

    def on_plan_request(environment: Environment, msg: Any, **_kw: Any) -> None:
        if gate.admits(msg) and qi.t0 is not None:  # before t0 the start broadcasts it
            message = plan_to_wire(qi.t0, qi.plan, qi.scenario)
            runner.send_message(PLAN_MESSAGE, dict(message), msg.node_id)

    def on_worker_left(environment: Environment, msg: Any, **_kw: Any) -> None:
        if not gate.admits(msg):
            return
        reason = str((msg.data or {}).get("reason", ""))
        logger.warning("worker %s left (%s); continuing with the rest", msg.node_id, reason)
        note_lost(qi, msg.node_id, reason)

    events.worker_report.add_listener(on_worker_report)
    events.worker_connect.add_listener(on_worker_connect)
    runner.register_message(WORKER_LEFT_MESSAGE, on_worker_left)
    serve_clock(qi, runner, gate)
    runner.register_message(PLAN_REQUEST_MESSAGE, on_plan_request)
    qi.greenlets.append(gevent.spawn(watch_workers, qi, runner))


def watch_workers(qi: QiState, runner: MasterRunner) -> None:
    """Note workers that stop heart-beating: Locust drops them; the run directory keeps them."""
    while True:
        gevent.sleep(HEARTBEAT_CHECK_S)
        if qi.active:
            qi.worker_loss.sample(wall_now(), qi.stage_now()[1], runner.user_count)
        for node in list(runner.clients.values()):
            if not qi.active or node.state != locust.runners.STATE_MISSING:
                continue  # between tests a silent worker is no loss of this run
            info = qi.workers_seen.get(node.id)
            if info is None or info["lost_at"] is None:
                logger.warning("worker %s lost (no heartbeat); continuing with the rest", node.id)
                note_lost(qi, node.id, "heartbeat")


def note_lost(qi: QiState, worker_id: str, reason: str) -> None:
    """A worker left the current test (a signal, or no heartbeat): run.json says when."""
    if not qi.active:
        return
    at = wall_now()
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
