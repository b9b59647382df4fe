"""Grading against the methodology's lower-is-better targets, boundaries included."""

from __future__ import annotations

import pytest

from qi_load.bench.grading import MEMORY, STARTUP, TOOLCHAIN, Target


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (150.0, "stretch"),
        (200.0, "stretch"),
        (200.1, "target"),
        (300.0, "target"),
        (499.9, "minimum"),
        (500.0, "minimum"),
        (500.1, "fail"),
    ],
)
def test_startup_levels(value: float, expected: str) -> None:
    assert STARTUP.levels.grade(value) == expected


def _levels(target: Target) -> tuple[float, float, float]:
    return (target.levels.stretch, target.levels.target, target.levels.minimum)


def test_methodology_numbers() -> None:
    assert _levels(STARTUP) == (200, 300, 500)
    assert _levels(MEMORY) == (50, 75, 100)
    assert _levels(TOOLCHAIN["build"]) == (20, 30, 60)
    assert _levels(TOOLCHAIN["tests"]) == (5, 10, 20)
    assert _levels(TOOLCHAIN["hot_reload"]) == (0.1, 0.2, 0.5)
