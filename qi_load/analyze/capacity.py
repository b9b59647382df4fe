"""Capacity of a ladder (the most load at which every SLO holds, overall and per query type)
and the SLO verdict at the load the scenario requires."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

from qi_load.analyze.ladder import insufficient_note, ladder, sufficient
from qi_load.analyze.stages import SloCheck, StageStats, slo_failure

__all__ = [
    "Capacity",
    "CapacityStatus",
    "Requirement",
    "StageVerdict",
    "TypeCapacity",
    "capacity",
    "fastest_held",
    "requirement",
    "stage_verdict",
]

StageStatus = Literal["pass", "fail", "insufficient_data", "no_slos"]
CapacityStatus = Literal["found", "below_lowest", "insufficient_data", "no_slos"]
"""``found``: some stage held; ``below_lowest``: an SLO already fails at the lowest stage
judged; ``insufficient_data``: no stage had enough requests; ``no_slos``: nothing to judge."""


class StageVerdict(TypedDict):
    """Every SLO of one stage (or of one query type in it)."""

    stage: str
    users: int
    n: int
    throughput_rps: float
    status: StageStatus
    failed: list[str]
    """Failed SLOs in words (``slo_failure``)."""
    unjudged: list[str]
    """SLOs with too few values to judge, e.g. ``reasoning e2e_p95_ms (n=3)``."""


class TypeCapacity(TypedDict):
    """The capacity as seen by one query type's SLOs."""

    users: int | None
    stage: str | None
    above_users: int | None
    """The first stage above the capacity, where an SLO failed (None: none failed)."""
    status: CapacityStatus
    detail: str


class Capacity(TypedDict):
    """The most users of a ladder stage at which every SLO of every query type held (quality
    included), every lower stage too; the true capacity lies in ``[users, above_users)``."""

    users: int | None
    stage: str | None
    throughput_rps: float | None
    above_users: int | None
    status: CapacityStatus
    detail: str
    per_type: dict[str, TypeCapacity]
    stages: list[StageVerdict]


RequirementStatus = Literal["pass", "fail", "insufficient_data", "not_reached"]


class Requirement(TypedDict):
    """The run's SLO verdict: at the required load (``kind`` users or rate), or at every
    stage when the scenario requires none (``kind`` null)."""

    kind: Literal["users", "rate"] | None
    value: float | None
    stage: str | None
    users: int | None
    status: RequirementStatus
    detail: str
    slo_checks: list[SloCheck]


def _unjudged(c: SloCheck) -> str:
    return f"{c['query_type']} {c['metric']} (n={c.get('n', 0)})"


def stage_verdict(stage: StageStats, query_type: str | None = None) -> StageVerdict:
    """Pass when the stage has enough requests and no SLO of it (of ``query_type``) failed."""
    if query_type is None:
        checks, n = stage["overall"]["slo_checks"], stage["overall"]["n"]
    else:
        q = stage["per_type"].get(query_type)
        checks, n = (q["slo_checks"], q["n"]) if q else ([], 0)
    failed = [slo_failure(c) for c in checks if c["ok"] is False]
    unjudged = [_unjudged(c) for c in checks if c["ok"] is None]
    judged = [c for c in checks if c["ok"] is not None]
    status: StageStatus
    if not checks:
        status = "no_slos"
    elif not sufficient(stage) or not judged:
        status = "insufficient_data"
    else:
        status = "fail" if failed else "pass"
    return StageVerdict(
        stage=stage["name"],
        users=stage["users"],
        n=n,
        throughput_rps=stage["overall"]["throughput_rps"],
        status=status,
        failed=failed,
        unjudged=unjudged,
    )


def _users(count: int) -> str:
    return f"{count} user{'s' * (count != 1)}"


def _walk(verdicts: Sequence[StageVerdict]) -> tuple[StageVerdict | None, StageVerdict | None]:
    """(the last stage that held, the first that failed) going up the ladder; stages without
    enough data are stepped over."""
    best: StageVerdict | None = None
    for v in verdicts:
        if v["status"] == "fail":
            return best, v
        if v["status"] == "pass":
            best = v
    return best, None


def _judge(verdicts: Sequence[StageVerdict], thin: str) -> TypeCapacity:
    best, fail = _walk(verdicts)
    judged = [v for v in verdicts if v["status"] in ("pass", "fail")]
    left_out = f"; {thin}" if thin else ""
    if verdicts and all(v["status"] == "no_slos" for v in verdicts):
        return TypeCapacity(
            users=None, stage=None, above_users=None, status="no_slos", detail="no SLOs to judge"
        )
    if not judged:
        return TypeCapacity(
            users=None, stage=None, above_users=None, status="insufficient_data",
            detail="insufficient data: no stage had enough requests to judge its SLOs"
            + left_out,
        )  # fmt: skip
    above = fail["users"] if fail else None
    if best is None:
        assert fail is not None
        return TypeCapacity(
            users=None, stage=None, above_users=above, status="below_lowest",
            detail=f"below {_users(fail['users'])}: at {fail['stage']} "
            + "; ".join(fail["failed"][:4]) + left_out,
        )  # fmt: skip
    unjudged = f"; not judged there (too few values): {', '.join(best['unjudged'][:4])}"
    head = f"every SLO holds at {best['stage']} ({_users(best['users'])})"
    if fail is None:
        tail = ", the most tested"
    else:
        tail = f"; at {fail['stage']} ({_users(fail['users'])}): " + "; ".join(fail["failed"][:4])
    return TypeCapacity(
        users=best["users"], stage=best["stage"], above_users=above, status="found",
        detail=head + tail + (unjudged if best["unjudged"] else "") + left_out,
    )  # fmt: skip


