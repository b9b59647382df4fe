"""qi-load's wall clock in a Locust process: the injected test skew and the master's offset."""

from __future__ import annotations

import time

import pytest

from qi_load.errors import QiLoadError
from qi_load.generate.clock import SKEW_ENV, RunClock, injected_skew, worker_clock
from qi_load.generate.clock_estimate import ClockEstimate


@pytest.mark.parametrize(
    ("text", "skew"), [("", 0.0), ("2", 2.0), (" -2.5 ", -2.5), ("1e-3", 1e-3)]
)
def test_the_skew_hook_reads_seconds(text: str, skew: float) -> None:
    assert injected_skew({SKEW_ENV: text}) == skew
    assert injected_skew({}) == 0.0


@pytest.mark.parametrize("text", ["abc", "nan", "inf", "2s"])
def test_a_bad_skew_is_one_clear_error(text: str) -> None:
    with pytest.raises(QiLoadError, match=f"^{SKEW_ENV}: expected seconds as a number, got"):
        injected_skew({SKEW_ENV: text})


def test_a_worker_clock_reads_the_master_time_line_once_it_has_an_offset() -> None:
    clock = worker_clock({SKEW_ENV: "2"})
    assert not clock.synced.is_set()
    assert clock.local() - time.time() == pytest.approx(2.0, abs=0.05)
    assert clock.now() == pytest.approx(clock.local(), abs=0.05)  # no offset yet
    clock.adopt(ClockEstimate(offset_s=-2.0, delay_s=0.001, samples=3))
    assert clock.synced.is_set()
    assert clock.now() == pytest.approx(time.time(), abs=0.05)
    assert clock.estimate is not None and clock.estimate.samples == 3


def test_the_master_and_a_local_runner_are_their_own_time_line() -> None:
    clock = RunClock()
    assert clock.synced.is_set()
    assert clock.now() == pytest.approx(time.time(), abs=0.05)
    clock.wait_synced()  # returns at once
