"""The master writes its workers' records, sends late joiners the plan, notes the lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fake_locust import FakeMaster, fake_state, record

from qi_load.generate.plan import PlannedStage
from qi_load.generate.wire import (
    PLAN_MESSAGE,
    PLAN_REQUEST_MESSAGE,
    REPORT_KEY,
    WORKER_LEFT_MESSAGE,
)
from qi_load.generate.worker_watch import init_master, note_lost
from qi_load.record.manifest import Manifest
from qi_load.record.recorder import serialize_records
from qi_load.record.rundir import RunDir


class _Msg:
    def __init__(self, node_id: str, data: Any, type: str = "qi") -> None:
        self.node_id, self.data, self.type = node_id, data, type


def test_reports_plan_and_lost_workers(tmp_path: Path) -> None:
    runner = FakeMaster()
    qi = fake_state(runner)
    written: list[int] = []
    qi.observers.append(lambda records: written.append(len(records)))
    init_master(qi, runner)
    try:
        events = qi.environment.events
        payload = serialize_records("w1", [record(), record()])
        events.worker_report.fire(client_id="w1", data={REPORT_KEY: payload})
        assert written == [0]  # not one of the runner's workers: dropped and counted
        runner.clients.update(w1=object(), w2=object())
        events.worker_report.fire(client_id="w1", data={REPORT_KEY: payload})
        assert written == [0, 2]
        assert qi.record_gate is not None
        assert qi.record_gate.drops.as_dict() == {"unknown_sender": 1}

        events.worker_connect.fire(client_id="w1")
        events.worker_connect.fire(client_id="w2")
        assert set(qi.workers_seen) == {"w1", "w2"}
        ask = runner.handlers[PLAN_REQUEST_MESSAGE]
        ask(qi.environment, _Msg("w1", None))
        assert runner.sent == []  # no plan origin yet: the start will broadcast it
        qi.t0, qi.plan = 10.0, [PlannedStage(0, "one", 1, 0.0, 0.0, 5.0)]
        ask(qi.environment, _Msg("w2", None))  # a late joiner, once it can take the plan
        ask(qi.environment, _Msg("intruder", None))
        assert [(t, c) for t, _, c in runner.sent] == [(PLAN_MESSAGE, "w2")]

        qi.active, qi.run_dir = True, RunDir(tmp_path).create()
        qi.run_dir.write_manifest(Manifest())
        runner.handlers[WORKER_LEFT_MESSAGE](qi.environment, _Msg("w2", {"reason": "SIGINT"}))
        note_lost(qi, "w2", "heartbeat")  # already gone: noted once
        assert [(w["id"], w["reason"]) for w in qi.lost_workers] == [("w2", "SIGINT")]
        lost = qi.run_dir.read_manifest().lost_workers
        assert [w.model_dump() for w in lost] == qi.lost_workers
    finally:
        for greenlet in qi.greenlets:
            greenlet.kill()


def test_a_worker_lost_between_tests_is_not_noted() -> None:
    qi = fake_state()
    note_lost(qi, "w1", "heartbeat")
    assert qi.lost_workers == []
