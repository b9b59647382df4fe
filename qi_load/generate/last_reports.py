"""The master quits only after its workers' last reports: every request they made is a row."""

from __future__ import annotations

from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner

__all__ = ["stop_before_quit"]


def stop_before_quit(runner: MasterRunner) -> None:
    """Wrap the master's ``quit``: stop the test with the workers first.

    Locust's master quits (the end of a headless shape or ``-t``, a signal) by telling its
    workers to quit and waiting 0.5 s for their last reports; a worker slower than that to
    stop its users (a loaded host, a real network between them) loses its last records and
    its cancelled ones, from Locust's counts and ``requests.csv`` alike. ``stop()`` waits
    until every worker has reported its users stopped, and a worker's last records ride
    just ahead of that report (``worker_link``); a worker that went missing counts no users.
    """
    quit_now = runner.quit

    def quit() -> None:
        if runner.state in (STATE_SPAWNING, STATE_RUNNING):
            runner.stop()
        quit_now()

    runner.quit = quit  # type: ignore[method-assign]
