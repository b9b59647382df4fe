"""The capacity search's logic on plain numbers: step verdicts, bracketing, bisection, interval."""

from __future__ import annotations

import random
from typing import Any, Literal

from qi_load.generate.search import (
    CUT_MARGIN,
    CapacitySearch,
    Decision,
    PathStep,
    StepSamples,
    Verdict,
    collect,
    judge,
    point_decision,
    rising,
    settling,
)
from qi_load.record.schema import RequestRecord
from qi_load.scenario import Search, Slo

TTFT_SLO = {"simple": Slo(ttft_p95_ms=300.0)}
CONFIDENCE = 0.95


def _shuffled(values: list[float]) -> list[float]:
    """Values in an order without trend: samples of a steady step."""
    random.Random(1).shuffle(values)
    return values


def _samples(ttft: list[float], errors: int = 0) -> dict[str, StepSamples]:
    return {"simple": StepSamples(ttft_ms=ttft, requests=len(ttft) + errors, errors=errors)}


def test_a_step_passes_when_the_p95_interval_is_below_the_slo() -> None:
    steady = _shuffled([100.0 + i for i in range(120)])
    verdict = judge(_samples(steady), TTFT_SLO, 100, CONFIDENCE)
    assert verdict["decision"] == "pass"
    assert verdict["statistic"] == "simple ttft_p95_ms"
    assert verdict["n"] == 120 and verdict["limit"] == 300.0
    assert verdict["high"] is not None and verdict["high"] <= 300.0


def test_too_few_samples_or_a_straddling_interval_is_uncertain() -> None:
    assert judge(_samples([100.0] * 50), TTFT_SLO, 100, CONFIDENCE)["decision"] == "uncertain"
    straddling = [250.0 + i for i in range(100)]  # p95 ~ 345, interval reaches below 300
    mixed = _samples(_shuffled(straddling[:60] + [290.0] * 40))
    assert judge(mixed, TTFT_SLO, 100, CONFIDENCE)["decision"] in (
        "uncertain",
        "fail",
    )
    assert judge({}, TTFT_SLO, 100, CONFIDENCE)["decision"] == "uncertain"


def test_a_step_fails_when_the_whole_interval_is_above_the_slo() -> None:
    verdict = judge(_samples([900.0 + i for i in range(30)]), TTFT_SLO, 100, CONFIDENCE)
    assert verdict["decision"] == "fail"
    assert verdict["low"] is not None and verdict["low"] > 300.0


def test_rates_decide_only_after_min_samples() -> None:
    slos = {"simple": Slo(error_rate=0.01)}
    assert judge(_samples([100.0] * 10, errors=5), slos, 100, CONFIDENCE)["decision"] == "uncertain"
    verdict = judge(_samples([100.0] * 100, errors=5), slos, 100, CONFIDENCE)
    assert (verdict["decision"], verdict["statistic"]) == ("fail", "simple error_rate")


def test_the_worst_check_decides() -> None:
    slos = {"simple": Slo(ttft_p95_ms=300.0, e2e_p95_ms=400.0)}
    samples = {"simple": StepSamples(ttft_ms=[100.0] * 120, e2e_ms=[900.0] * 120, requests=120)}
    assert judge(samples, slos, 100, CONFIDENCE)["statistic"] == "simple e2e_p95_ms"


def test_point_decision_of_an_uncertain_verdict() -> None:
    base: dict[str, Any] = {"decision": "uncertain", "statistic": "s", "low": None,
                            "high": None, "limit": 300.0, "n": 80}  # fmt: skip
    assert point_decision(Verdict(value=290.0, **base)) == "pass"
    assert point_decision(Verdict(value=310.0, **base)) == "fail"
    assert point_decision(Verdict(value=None, **base)) == "fail"


def test_rising_latency_past_the_slo_is_over_saturation() -> None:
    climbing = [100.0 + 10 * i for i in range(60)]
    assert rising(climbing, 300.0)
    assert not rising(climbing[:30], 300.0)  # too few to tell
    assert not rising([500.0] * 60, 300.0)  # high but flat: let the interval decide
    assert not rising([100.0 + i for i in range(60)], 300.0)
    # A burst that ends within the step: the latest third is high, the first is not all low.
    burst = [100.0, 400.0] * 10 + [350.0 + i for i in range(20)] + [200.0, 600.0] * 10
    assert not rising(burst, 300.0)


def _step(load: float, decision: Decision, certain: bool = True) -> PathStep:
    verdict = Verdict(decision=decision, statistic="", value=None, low=None, high=None,
                      limit=None, n=100)  # fmt: skip
    return PathStep(stage="s", load=load, start=0.0, end=1.0, verdict=verdict,
                    decision=decision, certain=certain, repeat=0, cut_short=False)  # fmt: skip