def capacity(stages: Sequence[StageStats]) -> Capacity:
    """The capacity over the ladder's stages (valid, with data, one per user count)."""
    full = ladder(stages)
    thin = insufficient_note(full)
    verdicts = [stage_verdict(s) for s in full]
    overall = _judge(verdicts, thin)
    types = sorted({qt for s in full for qt in s["per_type"]})
    per_type = {qt: _judge([stage_verdict(s, qt) for s in full], thin) for qt in types}
    at = next((s for s in full if s["name"] == overall["stage"]), None)
    return Capacity(
        users=overall["users"],
        stage=overall["stage"],
        throughput_rps=at["overall"]["throughput_rps"] if at else None,
        above_users=overall["above_users"],
        status=overall["status"],
        detail=overall["detail"],
        per_type=per_type,
        stages=verdicts,
    )


def fastest_held(stages: Sequence[StageStats]) -> StageVerdict | None:
    """Of ``stages`` judged one by one (a rate sweep's steps, whose users do not rise as a
    ladder's do), the valid one with the highest throughput at which every SLO held; None
    when none held."""
    held = [
        v for v in (stage_verdict(s) for s in stages if s["invalid"] is None)
        if v["status"] == "pass"
    ]  # fmt: skip
    return max(held, key=lambda v: v["throughput_rps"], default=None)


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def requirement(stages: Sequence[StageStats], scenario: Mapping[str, Any]) -> Requirement:
    """The SLO verdict at the scenario's ``required_users`` or ``required_rate`` (the lowest
    stage that reached it); without either, every valid stage's SLOs."""
    full = ladder(stages)
    users, rate = _number(scenario.get("required_users")), _number(scenario.get("required_rate"))
    if users is None and rate is None:
        return _every_stage(full)
    kind: Literal["users", "rate"] = "users" if users is not None else "rate"
    value = users if users is not None else rate
    assert value is not None
    wanted = f"{value:g} users" if kind == "users" else f"{value:g} req/s"
    reached = [
        s
        for s in full
        if (s["users"] if kind == "users" else s["overall"]["throughput_rps"]) >= value
    ]
    if not reached:
        most = (
            _users(max((s["users"] for s in full), default=0))
            if kind == "users"
            else f"{max((s['overall']['throughput_rps'] for s in full), default=0.0):.2f} req/s"
        )
        return Requirement(
            kind=kind, value=value, stage=None, users=None, status="not_reached",
            detail=f"required {wanted} never reached by a valid stage (most: {most})",
            slo_checks=[],
        )  # fmt: skip
    at = reached[0]
    v = stage_verdict(at)
    where = f"at {at['name']} ({_users(at['users'])}, {at['overall']['throughput_rps']:.2f} req/s)"
    status: RequirementStatus
    if v["status"] == "fail":
        status, detail = "fail", f"required {wanted}: SLOs fail {where}: " + "; ".join(v["failed"])
    elif v["status"] == "pass":
        status, detail = "pass", f"required {wanted}: every SLO holds {where}"
        if v["unjudged"]:
            detail += f" (too few values for {', '.join(v['unjudged'][:4])})"
    elif v["status"] == "no_slos":
        status, detail = "pass", f"required {wanted}: no SLOs to judge {where}"
    else:
        status = "insufficient_data"
        detail = (
            f"required {wanted}: insufficient data {where}: n={v['n']} "
            "(too few requests to judge its SLOs)"
        )
    return Requirement(
        kind=kind, value=value, stage=at["name"], users=at["users"], status=status,
        detail=detail, slo_checks=list(at["overall"]["slo_checks"]),
    )  # fmt: skip


def _every_stage(full: Sequence[StageStats]) -> Requirement:
    verdicts = [stage_verdict(s) for s in full]
    failed = [v for v in verdicts if v["status"] == "fail"]
    judged = [v for v in verdicts if v["status"] == "pass"]
    # Only judged stages' checks: a stage too short to judge proves nothing either way.
    checks = [
        c
        for s, v in zip(full, verdicts, strict=True)
        if v["status"] in ("pass", "fail")
        for c in s["overall"]["slo_checks"]
    ]
    status: RequirementStatus
    if failed:
        status = "fail"
        detail = "SLOs fail at " + "; ".join(
            f"{v['stage']} ({_users(v['users'])}): {'; '.join(v['failed'][:3])}" for v in failed
        )
    elif judged or (verdicts and all(v["status"] == "no_slos" for v in verdicts)):
        status, detail = "pass", "every SLO holds at every stage judged"
        thin = insufficient_note(full)
        detail += f" ({thin})" if thin else ""
    else:  # nothing judged, an empty ladder too (every stage invalid or without requests)
        status = "insufficient_data"
        why = insufficient_note(full) or (
            "no SLO could be judged" if full else "no valid stage with requests"
        )
        detail = f"insufficient data: {why}"
    return Requirement(
        kind=None, value=None, stage=None, users=None, status=status, detail=detail,
        slo_checks=checks,
    )  # fmt: skip
