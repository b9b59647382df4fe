"""The targets (``qi_load.targets``) graded against what a run measured; ``--targets`` files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

from pydantic import ValidationError

from qi_load.analyze.stages import StageStats
from qi_load.errors import QiLoadError
from qi_load.targets import Grade, TargetLevels, Targets
from qi_load.vocabulary import TARGET_ROLES
from qi_load.yamlconf import FieldError, format_path, load_model

__all__ = ["TargetResult", "grade_targets", "load_targets", "targets_from_scenario"]


class TargetResult(TypedDict):
    metric: str
    unit: str
    value: float | None
    stretch: float
    target: float
    minimum: float
    grade: Grade
    basis: str


def _merged(base: Targets, data: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with the fields ``data`` sets (levels can be given one at a time)."""
    merged = base.model_dump()
    for key, value in data.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _merge(base: Targets, data: Any, where: str) -> Targets:
    if data is None:
        return base
    if not isinstance(data, Mapping):
        raise QiLoadError(f"{where}: expected a mapping of targets, got {type(data).__name__}")
    try:
        return Targets.model_validate(_merged(base, data))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            raise QiLoadError(f"{where}: {format_path(cause.loc)}: {cause}") from None
        loc = format_path(list(err["loc"])) or "top level"
        raise QiLoadError(f"{where}: {loc}: {err['msg']} (got {err.get('input')!r})") from None


def load_targets(path: Path | str, base: Targets | None = None) -> Targets:
    """``base`` (default: the methodology's) overridden by a YAML or JSON file."""
    start = base or Targets()
    return load_model(path, Targets, what="targets", prepare=lambda data: _merged(start, data))


def targets_from_scenario(scenario: Mapping[str, Any]) -> Targets:
    """The methodology's targets overridden by the scenario's ``targets`` (from run.json)."""
    return _merge(Targets(), scenario.get("targets"), "run.json: scenario.targets")


def _result(
    metric: str,
    unit: str,
    value: float | None,
    t: TargetLevels,
    basis: str,
    *,
    higher: bool = False,
) -> TargetResult:
    return TargetResult(
        metric=metric,
        unit=unit,
        value=value,
        stretch=t.stretch,
        target=t.target,
        minimum=t.minimum,
        grade=t.grade(value, higher_is_better=higher),
        basis=basis,
    )


def grade_targets(
    config: Targets, stages: Sequence[StageStats], startup_ms: float | None
) -> list[TargetResult]:
    """Grade what the run measured (``startup_ms``: run.json's); what it did not measure is
    ``not_measured``."""
    valid = sorted(
        (s for s in stages if s["invalid"] is None and s["overall"]["n"] > 0),
        key=lambda s: s["users"],
    )
    startup_value = startup_ms
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
