"""Capacity per query type and overall, and the verdict at the required load, on plain-number
ladders."""

from __future__ import annotations

from typing import Any

from qi_load.analyze.capacity import capacity, fastest_held, requirement
from qi_load.analyze.stages import SloCheck, StageStats


def _check(qt: str, value: float, limit: float, n: int = 10, stage: str = "") -> SloCheck:
    insufficient = n < 5
    ok = None if insufficient else value <= limit
    status = "insufficient_data" if insufficient else ("pass" if ok else "fail")
    return SloCheck(
        query_type=qt, metric="e2e_p95_ms", limit=limit, value=value, n=n, ok=ok,
        status=status, stage=stage,
    )  # type: ignore[typeddict-item]  # fmt: skip


def _stage(users: int, e2e: dict[str, float], n: int = 40, type_n: int = 10) -> StageStats:
    """A stage whose query types have these E2E p95s against a 1000 ms SLO."""
    name = f"u{users}"
    per_type: dict[str, Any] = {
        qt: {"n": type_n, "slo_checks": [_check(qt, v, 1000.0, type_n, name)]}
        for qt, v in e2e.items()
    }
    overall = {
        "n": n, "throughput_rps": users * 0.5,
        "slo_checks": [c for q in per_type.values() for c in q["slo_checks"]],
    }  # fmt: skip
    stage = {
        "index": users, "name": name, "users": users, "invalid": None, "overall": overall,
        "per_type": per_type,
    }  # fmt: skip
    return stage  # type: ignore[return-value]


LADDER = [
    _stage(1, {"simple": 300, "reasoning": 600}, n=6),  # too few requests: not judged
    _stage(5, {"simple": 300, "reasoning": 700}),
    _stage(10, {"simple": 400, "reasoning": 900}),
    _stage(20, {"simple": 800, "reasoning": 1500}),
    _stage(50, {"simple": 2000, "reasoning": 4000}),
]


def test_capacity_is_the_last_stage_where_every_slo_held() -> None:
    cap = capacity(LADDER)
    assert (cap["users"], cap["above_users"], cap["status"]) == (10, 20, "found")
    assert cap["throughput_rps"] == 5.0
    assert cap["detail"].startswith("every SLO holds at u10 (10 users); at u20 (20 users): ")
    assert "reasoning e2e_p95_ms 1500 > 1000" in cap["detail"]
    assert "too few requests (< 20) to judge u1 (n=6)" in cap["detail"]
    # Per query type: simple holds one stage further than reasoning.
    assert {qt: (c["users"], c["above_users"]) for qt, c in cap["per_type"].items()} == {
        "reasoning": (10, 20),
        "simple": (20, 50),
    }
    assert [v["status"] for v in cap["stages"]] == [
        "insufficient_data", "pass", "pass", "fail", "fail",
    ]  # fmt: skip


def test_every_stage_too_thin_is_insufficient_data_not_a_capacity() -> None:
    thin = [_stage(u, {"simple": 300}, n=8, type_n=3) for u in (1, 5, 10)]
    cap = capacity(thin)
    assert (cap["users"], cap["status"]) == (None, "insufficient_data")
    assert cap["detail"].startswith("insufficient data")
    # Enough requests in the stage, but too few of the type to judge its SLO: still unjudged.
    few_of_type = [_stage(u, {"simple": 300}, n=40, type_n=3) for u in (1, 5)]
    assert capacity(few_of_type)["status"] == "insufficient_data"


def test_failing_at_the_lowest_judged_stage_and_holding_everywhere() -> None:
    below = capacity([_stage(1, {"simple": 3000}), _stage(5, {"simple": 4000})])
    assert (below["users"], below["above_users"], below["status"]) == (None, 1, "below_lowest")
    everywhere = capacity([_stage(1, {"simple": 300}), _stage(5, {"simple": 400})])
    assert (everywhere["users"], everywhere["above_users"]) == (5, None)
    assert "the most tested" in everywhere["detail"]


def test_the_verdict_is_judged_at_the_required_users() -> None:
    met = requirement(LADDER, {"required_users": 10})
    assert (met["status"], met["stage"], met["kind"]) == ("pass", "u10", "users")
    assert {c["stage"] for c in met["slo_checks"]} == {"u10"}
    assert met["detail"] == "required 10 users: every SLO holds at u10 (10 users, 5.00 req/s)"
    # Between stages: the lowest stage that carries at least that many.
    missed = requirement(LADDER, {"required_users": 15})
    assert (missed["status"], missed["stage"]) == ("fail", "u20")
    assert "reasoning e2e_p95_ms 1500 > 1000" in missed["detail"]
    never = requirement(LADDER, {"required_users": 100})
    assert (never["status"], never["stage"]) == ("not_reached", None)
    assert "never reached by a valid stage (most: 50 users)" in never["detail"]
    thin = requirement(LADDER, {"required_users": 1})
    assert (thin["status"], thin["stage"]) == ("insufficient_data", "u1")


def test_the_verdict_at_a_required_rate_and_without_a_requirement() -> None:
    rate = requirement(LADDER, {"required_rate": 2.5})  # throughput is users / 2
    assert (rate["status"], rate["stage"], rate["kind"]) == ("pass", "u5", "rate")
    every = requirement(LADDER, {})
    assert (every["kind"], every["status"]) == (None, "fail")
    assert every["detail"].startswith("SLOs fail at u20 (20 users)")
    assert requirement(LADDER[:3], {})["status"] == "pass"


def test_stages_too_short_to_judge_prove_nothing_either_way() -> None:
    # A thin stage whose check failed on its few values: not judged, and not counted.
    thin_fail = _stage(1, {"simple": 3000}, n=6)
    every = requirement([thin_fail, *LADDER[1:3]], {})
    assert every["status"] == "pass"
    assert {c["stage"] for c in every["slo_checks"]} == {"u5", "u10"}
    assert requirement([thin_fail], {})["status"] == "insufficient_data"
    # No valid stage with requests at all: nothing judged, not a pass, not "no SLOs".
    empty = requirement([], {})
    assert (empty["status"], empty["detail"]) == (
        "insufficient_data", "insufficient data: no valid stage with requests"
    )  # fmt: skip
    assert capacity([])["status"] == "insufficient_data"


def test_a_sweeps_fastest_step_that_held_every_slo() -> None:
    # A sweep's rate steps all have the same users: judged one by one, by their throughput.
    steps = [_stage(4, {"simple": e2e}) for e2e in (300, 900, 1200, 700)]
    for number, (step, rps) in enumerate(zip(steps, (5.0, 9.0, 7.0, 8.0), strict=True), 1):
        step.update(name=f"s{number}")
        step["overall"]["throughput_rps"] = rps
    best = fastest_held(steps)
    assert best is not None and (best["stage"], best["throughput_rps"]) == ("s2", 9.0)
    steps[1]["invalid"] = "generator saturated"  # an invalid step proves nothing
    best = fastest_held(steps)
    assert best is not None and best["stage"] == "s4"
    assert fastest_held([steps[2]]) is None
