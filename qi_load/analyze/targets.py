"""The targets matrix (startup, memory, p95, throughput) graded stretch/target/minimum/fail."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qi_load.analyze.degradation import TARGET_ROLES
from qi_load.analyze.stages import StageStats
from qi_load.errors import QiLoadError
from qi_load.yamlconf import load_model

__all__ = [
    "Grade",
    "TargetResult",
    "TargetsConfig",
    "Thresholds",
    "grade",
    "grade_targets",
    "load_targets",
    "targets_from_scenario",
]

Grade = Literal["stretch", "target", "minimum", "fail", "not_measured"]


class Thresholds(BaseModel):
    """Three levels of one metric; for throughput higher is better, for the rest lower."""

    model_config = ConfigDict(extra="forbid")

    stretch: float = Field(description="The ambitious level.")
    target: float = Field(description="The level the service should reach.")
    minimum: float = Field(description="The worst acceptable level; beyond it the grade is fail.")


def _ordered(t: Thresholds, higher_is_better: bool, name: str) -> None:
    levels = [t.stretch, t.target, t.minimum]
    if levels != sorted(levels, reverse=higher_is_better):
        order = "stretch ≥ target ≥ minimum" if higher_is_better else "stretch ≤ target ≤ minimum"
        raise ValueError(f"{name}: levels must satisfy {order}, got {levels}")


class TargetsConfig(BaseModel):
    """The methodology's baseline matrix; a ``--targets`` file overrides any part of it."""

    model_config = ConfigDict(extra="forbid")

    startup_ms: Thresholds = Field(
        default=Thresholds(stretch=200, target=300, minimum=500),
        description="Command to ready, ms (graded when run.json carries startup_ms).",
    )
    memory_mb: Thresholds = Field(
        default=Thresholds(stretch=50, target=75, minimum=100),
        description="Baseline RSS footprint of the target at the lowest stage, MB.",
    )
    p95_s: Thresholds = Field(
        default=Thresholds(stretch=1.0, target=1.5, minimum=2.0),
        description="E2E p95 at the reference stage, seconds.",
    )
    throughput_rps: Thresholds = Field(
        default=Thresholds(stretch=25, target=15, minimum=10),
        description="Highest throughput of a valid stage, requests/s.",
    )
    reference_users: int = Field(
        default=10,
        ge=1,
        description="p95 is graded at the valid stage with the most users up to this count.",
    )

    @model_validator(mode="after")
    def _check_order(self) -> TargetsConfig:
        _ordered(self.startup_ms, False, "startup_ms")
        _ordered(self.memory_mb, False, "memory_mb")
        _ordered(self.p95_s, False, "p95_s")
        _ordered(self.throughput_rps, True, "throughput_rps")
        return self


class TargetResult(TypedDict):
    metric: str
    unit: str
    value: float | None
    stretch: float
    target: float
    minimum: float
    grade: Grade
    basis: str


def _merged(base: TargetsConfig, data: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with the fields ``data`` sets (levels can be given one at a time)."""
    merged = base.model_dump()
    for key, value in data.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _merge(base: TargetsConfig, data: Any, where: str) -> TargetsConfig:
    if data is None:
        return base
    if not isinstance(data, Mapping):
        raise QiLoadError(f"{where}: expected a mapping of targets, got {type(data).__name__}")
    try:
        return TargetsConfig.model_validate(_merged(base, data))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise QiLoadError(f"{where}: {loc}: {err['msg']} (got {err.get('input')!r})") from None


def load_targets(path: Path | str, base: TargetsConfig | None = None) -> TargetsConfig:
    """``base`` (default: the methodology's) overridden by a YAML or JSON file."""
    start = base or TargetsConfig()
    return load_model(
        path, TargetsConfig, what="targets", prepare=lambda data: _merged(start, data)
    )


def targets_from_scenario(scenario: Mapping[str, Any]) -> TargetsConfig:
    """The methodology's targets overridden by the scenario's ``targets`` (from run.json)."""
    return _merge(TargetsConfig(), scenario.get("targets"), "run.json: scenario.targets")


def grade(value: float | None, t: Thresholds, *, higher_is_better: bool = False) -> Grade:
    if value is None:
        return "not_measured"
    sign = -1.0 if higher_is_better else 1.0
    for name, level in (("stretch", t.stretch), ("target", t.target), ("minimum", t.minimum)):
        if sign * value <= sign * level:
            return name  # type: ignore[return-value]
    return "fail"


def _result(
    metric: str, unit: str, value: float | None, t: Thresholds, basis: str, *, higher: bool = False
) -> TargetResult:
    return TargetResult(
        metric=metric,
        unit=unit,
        value=value,
        stretch=t.stretch,
        target=t.target,
        minimum=t.minimum,
        grade=grade(value, t, higher_is_better=higher),
        basis=basis,
    )


def grade_targets(
    config: TargetsConfig, stages: Sequence[StageStats], manifest: Mapping[str, Any]
) -> list[TargetResult]:
    """Grade what the run measured; what it did not measure is ``not_measured``."""
    valid = sorted(
        (s for s in stages if s["invalid"] is None and s["overall"]["n"] > 0),
        key=lambda s: s["users"],
    )
    startup = manifest.get("startup_ms")
    startup_value = float(startup) if isinstance(startup, int | float) else None
    memory: float | None = None
    memory_basis = "no target process samples"
    for s in valid:
        roles = [r for r in TARGET_ROLES if r in s["roles"]]
        if roles:
            memory = s["roles"][roles[0]]["rss_mean_mb"]
            memory_basis = (
                f"mean {roles[0]} RSS at the lowest stage ({s['name']}, {s['users']} users)"
            )
            break
    reference = [s for s in valid if s["users"] <= config.reference_users] or valid[:1]
    p95: float | None = None
    p95_basis = "no valid stage with requests"
    if reference:
        ref = reference[-1]
        value = ref["overall"]["e2e_ms"]["p95"]
        p95 = value / 1000.0 if value is not None else None
        p95_basis = f"E2E p95 of all query types at {ref['name']} ({ref['users']} users)"
    best = max(valid, key=lambda s: s["overall"]["throughput_rps"], default=None)
    return [
        _result(
            "startup", "ms", startup_value, config.startup_ms,
            "run.json startup_ms" if startup_value is not None else "not measured by this run",
        ),
        _result("memory", "MB", memory, config.memory_mb, memory_basis),
        _result("p95", "s", p95, config.p95_s, p95_basis),
        _result(
            "throughput", "req/s",
            best["overall"]["throughput_rps"] if best else None,
            config.throughput_rps,
            f"highest valid stage ({best['name']}, {best['users']} users)"
            if best
            else "no valid stage",
            higher=True,
        ),
    ]  # fmt: skip
