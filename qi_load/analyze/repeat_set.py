"""A repeat set's summary: each stage's p50/p95/throughput and the capacity over its runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple, TypedDict

from qi_load import __version__
from qi_load.analyze.repeats import LEVEL, METHOD, Interval, mean_interval
from qi_load.analyze.summary import Summary
from qi_load.record.repeat_index import RepeatIndex, RepeatRun, read_index

__all__ = [
    "SET_SCHEMA_VERSION",
    "STAGE_METRICS",
    "CapacitySpread",
    "RunCapacity",
    "SetMetric",
    "SetRun",
    "SetSummary",
    "StageKey",
    "StageSpread",
    "load_set",
    "run_capacity",
    "single_run_set",
    "summarize_set",
]

SET_SCHEMA_VERSION: Final = 1


StageKey = Literal["e2e_p50_ms", "e2e_p95_ms", "throughput_rps"]


class SetMetric(NamedTuple):
    """A per-stage statistic a set carries an interval for."""

    key: StageKey
    label: str
    unit: str
    higher_is_worse: bool


STAGE_METRICS: Final = (
    SetMetric("e2e_p50_ms", "e2e_p50", "ms", True),
    SetMetric("e2e_p95_ms", "e2e_p95", "ms", True),
    SetMetric("throughput_rps", "throughput", "req/s", False),
)


class StageSpread(TypedDict):
    """One stage (name and users) over the runs in which it was valid."""

    stage: str
    users: int
    e2e_p50_ms: Interval
    e2e_p95_ms: Interval
    throughput_rps: Interval


class CapacitySpread(TypedDict):
    users: Interval
    per_run: list[float | None]
    """Each complete run's capacity in the order of ``runs`` (None: the run has none)."""


class SetRun(TypedDict):
    run_id: str
    path: str
    status: str
    capacity_users: float | None


class SetSummary(TypedDict):
    kind: Literal["repeat_set"]
    schema_version: int
    generated_by: str
    set_id: str
    path: str
    scenario: str
    requested: int
    runs: list[SetRun]
    level: float
    method: str
    stages: list[StageSpread]
    capacity: CapacitySpread
    warnings: list[str]


class RunCapacity(NamedTuple):
    users: float | None
    """The most users at which every SLO held (None: no capacity found)."""
    status: str
    """Why there is one or none (``found``, ``below_lowest``, ``insufficient_data`` ...)."""


def run_capacity(summary: Mapping[str, Any]) -> RunCapacity:
    """The one place that reads a run's capacity from its summary."""
    cap = summary["capacity"]
    return RunCapacity(None if cap["users"] is None else float(cap["users"]), str(cap["status"]))


def _stage_value(stage: Mapping[str, Any], key: str) -> float | None:
    overall = stage["overall"]
    if key == "throughput_rps":
        return float(overall["throughput_rps"])
    value = overall["e2e_ms"]["p50" if key == "e2e_p50_ms" else "p95"]
    return None if value is None else float(value)


def summarize_set(
    index: RepeatIndex, path: Path, summaries: Mapping[str, Summary], level: float = LEVEL
) -> SetSummary:
    """The set from its complete runs' summaries (keyed by run id): the others are listed
    and left out of every interval."""
    warnings: list[str] = []
    runs: list[SetRun] = []
    complete: list[Summary] = []
    for r in index.runs:
        summary = summaries.get(r.run_id) if r.status == "complete" else None
        if summary is None:
            warnings.append(f"run {r.run_id} is {r.status}: left out of the intervals")
        else:
            complete.append(summary)
        users = run_capacity(summary).users if summary is not None else None
        runs.append(SetRun(run_id=r.run_id, path=r.path, status=r.status, capacity_users=users))
    if len(complete) < 2:
        warnings.append(
            f"{len(complete)} complete run(s): an interval needs at least 2, none is given"
        )
    stages = _stages(complete, level, warnings)
    capacities = [run_capacity(s) for s in complete]
    per_run = [c.users for c in capacities]
    missing = [c.status for c in capacities if c.users is None]
    if missing:
        warnings.append(
            f"capacity: {len(missing)} of {len(per_run)} runs have none "
            f"({', '.join(sorted(set(missing)))}): left out of its interval"
        )
    return SetSummary(
        kind="repeat_set",
        schema_version=SET_SCHEMA_VERSION,
        generated_by=f"qi-load {__version__}",
        set_id=index.set_id,
        path=str(path),
        scenario=index.scenario,
        requested=index.requested,
        runs=runs,
        level=level,
        method=METHOD,
        stages=stages,
        capacity=CapacitySpread(users=mean_interval(per_run, level), per_run=per_run),
        warnings=warnings,
    )


def _stages(complete: Sequence[Summary], level: float, warnings: list[str]) -> list[StageSpread]:
    """Stages matched by name and users, in the order they ran; invalid ones left out."""
    found: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for summary in complete:
        for stage in summary["stages"]:
            key = (stage["name"], int(stage["users"]))
            found.setdefault(key, [])
            if not stage["invalid"]:
                found[key].append(stage)
    spreads = []
    for (name, users), stages in found.items():
        if len(stages) < len(complete):
            warnings.append(
                f"stage {name} ({users} users) is valid in {len(stages)} of "
                f"{len(complete)} runs: its intervals use those"
            )
        values = {m.key: mean_interval([_stage_value(s, m.key) for s in stages], level)
                  for m in STAGE_METRICS}  # fmt: skip
        spreads.append(
            StageSpread(
                stage=name,
                users=users,
                e2e_p50_ms=values["e2e_p50_ms"],
                e2e_p95_ms=values["e2e_p95_ms"],
                throughput_rps=values["throughput_rps"],
            )
        )
    return spreads


def _analyze(run_dir: Path) -> Summary:
    from qi_load.analyze.load import load_run
    from qi_load.analyze.summary import analyze_run

    return analyze_run(load_run(run_dir))


def load_set(set_dir: Path, summaries: Mapping[str, Summary] | None = None) -> SetSummary:
    """Read the set's index and analyze its complete runs (those in ``summaries``, by run
    id, are taken as given: ``qi-load run`` has them at hand)."""
    index = read_index(set_dir)
    given = dict(summaries or {})
    for r in index.runs:
        if r.status == "complete" and r.run_id not in given:
            given[r.run_id] = _analyze(set_dir / r.path)
    return summarize_set(index, set_dir, given)


def single_run_set(run_dir: Path) -> SetSummary:
    """A plain run directory as a set of one run (compared against a set, it takes the
    set's run-to-run spread)."""
    summary = _analyze(run_dir)
    run = summary["run"]
    index = RepeatIndex(
        set_id=run["run_id"],
        scenario=run["scenario"],
        requested=1,
        created=run["start"] or 0.0,
        runs=[RepeatRun(run_id=run["run_id"], path=".", status=run["status"])],
    )
    return summarize_set(index, run_dir, {run["run_id"]: summary})
