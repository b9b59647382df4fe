"""The run's wall clock reads the host's once: a later step of it moves no run time, and is
noted."""

from __future__ import annotations

import time

import pytest

from qi_load.generate.clock import RunClock
from qi_load.record.wall_clock import host_clock_step, wall_now


@pytest.mark.parametrize("step_s", [3600.0, -3600.0])
def test_a_step_of_the_host_clock_moves_neither_clock(
    monkeypatch: pytest.MonkeyPatch, step_s: float
) -> None:
    clock = RunClock(offset_s=2.5)
    before, on_line = wall_now(), clock.now()
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + step_s)
    after, on_line_after = wall_now(), clock.now()
    assert 0.0 <= after - before < 1.0
    assert 0.0 <= on_line_after - on_line < 1.0
    assert on_line_after - after == pytest.approx(2.5)


def test_it_advances_with_the_monotonic_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    start = wall_now()
    real = time.perf_counter
    monkeypatch.setattr(time, "perf_counter", lambda: real() + 90.0)
    assert wall_now() - start == pytest.approx(90.0, abs=1.0)


def test_a_step_is_noted_from_half_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    real = time.time
    assert host_clock_step() is None
    monkeypatch.setattr(time, "time", lambda: real() + 0.3)
    assert host_clock_step() is None  # NTP's slew corrects a drift this size: no step
    monkeypatch.setattr(time, "time", lambda: real() - 30.0)
    assert host_clock_step() == pytest.approx(-30.0, abs=0.1)
