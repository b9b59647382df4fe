"""A Locust process started by `qi-load run` (or a sidecar) leaves when its parent dies.

Linux's parent-death signal already kills it; this watch covers other systems and a
parent whose spawning thread ended first.
"""

from __future__ import annotations

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from qi_load.process import parent_watch

__all__ = ["watch_parent"]


def watch_parent(environment: Environment) -> None:
    """Start the watch if a qi-load parent spawned this process; a no-op otherwise."""
    parent = parent_watch.adopted_parent()
    if parent is None:
        return
    runner = environment.runner
    role = (
        "Locust master"
        if isinstance(runner, MasterRunner)
        else "Locust worker"
        if isinstance(runner, WorkerRunner)
        else "Locust"
    )
    gevent.spawn(parent_watch.poll, parent, role, gevent.sleep)
