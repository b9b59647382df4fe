"""Live greenlet objects of this process, counted on request for soak checks."""

from __future__ import annotations

import gc
import os
from typing import Final

from greenlet import greenlet

__all__ = ["COUNT_ENV", "count_greenlets", "counting_enabled"]

COUNT_ENV: Final = "QI_LOAD_COUNT_GREENLETS"
"""Set to 1 to add each Locust process's greenlet count to its host samples. Off by default:
a count walks every object the garbage collector tracks (~10-30 ms with the GIL held in a
Locust process), which would show up in the timings of a normal run."""


def counting_enabled() -> bool:
    return os.environ.get(COUNT_ENV, "") not in ("", "0")


def count_greenlets() -> int:
    """Greenlet objects alive in this process, running, waiting or finished but still
    referenced: a finished greenlet kept alive by a list is as much a leak as a running one."""
    return sum(1 for obj in gc.get_objects() if isinstance(obj, greenlet))
