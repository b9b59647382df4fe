"""A worker's side of the run: the scenario and qi-load's options come from the master, records
ride on its stats reports, its clock keeps to the master's (``clock_sync``), and a signal
makes it stop its users and say why it leaves.

The master resolves the scenario and parses the options once: the scenario (with its plan)
arrives in ``qi_plan``, and Locust's ``spawn`` message carries the master's parsed options,
which Locust copies into the worker's before it fires ``test_start``."""

from __future__ import annotations

from typing import Any, Final

import locust.runners
from locust.env import Environment
from locust.runners import WorkerRunner

from qi_load.generate.clock_sync import sync_worker_clock
from qi_load.generate.monitoring import MonitoringOptions
from qi_load.generate.options import LoadOptions
from qi_load.generate.run_state import QiState
from qi_load.generate.spawn_options import cache_default_args
from qi_load.generate.wire import (
    PLAN_MESSAGE,
    PLAN_REQUEST_MESSAGE,
    REPORT_KEY,
    WORKER_LEFT_MESSAGE,
    plan_from_wire,
)
from qi_load.record.ingest_key import ingest_key
from qi_load.record.recorder import serialize_records

__all__ = ["WORKER_REPORT_INTERVAL_S", "init_worker", "leave"]

WORKER_REPORT_INTERVAL_S: Final = 1.0
"""Locust reports worker stats every 3 s; records ride on those reports, and at most ~2 s of
data should be in flight, so workers report every second."""


def init_worker(qi: QiState, runner: WorkerRunner) -> None:
    """Worker: ship records with each stats report, take the plan from the master."""
    qi.worker_id = runner.client_id
    cache_default_args()
    locust.runners.WORKER_REPORT_INTERVAL = WORKER_REPORT_INTERVAL_S
    key = ingest_key()

    def on_report(client_id: str, data: dict[str, Any]) -> None:
        data[REPORT_KEY] = serialize_records(qi.worker_id, qi.buffer.drain(), key)

    def on_plan(environment: Environment, msg: Any, **_kw: Any) -> None:
        qi.t0, qi.plan, qi.scenario = plan_from_wire(msg.data)

    def on_test_start(**_kw: Any) -> None:
        qi.options = LoadOptions.from_namespace(qi.environment.parsed_options)
        if qi.monitoring is not None:
            options = MonitoringOptions.from_parsed_options(qi.options, qi.scenario)
            qi.monitoring.retime(options.interval_s)

    def on_test_stop(**_kw: Any) -> None:
        # The users just stopped: their last records, the cancelled ones too, go out now,
        # ahead of the `client_stopped` that lets the master's stop() finish.
        runner._send_stats()

    qi.environment.events.report_to_master.add_listener(on_report)
    qi.environment.events.test_start.add_listener(on_test_start)
    qi.environment.events.test_stop.add_listener(on_test_stop)
    runner.register_message(PLAN_MESSAGE, on_plan)
    sync_worker_clock(qi, runner)
    runner.send_message(PLAN_REQUEST_MESSAGE)


def leave(qi: QiState, runner: WorkerRunner) -> None:
    """A worker leaving on a signal: stop its users (``test_stop`` then sends the last
    report, as Locust's worker does when the master tells it to quit), so the requests it
    finished and those it cancelled reach the master; then say why it goes."""
    if runner.state in (locust.runners.STATE_SPAWNING, locust.runners.STATE_RUNNING):
        runner.stop()
    runner.send_message(WORKER_LEFT_MESSAGE, {"reason": qi.interrupted_by})
