"""A worker ships its records with Locust's report, takes the plan, and says why it leaves."""

from __future__ import annotations

from typing import Any

from fake_locust import FakeWorker, fake_state, record

from qi_load.generate.plan import PlannedStage
from qi_load.generate.wire import (
    PLAN_MESSAGE,
    PLAN_REQUEST_MESSAGE,
    REPORT_KEY,
    WORKER_LEFT_MESSAGE,
    plan_to_wire,
)
from qi_load.generate.worker_link import init_worker, leave
from qi_load.record.record_gate import RecordGate
from qi_load.scenario import resolve_scenario


class _Msg:
    def __init__(self, data: Any) -> None:
        self.data = data


def test_records_ride_on_the_report_and_the_plan_comes_from_the_master() -> None:
    runner = FakeWorker("w7")
    qi = fake_state(runner)
    init_worker(qi, runner)
    assert qi.worker_id == "w7"
    # Asked once its handler is in place: a plan sent at connect would come before it.
    assert runner.sent == [(PLAN_REQUEST_MESSAGE, None, None)]
    qi.record(record(worker="w7"))
    data: dict[str, Any] = {}
    qi.environment.events.report_to_master.fire(client_id="w7", data=data)
    records = RecordGate(None, known=lambda _: True).accept("w7", data[REPORT_KEY])
    assert [r.worker for r in records] == ["w7"]
    assert len(qi.buffer) == 0

    plan = [PlannedStage(0, "one", 2, 0.0, 1.0, 5.0)]
    scenario = resolve_scenario("smoke")
    runner.handlers[PLAN_MESSAGE](qi.environment, _Msg(dict(plan_to_wire(50.0, plan, scenario))))
    assert (qi.t0, qi.plan, qi.scenario) == (50.0, plan, scenario)

    # Locust copied the master's options into the worker's before its test_start.
    qi.environment.parsed_options.quality = "enforce"
    qi.environment.events.test_start.fire(environment=qi.environment)
    assert qi.options.quality == "enforce"

    qi.environment.events.test_stop.fire()
    assert runner.stats_sent == 1  # the last records leave before the master's stop ends


def test_a_worker_leaving_on_a_signal_stops_its_users_first() -> None:
    runner = FakeWorker(state="running")
    qi = fake_state(runner)
    qi.interrupted_by = "SIGTERM"
    leave(qi, runner)
    assert runner.stops == 1
    assert runner.sent == [(WORKER_LEFT_MESSAGE, {"reason": "SIGTERM"}, None)]
