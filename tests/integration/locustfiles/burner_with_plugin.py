"""Test locustfile: the real qi-load plugin and shape, with a user that only burns CPU, so
the load generator itself saturates (its stage must then be marked invalid)."""

from __future__ import annotations

import time

import gevent
from locust import User, constant, task

from qi_load.generate import plugin
from qi_load.generate.shape_wiring import QiShape

plugin.install()

__all__ = ["Burner", "QiShape"]


class Burner(User):
    wait_time = constant(0)

    @task
    def burn(self) -> None:
        until = time.perf_counter() + 0.05
        while time.perf_counter() < until:
            pass
        gevent.sleep(0)
