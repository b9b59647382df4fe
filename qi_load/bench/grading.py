"""What the benchmarks grade: label and unit of each target over its levels (qi_load.targets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from qi_load.targets import TOOLCHAIN_TARGETS, TargetLevels, Targets

__all__ = ["MEMORY", "STARTUP", "TOOLCHAIN", "Target"]


@dataclass(frozen=True)
class Target:
    """A lower-is-better target as the benchmark reports show it."""

    name: str
    unit: str
    levels: TargetLevels

    def as_dict(self) -> dict[str, str | float]:
        return {
            "name": self.name,
            "unit": self.unit,
            "stretch": self.levels.stretch,
            "target": self.levels.target,
            "minimum": self.levels.minimum,
        }


_DEFAULTS: Final = Targets()
STARTUP: Final = Target("startup time (command to ready)", "ms", _DEFAULTS.startup_ms)
MEMORY: Final = Target("memory at ready (RSS of the process tree)", "MB", _DEFAULTS.memory_mb)
TOOLCHAIN: Final[dict[str, Target]] = {
    "build": Target("build time", "s", TOOLCHAIN_TARGETS["build"]),
    "tests": Target("test suite", "s", TOOLCHAIN_TARGETS["tests"]),
    "hot_reload": Target("hot reload", "s", TOOLCHAIN_TARGETS["hot_reload"]),
}
