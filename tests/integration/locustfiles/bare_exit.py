"""Test locustfile: plain Locust that exits at init, to time Locust's own start-up."""

from __future__ import annotations

from typing import Any

from locust import User, events, task


@events.init.add_listener
def _exit(environment: Any, **_kwargs: Any) -> None:
    raise SystemExit(2)


class Idle(User):
    @task
    def nothing(self) -> None:
        pass
