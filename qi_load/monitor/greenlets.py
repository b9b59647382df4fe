"""Live greenlet objects of this process, counted on request for soak checks."""

from __future__ import annotations

import gc
import os
from typing import Final

from greenlet import greenlet

__all__ = ["COUNT_ENV", "count_greenlets", "counting_enabled"]

COUNT_ENV: Final = "QI_LOAD_COUNT_GREENLETS"
"""Set to 1 to add each Locust process's greenlet count to its host samples. Off by default:
a count walks every object the collector tracks since start-up, with the GIL held, which a
run that measures timings should not pay for."""


def counting_enabled() -> bool:
    return os.environ.get(COUNT_ENV, "") not in ("", "0")


def count_greenlets() -> int:
    """Greenlet objects created since start-up that are still alive in this process, running,
    waiting or finished but referenced (a finished greenlet kept by a list leaks as much as a
    running one). Start-up's own (the hub, Locust's runner loops) are not counted: the plugin's
    ``gc.freeze()`` hides them from ``gc.get_objects``, which is also what keeps a count cheap
    (it walks only the objects made since)."""
    return sum(1 for obj in gc.get_objects() if isinstance(obj, greenlet))
