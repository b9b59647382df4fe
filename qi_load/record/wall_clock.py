"""The wall clock every time in a run directory is read from: stepped host clocks don't move it.

A host's wall clock can jump mid-run: NTP or chrony stepping a large error, a VM resumed
or migrated, an operator's ``date -s``. Read directly, a jump of +30 s would make a run
think its plan 30 s further on (users idle, open-loop schedules burst to catch up), and a
jump back would stall every schedule. ``wall_now()`` reads the wall clock once per process
and advances it by the monotonic clock, which never jumps but is rate-corrected (slewed)
by NTP like the wall clock, so hours-long runs stay within milliseconds of true time.

Times compared with the operating system's own wall-clock readings (a process's
``create_time``, Locust's heartbeats and stats) keep ``time.time()``.
"""

from __future__ import annotations

import time
from typing import Final

__all__ = ["STEP_NOTED_S", "host_clock_step", "wall_now"]

_ORIGIN: Final = (time.time(), time.perf_counter())
"""This process's wall clock and monotonic clock, read together once (at import)."""
STEP_NOTED_S: Final = 0.5
"""A host clock this far off the run's at the end was stepped: ``run.json`` says by how
much (slewing keeps the two within milliseconds otherwise)."""


def wall_now() -> float:
    """Unix seconds: the wall clock as read at this process's start, advanced since by the
    monotonic clock."""
    wall, monotonic = _ORIGIN
    return wall + (time.perf_counter() - monotonic)


def host_clock_step() -> float | None:
    """Seconds the host's wall clock moved against ``wall_now()`` since this process
    started (positive: forward), or ``None`` when under ``STEP_NOTED_S``."""
    step = time.time() - wall_now()
    return round(step, 3) if abs(step) >= STEP_NOTED_S else None
