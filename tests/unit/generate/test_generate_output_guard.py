"""The first failed write stops the run once: one stderr line, exit code 1, runner quit."""

from __future__ import annotations

from dataclasses import dataclass, field

import gevent
import pytest

from qi_load.errors import OutputError
from qi_load.generate.output_guard import (
    OUTPUT_FAILURE_EXIT,
    OUTPUT_FAILURE_PREFIX,
    stop_run_on_output_error,
)


@dataclass
class FakeRunner:
    quits: int = 0

    def quit(self) -> None:
        self.quits += 1


@dataclass
class FakeEnvironment:
    runner: FakeRunner = field(default_factory=FakeRunner)
    process_exit_code: int | None = None


@dataclass
class FakeState:
    environment: FakeEnvironment = field(default_factory=FakeEnvironment)
    output_error: OutputError | None = None


def test_the_first_failure_stops_the_run_and_later_ones_are_quiet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    qi = FakeState()
    on_error = stop_run_on_output_error(qi)
    first = OutputError("/r/requests.csv", "No space left on device")
    on_error(first)
    on_error(OutputError("/r/run.json", "No space left on device"))
    gevent.sleep(0)  # the quit runs in its own greenlet
    assert qi.output_error is first
    assert qi.environment.process_exit_code == OUTPUT_FAILURE_EXIT == 1
    assert qi.environment.runner.quits == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"{OUTPUT_FAILURE_PREFIX} /r/requests.csv: cannot write: No space left on device; "
        "stopping the run"
    ]