def _run(search: CapacitySearch, capacity: float) -> list[float]:
    """Drive the search against an oracle that passes loads up to ``capacity``."""
    loads, load = [], search.first_load()
    for _ in range(50):
        loads.append(load)
        following = search.record(_step(load, "pass" if load <= capacity else "fail"))
        if following is None:
            return loads
        load = following
    raise AssertionError("the search did not end")


def _search(loop: Literal["closed", "open"], **fields: float) -> CapacitySearch:
    return CapacitySearch(Search.model_validate(fields), loop, "search")


def test_closed_loop_brackets_then_bisects_to_one_user() -> None:
    search = _search("closed", low=1, high=64, start=8)
    assert _run(search, capacity=19) == [8.0, 16.0, 32.0, 24.0, 20.0, 18.0, 19.0]
    result = search.result()
    assert (result["capacity"], result["interval_low"], result["interval_high"]) == (19, 19, 20)
    assert result["finished"] == "converged" and result["unit"] == "users"


def test_open_loop_bisects_to_the_resolution() -> None:
    search = _search("open", low=1, high=40, start=8, resolution=0.04)
    _run(search, capacity=14.7)
    result = search.result()
    capacity, failed = result["capacity"], result["interval_high"]
    assert capacity is not None and failed is not None
    assert capacity <= 14.7 < failed and failed - capacity <= 0.04 * capacity


def test_search_ends_at_its_bounds() -> None:
    at_high = _search("closed", low=1, high=10, start=4)
    assert _run(at_high, capacity=100) == [4.0, 8.0, 10.0]
    assert at_high.result()["finished"] == "at_high"
    below = _search("closed", low=2, high=10, start=8)
    assert _run(below, capacity=1) == [8.0, 4.0, 2.0]
    assert below.result()["finished"] == "below_low"
    assert below.result()["capacity"] is None


STEPS: list[tuple[float, Decision, bool]] = [
    (16, "pass", True),
    (32, "fail", True),
    (24, "fail", False),
    (20, "pass", False),
    (22, "fail", True),
    (21, "pass", True),
]


def test_uncertain_decisions_widen_the_interval() -> None:
    search = _search("closed", low=1, high=64, start=16)
    for load, decision, certain in STEPS:
        search.record(_step(load, decision, certain))
    result = search.result()
    assert result["capacity"] == 21
    assert (result["interval_low"], result["interval_high"]) == (21, 22)
    widened = _search("closed", low=1, high=64, start=16)
    for load, decision, certain in STEPS[:3]:
        widened.record(_step(load, decision, certain))
    assert (widened.result()["interval_low"], widened.result()["interval_high"]) == (16, 32)


def _record(ts_sched: float, ts_start: float, ttft: float, **kw: Any) -> RequestRecord:
    return RequestRecord(ts_sched=ts_sched, ts_start=ts_start, worker="w", user_id=1,
                         query_type=kw.pop("query_type", "simple"), name="simple",
                         ok=kw.pop("ok", True), error_kind=kw.pop("error_kind", "none"),
                         ttft_ms=ttft, e2e_ms=ttft + 100, **kw)  # fmt: skip


def test_collect_counts_the_window_and_open_loop_lateness() -> None:
    records = [
        _record(9.0, 9.0, 50.0),  # scheduled before the window
        _record(10.0, 10.5, 50.0),  # half a second late: 550 ms from its schedule
        _record(11.0, 11.0, 60.0, query_type="reasoning"),  # not judged
        _record(12.0, 12.0, 70.0, ok=False, error_kind="http"),
    ]
    open_loop: dict[str, StepSamples] = {}
    collect(records, 10.0, ["simple"], open_loop, open_loop=True)
    got = open_loop["simple"]
    assert (got.requests, got.errors, got.ttft_ms) == (2, 1, [550.0])
    closed: dict[str, StepSamples] = {}
    collect(records, 10.0, ["simple"], closed, open_loop=False)
    assert closed["simple"].ttft_ms == [50.0]


def test_a_climbing_latency_near_the_limit_is_not_steady_yet() -> None:
    climbing = [100.0 + 8 * i for i in range(60)]  # 100 -> 572 ms
    assert settling(climbing, 600.0)
    assert not settling(climbing, 2000.0)  # far below the limit: it cannot matter
    assert not settling([300.0 + (i % 7) for i in range(60)], 600.0)  # steady


def test_before_min_samples_only_a_clear_excess_fails() -> None:
    moderate = [340.0 + i for i in range(30)]  # all above 300, none near CUT_MARGIN x 300
    assert max(moderate) < CUT_MARGIN * 300
    assert judge(_samples(moderate), TTFT_SLO, 100, CONFIDENCE)["decision"] == "uncertain"
    assert judge(_samples(moderate), TTFT_SLO, 30, CONFIDENCE)["decision"] == "fail"
