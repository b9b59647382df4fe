"""The end of a headless master/worker run: every worker's last records reach the master
before Locust's ``quit``, which gives them only half a second.

At the plan's end the master asks each worker to send what it holds and waits for each
answer (bounded); the records ride ahead of the answer on the same ordered ZeroMQ link.
Without this, a worker still busy when ``quit`` arrived lost up to a report interval of rows,
and Locust's own counts lost them with it."""

from __future__ import annotations

import time
from typing import Any, Final

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from qi_load.generate.run_state import QiState
from qi_load.generate.wire import FLUSH_MESSAGE, FLUSHED_MESSAGE

__all__ = ["FLUSH_TIMEOUT_S", "flush_workers", "serve_flush", "track_flushes"]

FLUSH_TIMEOUT_S: Final = 5.0
"""A worker that has not answered by then is stuck or gone; the run ends without it."""
_POLL_S: Final = 0.05


def serve_flush(runner: WorkerRunner) -> None:
    """Worker: on ``qi_flush``, send a stats report (it carries the records) then answer."""

    def on_flush(environment: Environment, msg: Any, **_kw: Any) -> None:
        runner._send_stats()
        runner.send_message(FLUSHED_MESSAGE, None)

    runner.register_message(FLUSH_MESSAGE, on_flush)


def track_flushes(qi: QiState, runner: MasterRunner) -> None:
    """Master: note which connected workers answered ``qi_flush``."""

    def on_flushed(environment: Environment, msg: Any, **_kw: Any) -> None:
        if msg.node_id in runner.clients:
            qi.flushed.add(msg.node_id)

    runner.register_message(FLUSHED_MESSAGE, on_flushed)


def flush_workers(
    qi: QiState, runner: MasterRunner, timeout_s: float = FLUSH_TIMEOUT_S
) -> set[str]:
    """Master: ask every connected worker for its records; return the ids that did not
    answer within ``timeout_s``."""
    qi.flushed.clear()
    asked = set(runner.clients)
    for worker_id in asked:
        runner.send_message(FLUSH_MESSAGE, None, client_id=worker_id)
    deadline = time.monotonic() + timeout_s
    while not asked <= qi.flushed and time.monotonic() < deadline:
        # A worker that left meanwhile will not answer: stop waiting for it.
        asked &= set(runner.clients)
        gevent.sleep(_POLL_S)
    return asked - qi.flushed
