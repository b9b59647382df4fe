"""Grading against the methodology's lower-is-better targets, boundaries included."""

from __future__ import annotations

import pytest

from qi_load.bench.grading import MEMORY, STARTUP, TOOLCHAIN_TARGETS, grade


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (150.0, "stretch"),
        (200.0, "stretch"),
        (200.1, "target"),
        (300.0, "target"),
        (499.9, "minimum"),
        (500.0, "minimum"),
        (500.1, "miss"),
    ],
)
def test_startup_levels(value: float, expected: str) -> None:
    assert grade(value, STARTUP) == expected


def test_methodology_numbers() -> None:
    assert (STARTUP.stretch, STARTUP.target, STARTUP.minimum) == (200, 300, 500)
    assert (MEMORY.stretch, MEMORY.target, MEMORY.minimum) == (50, 75, 100)
    build = TOOLCHAIN_TARGETS["build"]
    assert (build.stretch, build.target, build.minimum) == (20, 30, 60)
    tests = TOOLCHAIN_TARGETS["tests"]
    assert (tests.stretch, tests.target, tests.minimum) == (5, 10, 20)
    reload = TOOLCHAIN_TARGETS["hot_reload"]
    assert (reload.stretch, reload.target, reload.minimum) == (0.1, 0.2, 0.5)
