"""The report's data model (``summary.json``, schema in docs/summary-schema.md) and its builder."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypedDict

import pandas as pd

from qi_load import __version__
from qi_load.analyze.alert_replay import AlertFinding, evaluate_alerts
from qi_load.analyze.capacity import Capacity, Requirement, capacity, requirement
from qi_load.analyze.capacity_search import load_search, load_sweep
from qi_load.analyze.compare import CompareSettings, Comparison, compare_runs
from qi_load.analyze.degradation import Degradation, DegradationSettings, degradation
from qi_load.analyze.leaks import LeakFit, LeakSettings, leak_fits
from qi_load.analyze.load import LOCUST_FINAL_JSON, LOCUST_STATS_CSV, RunData
from qi_load.analyze.quality_fit import quality_misfit
from qi_load.analyze.recommend import Recommendation, recommend
from qi_load.analyze.stages import (
    MIN_WINDOW_REQUESTS,
    QueryStats,
    SloCheck,
    StageStats,
    analyze_stages,
    is_open_loop,
    pooled_stats,
    slo_failure,
)
from qi_load.analyze.targets import TargetResult, grade_targets, targets_from_scenario
from qi_load.analyze.trace_phases import TraceSummary
from qi_load.analyze.traces import run_traces
from qi_load.errors import QiLoadError
from qi_load.generate.queries import CheckPlan
from qi_load.generate.search import SearchResult
from qi_load.generate.sweep import SweepResult
from qi_load.targets import Targets

__all__ = [
    "SCHEMA_VERSION",
    "AnalysisSettings",
    "CheckResult",
    "LocustView",
    "LostWorker",
    "QualityInfo",
    "RunInfo",
    "Summary",
    "Verdict",
    "analyze_run",
    "locust_view",
    "summary_json",
]

SCHEMA_VERSION: Final = 1


class RunInfo(TypedDict):
    run_id: str
    path: str
    status: str
    scenario: str
    target_url: str
    start: float | None
    end: float | None
    duration_s: float | None
    open_loop: bool
    workers: int
    lost_workers: list[LostWorker]
    environment: dict[str, Any]


class LostWorker(TypedDict):
    """A Locust worker that stopped heart-beating mid-run (from ``run.json``)."""

    id: str
    at: float | None


class QualityInfo(TypedDict):
    """How answers were checked (run.json ``quality``; None/empty for older runs)."""

    mode: str | None
    reference_agent: bool | None
    checks: dict[str, CheckPlan]


Verdict = Literal["pass", "fail", "not_judged"]
"""``not_judged``: nothing failed, but the SLOs could be judged at no stage (none had enough
requests; or the required one had not). Distinct from a measured failure, and still not a
pass: a gate that judged nothing has not passed."""


class CheckResult(TypedDict):
    """What ``--check`` gates on: run-level SLOs, failed targets, critical alerts, regressions."""

    verdict: Verdict
    passed: bool
    """The verdict is ``pass`` (what ``--check`` exits 0 on)."""
    failures: list[str]
    """Why it is not: each measured failure; or, not judged, what left it so."""


class LocustFailure(TypedDict):
    name: str
    error: str
    occurrences: int


class LocustView(TypedDict):
    """Locust's own request counters, for cross-checking ``requests.csv``: Locust counts each
    finished request once, so ``csv_rows`` (the rows that are not ``cancelled``) should equal
    ``requests``; ``cancelled`` rows never reach Locust."""

    requests: int | None
    failures: int | None
    source: str | None
    csv_rows: int
    cancelled: int
    failure_messages: list[LocustFailure]


class Summary(TypedDict):
    schema_version: int
    generated_by: str
    run: RunInfo
    warnings: list[str]
    overall: QueryStats
    per_type: dict[str, QueryStats]
    slo_checks: list[SloCheck]
    capacity: Capacity
    requirement: Requirement
    quality: QualityInfo
    stages: list[StageStats]
    degradation: Degradation
    leaks: list[LeakFit]
    alerts: list[AlertFinding]
    targets: list[TargetResult]
    recommendations: list[Recommendation]
    check: CheckResult
    comparison: Comparison | None
    locust: LocustView | None
    traces: TraceSummary | None
    search: SearchResult | None
    sweep: SweepResult | None


@dataclass(frozen=True)
class AnalysisSettings:
    degradation: DegradationSettings = field(default_factory=DegradationSettings)
    leaks: LeakSettings = field(default_factory=LeakSettings)
    compare: CompareSettings = field(default_factory=CompareSettings)


def _run_info(run: RunData) -> RunInfo:
    m = run.manifest
    start, end = m.start, m.end
    return RunInfo(
        run_id=m.run_id or run.path.name,
        path=str(run.path),
        status=m.status or "unknown",
        scenario=str(run.scenario.get("name", "")),
        target_url=m.target_url,
        start=start,
        end=end,
        duration_s=end - start if start is not None and end is not None else None,
        open_loop=is_open_loop(run),
        workers=len(m.workers),
        lost_workers=[LostWorker(id=w.id, at=w.at) for w in m.lost_workers],
        environment=m.environment or {},
    )


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _quality(section: dict[str, Any] | None) -> QualityInfo:
    if section is None:
        return QualityInfo(mode=None, reference_agent=None, checks={})
    mode, ref, checks = section.get("mode"), section.get("reference_agent"), section.get("checks")
    return QualityInfo(
        mode=str(mode) if isinstance(mode, str) else None,
        reference_agent=ref if isinstance(ref, bool) else None,
        checks={
            str(t): CheckPlan(
                ran=_names(c.get("ran")),
                reference_only=_names(c.get("reference_only")),
                skipped=_names(c.get("skipped")),
            )
            for t, c in (checks.items() if isinstance(checks, dict) else ())
            if isinstance(c, dict)
        },
    )


def locust_view(run: RunData) -> LocustView | None:
    """The summary's ``locust`` section: Locust's own counts beside the CSV's rows."""
    stats, failures, final = run.locust_stats, run.locust_failures, run.locust_final
    if stats is None and failures is None and final is None:
        return None
    requests = fails = None
    source = None
    # One Locust entry per request: the sum of the entries is Locust's "Aggregated" line.
    if final is not None:
        requests = sum(int(e.get("num_requests", 0)) for e in final)
        fails = sum(int(e.get("num_failures", 0)) for e in final)
        source = LOCUST_FINAL_JSON
    elif stats is not None:
        rows = stats[stats["Name"] != "Aggregated"]
        if not rows.empty:
            requests = int(pd.to_numeric(rows["Request Count"], errors="coerce").fillna(0).sum())
            fails = int(pd.to_numeric(rows["Failure Count"], errors="coerce").fillna(0).sum())
            source = LOCUST_STATS_CSV
    messages = []
    if failures is not None:
        for name, error, count in (
            failures.loc[:, ["Name", "Error", "Occurrences"]].head(50).itertuples(index=False)
        ):
            messages.append(
                LocustFailure(name=str(name), error=str(error), occurrences=int(float(count or 0)))
            )
    return LocustView(
        requests=requests,
        failures=fails,
        source=source,
        csv_rows=len(run.requests),
        cancelled=len(run.cancelled),
        failure_messages=messages,
    )


