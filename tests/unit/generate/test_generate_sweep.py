"""The rate sweep: rates between the two throughputs, live throughput counting, and the
driver's steps at shape ticks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from qi_load.generate.plan import stage_plan
from qi_load.generate.sweep import Throughput, sweep_rates
from qi_load.generate.sweep_shape import SweepDriver
from qi_load.record.schema import RequestRecord
from qi_load.scenario import Scenario


def test_rates_lie_evenly_strictly_between() -> None:
    assert sweep_rates(2.0, 10.0, 3) == [4.0, 6.0, 8.0]
    assert sweep_rates(5.0, 5.0, 2) == [5.0, 5.0]


def _record(start: float, e2e_ms: float, kind: str = "none") -> RequestRecord:
    return RequestRecord(ts_sched=start, ts_start=start, worker="w", user_id=1,
                         query_type="simple", name="simple", ok=kind == "none",
                         error_kind=kind, e2e_ms=e2e_ms)  # type: ignore[arg-type]  # fmt: skip


def test_throughput_counts_requests_that_ended_in_the_window() -> None:
    meter = Throughput()
    meter.restart(100.0)
    assert meter.rate() is None
    meter.observe([
        _record(99.0, 500.0),  # ended before the window
        _record(99.5, 1000.0),  # ends at 100.5
        _record(101.0, 0.0),
        _record(101.0, 500.0, kind="http"),  # a failure finished too: 101.5
        _record(101.0, 100.0, kind="cancelled"),  # never finished
        _record(102.0, 500.0),  # 102.5
    ])  # fmt: skip
    # Four ends from 100.5 to 102.5: three gaps in two seconds.
    assert meter.rate() == pytest.approx(3 / 2.0)


class _Shape:
    def replan(self, plan: object) -> None:
        pass


def _driver(hold_s: float, rates: int) -> tuple[SweepDriver, SimpleNamespace]:
    scenario = Scenario.model_validate({
        "name": "sweep", "arrival": {"mode": "open", "rate": 1}, "mix": {"simple": 1},
        "settle_s": 0.5, "stages": [{"users": 4, "hold_s": hold_s, "sweep": {"rates": rates}}],
    })  # fmt: skip
    qi = SimpleNamespace(
        plan=stage_plan(scenario), t0=0.0, scenario=scenario,
        environment=SimpleNamespace(runner=None), active=False, run_dir=None,
    )  # fmt: skip
    return SweepDriver(qi, _Shape(), scenario), qi  # type: ignore[arg-type]


def _serve(driver: SweepDriver, start: float, end: float, every: float) -> None:
    """Requests of zero length ending every ``every`` seconds in [start, end)."""
    count = int((end - start) / every)
    driver.throughput.observe([_record(start + i * every, 0.0) for i in range(count)])


def test_steps_share_the_stage_and_rates_lie_between_the_measured_throughputs() -> None:
    driver, qi = _driver(hold_s=16, rates=2)
    for t in range(17):
        _serve(driver, t - 1, t, every=0.1 if len(driver.result["steps"]) == 0 else 0.025)
        driver.advance(float(t))
    result = driver.result
    assert driver.done and [s["kind"] for s in result["steps"]] == [
        "synchronous", "throughput", "rate", "rate"
    ]  # fmt: skip
    assert [(s.start_s, s.end_s) for s in qi.plan] == [(0, 4), (4, 8), (8, 12), (12, 16)]
    assert result["synchronous_rate"] == pytest.approx(10.0)
    assert result["max_rate"] == pytest.approx(40.0)
    assert [s.rate for s in qi.plan[2:]] == pytest.approx([20.0, 30.0])


def test_a_measuring_step_without_a_rate_goes_on_and_the_rest_share_what_is_left() -> None:
    driver, qi = _driver(hold_s=16, rates=2)
    for t in range(17):
        if t >= 7:  # the first requests end 6 s into the stage, seen at the 7 s tick
            _serve(driver, t - 1, t, every=0.1)
        driver.advance(float(t))
    ends = [s.end_s for s in qi.plan]
    assert ends[0] == 7.0  # not at 4 s: two requests had not finished yet
    assert ends[1:] == pytest.approx([10.0, 13.0, 16.0])
    assert driver.done and driver.result["synchronous_rate"] is not None


def test_a_service_that_never_answers_ends_the_sweep_at_the_stage_end() -> None:
    driver, qi = _driver(hold_s=8, rates=1)
    for t in range(12):
        driver.advance(float(t))
    assert driver.done and [s.end_s for s in qi.plan] == [8.0]
    assert driver.result["synchronous_rate"] is None and len(driver.result["steps"]) == 1
