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

__all__ = ["wall_now"]

_ORIGIN: Final = (time.time(), time.perf_counter())
"""This process's wall clock and monotonic clock, read together once (at import)."""


def wall_now() -> float:
    """Unix seconds: the wall clock as read at this process's start, advanced since by the
    monotonic clock."""
    wall, monotonic = _ORIGIN
    return wall + (time.perf_counter() - monotonic)