def _check(
    req: Requirement,
    targets: list[TargetResult],
    gate: bool,
    alerts: list[AlertFinding],
    comparison: Comparison | None,
) -> CheckResult:
    judged = req["status"] in ("pass", "fail")  # a stage too short to judge proves nothing
    failures = [f"SLO {slo_failure(c)}" for c in req["slo_checks"] if judged and c["ok"] is False]
    if req["status"] == "not_reached":
        failures.append(req["detail"])
    failures += [
        f"target {t['metric']}: {t['value']:.4g} {t['unit']} is worse than the minimum "
        f"{t['minimum']:g} {t['unit']}"
        for t in targets
        if gate and t["grade"] == "fail" and t["value"] is not None
    ]
    failures += [f"critical alert: {a['message']}" for a in alerts if a["severity"] == "critical"]
    if comparison is not None:
        failures += [
            f"critical regression: {r['description']}"
            for r in comparison["rows"]
            if r["severity"] == "critical"
        ]
    verdict: Verdict = "fail" if failures else "pass"
    if verdict == "pass" and req["status"] == "insufficient_data":
        verdict, failures = "not_judged", [req["detail"]]
    return CheckResult(verdict=verdict, passed=verdict == "pass", failures=failures)


def analyze_run(
    run: RunData,
    *,
    targets: Targets | None = None,
    baseline: RunData | None = None,
    settings: AnalysisSettings | None = None,
) -> Summary:
    """Every analysis of one run (and, with ``baseline``, the comparison against it)."""
    settings = settings or AnalysisSettings()
    warnings = list(run.warnings)
    if targets is None:
        try:
            targets = targets_from_scenario(run.scenario)
        except QiLoadError as exc:
            warnings.append(f"scenario targets ignored: {exc}")
            targets = Targets()
    stages = analyze_stages(run)
    invalid = [s for s in stages if s["invalid"]]
    warnings += [
        f"stage {s['name']} is invalid ({s['invalid']}): left out of the conclusions"
        for s in invalid
    ]
    thin = [s for s in stages if s["overall"]["n"] < MIN_WINDOW_REQUESTS]
    warnings += [
        f"stage {s['name']}: only {s['overall']['n']} requests ended in its steady-state "
        f"window ({s['started']} started in the stage, {s['cancelled']} cancelled at its "
        f"end); fewer than {MIN_WINDOW_REQUESTS}, its figures are unreliable"
        for s in thin
    ]
    if thin:
        # The window grows with the stage, so the shortfall says how much longer to run.
        factor = math.ceil(MIN_WINDOW_REQUESTS / max(1, min(s["overall"]["n"] for s in thin)))
        # Without a scenario (plain Locust's -t) there is no stage to scale: name -t instead.
        longer = (
            # run.json holds the scaled stages, not the factor: the user knows the one used.
            f"--time-scale {factor} (multiplies every stage's duration: a run that already had "
            f"--time-scale F needs F * {factor})"
            if run.scenario
            else f"-t {math.ceil(factor * (stages[-1]['end'] - stages[0]['start']))}s "
            "(Locust's run time; --time-scale applies to a --scenario's stages)"
        )
        warnings.append(
            f"{len(thin)} of {len(stages)} stages are too short for this service's rate: "
            f"lengthen them, e.g. {longer}"
        )
    info = _run_info(run)
    step = run.manifest.clock_step_s
    if step is not None:
        warnings.append(
            f"the host's wall clock was stepped {step:+.1f} s during the run (NTP, a resumed "
            "VM): qi-load's times are unaffected, but times from other programs (agent "
            "spans, Locust's CSV history) are off by that much"
        )
    for lost in info["lost_workers"]:
        offset = (
            f" ({lost['at'] - info['start']:.0f} s into the run)"
            if lost["at"] is not None and info["start"] is not None
            else ""
        )
        warnings.append(
            f"worker {lost['id']} was lost{offset}: the requests it reported before are "
            "kept; Locust moved its users to the remaining workers"
        )
    (search, search_warning), (sweep, sweep_warning) = load_search(run.path), load_sweep(run.path)
    warnings += [w for w in (search_warning, sweep_warning) if w]
    overall, per_type = pooled_stats(run)
    deg = degradation(stages, run.manifest.environment or {}, settings.degradation)
    cap = capacity(stages)
    req = requirement(stages, run.scenario)
    quality = _quality(run.manifest.quality)
    ran = {qt: plan["ran"] for qt, plan in quality["checks"].items()}
    misfit = quality_misfit(
        overall["quality_checked"], overall["quality_passed"], quality["mode"],
        quality["reference_agent"], ran,
    )  # fmt: skip
    warnings += [misfit] if misfit else []
    leaks = leak_fits(run, settings.leaks)
    alerts = evaluate_alerts(run)
    graded = grade_targets(targets, stages, run.manifest.startup_ms, req["stage"])
    comparison = compare_runs(baseline, run, settings.compare) if baseline is not None else None
    recs = recommend(
        targets=graded, degradation=deg, leaks=leaks, alerts=alerts, stages=stages, overall=overall
    )
    return Summary(
        schema_version=SCHEMA_VERSION,
        generated_by=f"qi-load {__version__}",
        run=info,
        warnings=warnings,
        overall=overall,
        per_type=per_type,
        slo_checks=req["slo_checks"],
        capacity=cap,
        requirement=req,
        quality=quality,
        stages=stages,
        degradation=deg,
        leaks=leaks,
        alerts=alerts,
        targets=graded,
        recommendations=recs,
        check=_check(req, graded, targets.gate, alerts, comparison),
        comparison=comparison,
        locust=locust_view(run),
        traces=run_traces(run),
        search=search,
        sweep=sweep,
    )


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def summary_json(summary: Mapping[str, Any]) -> str:
    return json.dumps(_clean(summary), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
