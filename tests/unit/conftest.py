"""Unit-test session setup: the collected modules are left out of garbage collection."""

from __future__ import annotations

import gc

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what collection imported (pandas, matplotlib, Locust, every test module): the
    collector's full passes then walk only what the tests create, not those long-lived
    objects again and again."""
    gc.collect()
    gc.freeze()
