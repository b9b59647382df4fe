"""A master quitting mid-test stops the test with its workers first; otherwise it just quits."""

from __future__ import annotations

from fake_locust import FakeMaster

from qi_load.generate.last_reports import stop_before_quit


class _Master(FakeMaster):
    def __init__(self, state: str) -> None:
        super().__init__()
        self.state = state
        self.calls: list[str] = []

    def stop(self, send_stop_to_client: bool = True) -> None:
        self.calls.append(f"stop {send_stop_to_client}")
        self.state = "stopped"

    def quit(self) -> None:
        self.calls.append("quit")


def test_running_master_stops_its_workers_before_it_quits() -> None:
    for state in ("running", "spawning"):
        runner = _Master(state)
        stop_before_quit(runner)
        runner.quit()
        assert runner.calls == ["stop True", "quit"]


def test_stopped_master_only_quits() -> None:
    for state in ("stopped", "stopping", "ready"):
        runner = _Master(state)
        stop_before_quit(runner)
        runner.quit()
        assert runner.calls == ["quit"]
