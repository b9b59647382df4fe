"""Unit-test session setup: no garbage collection while the test modules are collected, then
the collected modules are left out of it, and the collector runs less often."""

from __future__ import annotations

import gc

import pytest

GC_YOUNG_THRESHOLD = 50_000
"""Allocations between young-generation collections (Python's default: 700)."""

# Importing ~130 test modules (pandas, matplotlib, Locust and qi-load behind them) allocates
# millions of long-lived objects: the collector's full passes over that growing heap, ~11 of
# them, cost ~1 s and free next to nothing. One pass at the end of collection does the job.
gc.disable()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what collection imported (pandas, matplotlib, Locust, every test module): the
    collector's full passes then walk only what the tests create, not those long-lived
    objects again and again. The tests allocate millions of short-lived containers (frames,
    records, Hypothesis examples): at the default threshold the collector ran ~950 young
    and ~85 middle passes per run (2.3 s); at 50,000 it runs ~10 and 0 (1.0 s, most of it
    the tests' own explicit collections); cycles are still freed, a little later."""
    gc.collect()
    gc.freeze()
    gc.enable()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
