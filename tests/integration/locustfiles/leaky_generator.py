"""Test locustfile: the packaged agent users, plus a load generator that retains 2 MB a second.

Only the process that writes the run (master or local) leaks, so a test can check that the
report lists a growing generator under qi-load's own processes, never as the agent's.
"""

from __future__ import annotations

from typing import Any

import gevent
from locust import events
from locust.runners import WorkerRunner

from qi_load.generate import plugin
from qi_load.generate.shape_wiring import QiShape
from qi_load.generate.users import AgentUser

plugin.install()

_KEPT: list[bytes] = []


def _leak() -> None:
    for _ in range(600):  # bounded: 10 minutes at most
        _KEPT.append(b"x" * 2_000_000)  # written, so resident
        gevent.sleep(1.0)


@events.init.add_listener
def _start(environment: Any, **_kwargs: Any) -> None:
    if not isinstance(environment.runner, WorkerRunner):
        gevent.spawn(_leak)


__all__ = ["AgentUser", "QiShape"]
