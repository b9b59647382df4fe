"""A Locust process's wall clock as qi-load reads it: on the master's time line.

Every wall-clock time qi-load takes in a worker (a request's send time, its open-loop
schedule, the stage in force, a host sample's time) comes from ``RunClock.now()``: the
worker's own clock plus the offset to the master's that ``clock_sync`` measures. The master
and a local runner are their own time line (offset 0). Locust's own clock readings
(heartbeats, its CSV history) are untouched.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import gevent.event

from qi_load.errors import QiLoadError
from qi_load.generate.clock_estimate import ClockEstimate
from qi_load.record.wall_clock import wall_now

__all__ = ["SKEW_ENV", "SYNC_WAIT_S", "RunClock", "injected_skew", "worker_clock"]

SKEW_ENV: Final = "QI_LOAD_TEST_CLOCK_SKEW_S"
"""Test only: seconds a worker adds to every wall-clock reading qi-load takes, as if its
clock were that far ahead (negative: behind). Read by workers, ignored elsewhere."""
SYNC_WAIT_S: Final = 2.0
"""A worker's user waits at most this long at its start for the first offset estimate."""


def _in_sync() -> gevent.event.Event:
    synced = gevent.event.Event()
    synced.set()
    return synced


@dataclass
class RunClock:
    """The wall clock of one Locust process on the master's time line."""

    skew_s: float = 0.0
    """The injected skew (``QI_LOAD_TEST_CLOCK_SKEW_S``); 0 outside tests."""
    offset_s: float = 0.0
    """The master's clock minus this process's (as last estimated; 0 on the master)."""
    estimate: ClockEstimate | None = None
    """The estimate ``offset_s`` comes from (a worker's, once it has one)."""
    synced: gevent.event.Event = field(default_factory=_in_sync)
    """Set once the offset is known (at once on the master and a local runner)."""

    def local(self) -> float:
        """This process's own wall clock (unix s), the injected skew included."""
        return wall_now() + self.skew_s

    def now(self) -> float:
        """The master's wall clock (unix s) as this process reckons it."""
        return wall_now() + self.skew_s + self.offset_s

    def wait_synced(self) -> None:
        """Block this greenlet until the offset is known (at most ``SYNC_WAIT_S``): a
        worker's users start on the master's time line, not 2 s off it."""
        self.synced.wait(SYNC_WAIT_S)

    def adopt(self, estimate: ClockEstimate) -> None:
        """Read the master's time line with ``estimate`` from now on."""
        self.offset_s, self.estimate = estimate.offset_s, estimate
        self.synced.set()


def injected_skew(environ: Mapping[str, str] = os.environ) -> float:
    """``QI_LOAD_TEST_CLOCK_SKEW_S`` in seconds (0 when unset); a bad value: ``QiLoadError``."""
    text = environ.get(SKEW_ENV, "").strip()
    if not text:
        return 0.0
    try:
        skew = float(text)
    except ValueError:
        skew = math.nan
    if not math.isfinite(skew):
        raise QiLoadError(f"{SKEW_ENV}: expected seconds as a number, got {text!r:.40}")
    return skew


def worker_clock(environ: Mapping[str, str] = os.environ) -> RunClock:
    """A worker's clock: skewed as the environment asks, not in sync until measured."""
    return RunClock(skew_s=injected_skew(environ), synced=gevent.event.Event())
