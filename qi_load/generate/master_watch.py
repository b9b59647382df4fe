"""A worker whose master is gone stops its users at once and exits non-zero.

Locust's worker waits 60 s without a master heartbeat, sending load nobody records, and
then exits 0, so a Kubernetes worker Job reports success. The master answers every
worker heartbeat (one a second): ten silent seconds mean it is gone.
"""

from __future__ import annotations

import logging
import time
from typing import Final

import gevent
from locust.env import Environment
from locust.runners import STATE_RUNNING, STATE_SPAWNING, WorkerRunner

from qi_load.cli import EXIT_ERROR

__all__ = ["EXIT_MASTER_LOST", "MASTER_SILENCE_S", "watch_master"]

logger = logging.getLogger(__name__)

MASTER_SILENCE_S: Final = 10.0
EXIT_MASTER_LOST: Final = EXIT_ERROR
_CHECK_S: Final = 0.5


def master_silent_s(runner: WorkerRunner, now: float) -> float:
    """Seconds since the master's last heartbeat (0 before the first one)."""
    last = runner.last_heartbeat_timestamp
    return 0.0 if last is None else max(0.0, now - last)


def watch_master(environment: Environment, runner: WorkerRunner) -> None:
    """Watch from the runner's own greenlet group, which ends with the runner."""
    runner.greenlet.spawn(_watch, environment, runner)


def _watch(environment: Environment, runner: WorkerRunner) -> None:
    while True:
        gevent.sleep(_CHECK_S)
        silent = master_silent_s(runner, time.time())
        if silent < MASTER_SILENCE_S:
            continue
        users = runner.user_count
        logger.error(
            "worker %s: no heartbeat from the master for %.0f s, it is gone: "
            "stopping %d users and exiting %d",
            runner.client_id,
            silent,
            users,
            EXIT_MASTER_LOST,
        )
        environment.process_exit_code = EXIT_MASTER_LOST
        if runner.state in (STATE_SPAWNING, STATE_RUNNING):
            runner.stop()
        runner.quit()  # ends the runner's greenlets, this one too: Locust then shuts down
        return
