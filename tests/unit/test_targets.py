"""The one targets schema: methodology defaults, ordered levels, grades in both directions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from qi_load.targets import GRADES, TOOLCHAIN_TARGETS, TargetLevels, Targets


def test_methodology_defaults() -> None:
    t = Targets()
    assert (t.startup_ms.stretch, t.startup_ms.target, t.startup_ms.minimum) == (200, 300, 500)
    assert (t.memory_mb.stretch, t.memory_mb.target, t.memory_mb.minimum) == (50, 75, 100)
    assert (t.p95_s.stretch, t.p95_s.target, t.p95_s.minimum) == (1.0, 1.5, 2.0)
    assert (t.throughput_rps.stretch, t.throughput_rps.minimum) == (25, 10)
    assert set(TOOLCHAIN_TARGETS) == {"build", "tests", "hot_reload"}


def test_grades_both_directions_boundaries_included() -> None:
    lower = TargetLevels(stretch=1.0, target=1.5, minimum=2.0)
    assert [lower.grade(v) for v in (1.0, 1.5, 2.0, 2.01, None)] == [
        "stretch", "target", "minimum", "fail", "not_measured",
    ]  # fmt: skip
    higher = TargetLevels(stretch=25, target=15, minimum=10)
    graded = [higher.grade(v, higher_is_better=True) for v in (25, 15, 10, 9.9)]
    assert graded == ["stretch", "target", "minimum", "fail"]
    assert set(graded) | {"not_measured"} == set(GRADES)


def test_levels_out_of_order_name_the_field() -> None:
    with pytest.raises(ValidationError, match="levels out of order"):
        Targets(p95_s=TargetLevels(stretch=2.0, target=1.5, minimum=1.0))
    with pytest.raises(ValidationError, match="stretch >= target >= minimum"):
        Targets(throughput_rps=TargetLevels(stretch=5, target=15, minimum=10))


def test_levels_are_finite() -> None:
    with pytest.raises(ValidationError, match="finite number"):
        TargetLevels(stretch=1.0, target=2.0, minimum=float("inf"))
