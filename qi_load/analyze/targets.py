"""The targets (``qi_load.targets``) graded against what a run measured; ``--targets`` files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

from pydantic import ValidationError

from qi_load.analyze.stages import MIN_TYPE_REQUESTS, StageStats
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
    """``base`` (default: the methodology's) overridden by a YAML or JSON file; the file's
    targets gate the verdict unless it sets ``gate: false``."""
    start = (base or Targets()).model_copy(update={"gate": True})
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


def _p95(config: Targets, ref: StageStats) -> tuple[float | None, str]:
    """E2E p95 of the typical query type at ``ref`` (seconds) and its basis."""
    qt = config.p95_query_type
    where = f"at {ref['name']} ({ref['users']} users)"
    q = ref["per_type"].get(qt)
    p = q["e2e_ms"] if q else None
    if p is None or p["p95"] is None:
        return None, f"no successful {qt} request {where}"
    if p["n"] < MIN_TYPE_REQUESTS:
        return None, f"insufficient data: {p['n']} {qt} requests {where}"
    return p["p95"] / 1000.0, f"E2E p95 of {qt} {where} (n={p['n']})"


def grade_targets(
    config: Targets,
    stages: Sequence[StageStats],
    startup_ms: float | None,
    reference_stage: str | None = None,
) -> list[TargetResult]:
    """Grade what the run measured (``startup_ms``: run.json's); what it did not measure is
    ``not_measured``. The p95 is graded at ``reference_stage`` (the required load's) when
    given and valid, else at the valid stage with the most users up to ``reference_users``."""
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
    reference = (
        [s for s in valid if s["name"] == reference_stage]
        or [s for s in valid if s["users"] <= config.reference_users]
        or valid[:1]
    )
    p95: float | None = None
    p95_basis = "no valid stage with requests"
    if reference:
        p95, p95_basis = _p95(config, reference[-1])
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
