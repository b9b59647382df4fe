"""A worker that hears nothing from its master stops its users and exits non-zero."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
from locust.runners import STATE_RUNNING

from qi_load.generate import master_watch
from qi_load.generate.master_watch import EXIT_MASTER_LOST, MASTER_SILENCE_S, master_silent_s


@dataclass
class FakeWorker:
    last_heartbeat_timestamp: float | None
    state: str = STATE_RUNNING
    user_count: int = 4
    client_id: str = "w1"
    calls: list[str] = field(default_factory=list)

    def stop(self) -> None:
        self.calls.append("stop")

    def quit(self) -> None:
        self.calls.append("quit")


@dataclass
class FakeEnvironment:
    process_exit_code: int | None = None


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check every 10 ms: what is watched is the silence, not the check's pace."""
    monkeypatch.setattr(master_watch, "_CHECK_S", 0.01)


def test_silence_counts_from_the_last_heartbeat() -> None:
    assert master_silent_s(FakeWorker(None), 100.0) == 0.0  # type: ignore[arg-type]
    assert master_silent_s(FakeWorker(90.0), 100.0) == 10.0  # type: ignore[arg-type]
    assert master_silent_s(FakeWorker(110.0), 100.0) == 0.0  # type: ignore[arg-type]


def test_a_silent_master_stops_the_users_and_sets_a_failing_exit_code() -> None:
    worker = FakeWorker(time.time() - MASTER_SILENCE_S - 1)
    environment = FakeEnvironment()
    master_watch._watch(environment, worker)  # type: ignore[arg-type]
    assert worker.calls == ["stop", "quit"]
    assert environment.process_exit_code == EXIT_MASTER_LOST != 0


def test_a_stopped_worker_only_quits() -> None:
    worker = FakeWorker(time.time() - MASTER_SILENCE_S - 1, state="stopped")
    master_watch._watch(FakeEnvironment(), worker)  # type: ignore[arg-type]
    assert worker.calls == ["quit"]
