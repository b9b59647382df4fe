"""Stand-ins for Locust's environment and runners in unit tests: they record what is sent."""

from __future__ import annotations

import argparse
from types import SimpleNamespace
from typing import Any, cast

from locust.env import Environment
from locust.event import Events
from locust.runners import MasterRunner, WorkerRunner

from qi_load.generate.options import LoadOptions
from qi_load.generate.run_state import QiState, attach_state
from qi_load.record.schema import RequestRecord

__all__ = ["FakeMaster", "FakeWorker", "fake_environment", "fake_state", "record"]


class _Messages:
    user_count = 0  # shadows the runners' read-only property

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, str | None]] = []
        self.handlers: dict[str, Any] = {}
        self.clients: dict[str, Any] = {}
        self.target_user_count = 0
        self.greenlet = None  # Locust's Runner.__del__ looks at it

    def send_message(self, msg_type: str, data: Any = None, client_id: str | None = None) -> None:
        self.sent.append((msg_type, data, client_id))

    def register_message(self, msg_type: str, listener: Any, concurrent: bool = False) -> None:
        self.handlers[msg_type] = listener


class FakeMaster(_Messages, MasterRunner):
    """A master runner that sends nothing over the network (Locust's ``__init__`` skipped)."""

    def __init__(self) -> None:
        _Messages.__init__(self)
        self.server = SimpleNamespace(recv_from_client=lambda: None)  # qi-load guards it


class FakeWorker(_Messages, WorkerRunner):
    """A worker runner: ``stop()`` and ``_send_stats()`` are only counted."""

    def __init__(self, client_id: str = "worker-1", state: str = "running") -> None:
        _Messages.__init__(self)
        self.client_id = client_id
        self.state = state
        self.stops = 0
        self.stats_sent = 0

    def stop(self) -> None:
        self.stops += 1

    def _send_stats(self) -> None:
        self.stats_sent += 1


def fake_environment(runner: Any = None, host: str = "", **options: Any) -> Environment:
    """An environment with Locust's real event hooks, ``options`` as parsed options."""
    env = SimpleNamespace(
        runner=runner,
        parsed_options=argparse.Namespace(**options),
        events=Events(),
        shape_class=None,
        available_shape_classes=None,
        host=host,
        web_ui=None,
    )
    return cast(Environment, env)


def fake_state(runner: Any = None, host: str = "", **options: Any) -> QiState:
    """A ``QiState`` on a fake environment, attached as the plugin attaches it, with
    ``options`` parsed as Locust's and read into the options model."""
    env = fake_environment(runner, host, **options)
    qi = QiState(environment=env, options=LoadOptions.from_namespace(env.parsed_options))
    attach_state(env, qi)
    return qi


def record(ts_start: float = 100.0, e2e_ms: float | None = 50.0, **fields: Any) -> RequestRecord:
    """A request row with what the tests do not care about filled in."""
    values: dict[str, Any] = {
        "ts_sched": ts_start,
        "ts_start": ts_start,
        "worker": "local",
        "user_id": 1,
        "query_type": "simple",
        "name": "simple",
        "e2e_ms": e2e_ms,
        **fields,
    }
    return RequestRecord(**values)
