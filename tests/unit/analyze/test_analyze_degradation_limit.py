"""Scalability limit from load-dependent SLOs only, on plain-number ladders."""

from __future__ import annotations

from typing import Any

from qi_load.analyze.degradation import degradation
from qi_load.analyze.stages import SloCheck, StageStats


def _pct(value: float) -> dict[str, Any]:
    return {"n": 50, "p50": value, "p90": value, "p95": value, "p99": value, "max": value}


def _stage(index: int, users: int, checks: list[SloCheck]) -> StageStats:
    """A stage whose throughput grows linearly (no knee), with these SLO verdicts."""
    overall = {
        "n": 50 * users, "n_ok": 50 * users, "throughput_rps": float(users),
        "goodput_rps": float(users), "error_rate": 0.0, "e2e_ms": _pct(100.0),
        "ttft_ms": _pct(10.0), "slo_checks": checks,
    }  # fmt: skip
    verdicts = [c["ok"] for c in checks if c["ok"] is not None]
    stage = {
        "index": index, "name": f"u{users}", "users": users, "invalid": None,
        "overall": overall, "per_type": {}, "roles": {},
        "slo_ok": all(verdicts) if verdicts else None,
    }  # fmt: skip
    return stage  # type: ignore[return-value]


def _check(metric: str, value: float, limit: float, qt: str = "simple") -> SloCheck:
    ok = value >= limit if metric == "quality_rate_min" else value <= limit
    return SloCheck(query_type=qt, metric=metric, limit=limit, value=value, ok=ok)


def _ladder(
    quality: list[float], e2e: list[float], users: tuple[int, ...] = (1, 2, 4, 8)
) -> list[StageStats]:
    return [
        _stage(i, u, [_check("quality_rate_min", q, 0.9), _check("e2e_p95_ms", e, 1000.0)])
        for i, (u, q, e) in enumerate(zip(users, quality, e2e, strict=True))
    ]


def test_quality_failing_from_the_lowest_load_does_not_set_the_limit() -> None:
    # A random-weight model: 0 % right at every load; E2E p95 breaks at 8 users.
    limit = degradation(_ladder([0, 0, 0, 0], [200, 300, 500, 1500]))["scalability_limit"]
    assert (limit["users"], limit["stage"]) == (4, "u4")
    assert limit["detail"].startswith("every load-dependent SLO holds up to 4 users")
    assert "simple e2e_p95_ms 1500 > 1000" in limit["detail"]
    assert "not counted" in limit["detail"]
    assert "simple quality_rate_min 0 < 0.9 from the lowest load on" in limit["detail"]


def test_quality_failing_everywhere_with_latency_passing_everywhere() -> None:
    limit = degradation(_ladder([0.1, 0.1, 0.1, 0.1], [200] * 4))["scalability_limit"]
    assert limit["users"] == 8
    assert "holds at every stage up to 8 users" in limit["detail"]


def test_quality_that_drops_with_load_sets_the_limit() -> None:
    # Right when idle, wrong under load (e.g. truncated answers): load-dependent.
    limit = degradation(_ladder([1.0, 0.95, 0.5, 0.2], [200] * 4))["scalability_limit"]
    assert limit["users"] == 2
    assert "every SLO holds up to 2 users" in limit["detail"]
    assert "simple quality_rate_min 0.5 < 0.9" in limit["detail"]
    assert "not counted" not in limit["detail"]


def test_latency_failing_at_the_lowest_stage_still_sets_no_limit() -> None:
    limit = degradation(_ladder([1.0] * 4, [1200] * 4))["scalability_limit"]
    assert limit["users"] is None
    assert limit["detail"].startswith("an SLO already fails at the lowest stage")


def test_only_a_failing_quality_slo_leaves_no_load_dependent_verdict() -> None:
    stages = [_stage(i, u, [_check("quality_rate_min", 0.0, 0.9)]) for i, u in enumerate((1, 2))]
    limit = degradation(stages)["scalability_limit"]
    assert limit["users"] is None
    assert limit["detail"].startswith("no load-dependent SLO measured; not counted")


def test_quality_unmeasured_at_the_lowest_stage_is_judged_where_first_measured() -> None:
    stages = _ladder([0, 0, 0, 0], [200, 300, 500, 1500])
    first = stages[0]["overall"]["slo_checks"][0]
    first["value"], first["ok"] = None, None  # no answer checked at 1 user
    assert degradation(stages)["scalability_limit"]["users"] == 4


def test_without_slos() -> None:
    limit = degradation([_stage(0, 1, []), _stage(1, 2, [])])["scalability_limit"]
    assert limit == {
        "users": None,
        "stage": None,
        "status": "none",
        "detail": "no SLOs in the scenario",
    }
