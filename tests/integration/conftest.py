"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from processes import Locust


@pytest.fixture
def locusts() -> Iterator[list[Locust]]:
    """A list for the Locust processes a test starts: those still running at its end are
    killed, so a failed test leaves no cluster behind."""
    started: list[Locust] = []
    yield started
    for locust in started:
        locust.kill()
