"""The methodology's startup, memory and toolchain targets, and grading a value against them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "GRADES",
    "MEMORY",
    "STARTUP",
    "TOOLCHAIN_TARGETS",
    "Grade",
    "Target",
    "grade",
]

Grade = Literal["stretch", "target", "minimum", "miss"]
GRADES: Final[tuple[Grade, ...]] = ("stretch", "target", "minimum", "miss")


@dataclass(frozen=True)
class Target:
    """A lower-is-better target: the stretch goal, the target and the minimum acceptable."""

    name: str
    unit: str
    stretch: float
    target: float
    minimum: float

    def as_dict(self) -> dict[str, str | float]:
        return {
            "name": self.name,
            "unit": self.unit,
            "stretch": self.stretch,
            "target": self.target,
            "minimum": self.minimum,
        }


STARTUP: Final = Target("startup time (command to ready)", "ms", 200.0, 300.0, 500.0)
MEMORY: Final = Target("memory at ready (RSS of the process tree)", "MB", 50.0, 75.0, 100.0)
TOOLCHAIN_TARGETS: Final[dict[str, Target]] = {
    "build": Target("build time", "s", 20.0, 30.0, 60.0),
    "tests": Target("test suite", "s", 5.0, 10.0, 20.0),
    "hot_reload": Target("hot reload", "s", 0.1, 0.2, 0.5),
}


def grade(value: float, target: Target) -> Grade:
    """The best level ``value`` reaches: ``stretch``, ``target``, ``minimum`` or ``miss``."""
    if value <= target.stretch:
        return "stretch"
    if value <= target.target:
        return "target"
    if value <= target.minimum:
        return "minimum"
    return "miss"
