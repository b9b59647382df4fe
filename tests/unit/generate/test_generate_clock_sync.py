"""Clock sync between a worker and the master, their runners joined back to back in-process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gevent
import pytest
from fake_locust import FakeMaster, FakeWorker, fake_state

from qi_load.generate import clock_sync
from qi_load.generate.clock import RunClock
from qi_load.generate.clock_sync import PINGS_PER_ROUND, note_clock, serve_clock, sync_worker_clock
from qi_load.generate.run_state import QiState
from qi_load.generate.wire import CLOCK_OFFSET_MESSAGE, CLOCK_PING_MESSAGE, ClockReport
from qi_load.record.manifest import Manifest
from qi_load.record.record_gate import RecordGate
from qi_load.record.rundir import RunDir


class _Msg:
    def __init__(self, msg_type: str, data: Any, node_id: str) -> None:
        self.type, self.data, self.node_id = msg_type, data, node_id


class _LinkedMaster(FakeMaster):
    def __init__(self) -> None:
        super().__init__()
        self.workers: dict[str, _LinkedWorker] = {}

    def send_message(self, msg_type: str, data: Any = None, client_id: str | None = None) -> None:
        super().send_message(msg_type, data, client_id)
        worker = self.workers[str(client_id)]
        # Delivered from the network greenlet, as Locust's receive loop would.
        gevent.spawn(worker.handlers[msg_type], environment=None, msg=_Msg(msg_type, data, ""))


class _LinkedWorker(FakeWorker):
    def __init__(self, master: _LinkedMaster, client_id: str) -> None:
        super().__init__(client_id)
        self.master = master
        master.workers[client_id] = self
        master.clients[client_id] = object()

    def send_message(self, msg_type: str, data: Any = None, client_id: str | None = None) -> None:
        super().send_message(msg_type, data, client_id)
        handler = self.master.handlers[msg_type]
        gevent.spawn(handler, environment=None, msg=_Msg(msg_type, data, self.client_id))


@pytest.fixture(autouse=True)
def quick_pings(monkeypatch: pytest.MonkeyPatch) -> None:
    """5 ms between pings, not 50: a round in 40 ms; the gap guards against real pauses."""
    monkeypatch.setattr(clock_sync, "PING_GAP_S", 0.005)


def _cluster(skew_s: float) -> tuple[QiState, QiState, RecordGate]:
    master = _LinkedMaster()
    qi_master = fake_state(master)
    gate = RecordGate(None, master.clients.__contains__)
    serve_clock(qi_master, master, gate)
    worker = _LinkedWorker(master, "w1")
    qi_worker = fake_state(worker)
    qi_worker.clock = RunClock(skew_s=skew_s)
    qi_worker.clock.synced.clear()
    return qi_master, qi_worker, gate


@pytest.mark.parametrize("skew_s", [2.0, -2.0])
def test_a_skewed_worker_measures_its_offset_and_the_master_keeps_it(skew_s: float) -> None:
    qi_master, qi_worker, _gate = _cluster(skew_s)
    assert isinstance(qi_worker.environment.runner, FakeWorker)
    sync_worker_clock(qi_worker, qi_worker.environment.runner)
    try:
        assert qi_worker.clock.synced.wait(2.0)  # from the first answer on
        assert qi_worker.clock.now() == pytest.approx(time.time(), abs=0.02)
        deadline = time.monotonic() + 5.0
        while "w1" not in qi_master.worker_clocks:
            assert time.monotonic() < deadline, "no clock report reached the master"
            gevent.sleep(0.02)
    finally:
        for greenlet in qi_worker.greenlets:
            greenlet.kill()
    report = qi_master.worker_clocks["w1"]
    assert report["offset_ms"] == pytest.approx(-skew_s * 1000.0, abs=20.0)
    assert 0.0 <= report["delay_ms"] < 20.0
    assert report["samples"] == PINGS_PER_ROUND
    pings = [m for m in qi_worker.environment.runner.sent if m[0] == CLOCK_PING_MESSAGE]
    assert len(pings) == PINGS_PER_ROUND


def test_the_master_drops_clock_messages_it_cannot_trust() -> None:
    qi_master, _qi_worker, gate = _cluster(0.0)
    master = qi_master.environment.runner
    assert isinstance(master, FakeMaster)
    on_ping, on_report = master.handlers[CLOCK_PING_MESSAGE], master.handlers[CLOCK_OFFSET_MESSAGE]
    on_ping(environment=None, msg=_Msg(CLOCK_PING_MESSAGE, {"seq": 1, "t1": 1.0}, "stranger"))
    on_ping(environment=None, msg=_Msg(CLOCK_PING_MESSAGE, {"seq": True, "t1": 1.0}, "w1"))
    on_report(environment=None, msg=_Msg(CLOCK_OFFSET_MESSAGE, {"offset_ms": "x"}, "w1"))
    on_report(environment=None, msg=_Msg(CLOCK_OFFSET_MESSAGE, [1, 2], "w1"))
    assert master.sent == [] and qi_master.worker_clocks == {}
    assert gate.drops.as_dict() == {"unknown_sender": 1, "malformed": 3}


def test_the_first_offset_of_a_worker_in_a_test_reaches_run_json(tmp_path: Path) -> None:
    qi = fake_state(FakeMaster())
    qi.active, qi.run_dir = True, RunDir(tmp_path).create()
    qi.run_dir.write_manifest(Manifest())
    qi.workers_seen["w1"] = {"id": "w1", "joined": 1.0, "lost_at": None}
    report = ClockReport(offset_ms=-1999.98765, delay_ms=0.4, samples=8)
    note_clock(qi, "w1", report)
    note_clock(qi, "w2", report)  # not (yet) a worker of this test: kept for the next
    worker = qi.run_dir.read_manifest().workers[0]
    assert worker.clock is not None
    assert (worker.clock.offset_ms, worker.clock.delay_ms, worker.clock.samples) == (
        -1999.988,
        0.4,
        8,
    )
    assert set(qi.worker_clocks) == {"w1", "w2"}


def test_a_stepped_worker_clock_is_measured_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock_sync, "RESYNC_INTERVAL_S", 0.02)
    # No delay is checked here, only the step: rounds of 2 ms gaps (16 ms) prove it as well.
    monkeypatch.setattr(clock_sync, "PING_GAP_S", 0.002)
    qi_master, qi_worker, _gate = _cluster(2.0)
    assert isinstance(qi_worker.environment.runner, FakeWorker)
    sync_worker_clock(qi_worker, qi_worker.environment.runner)
    try:
        deadline = time.monotonic() + 5.0
        while "w1" not in qi_master.worker_clocks:  # reported after a whole round
            assert time.monotonic() < deadline, "no clock report reached the master"
            gevent.sleep(0.005)
        # The step comes between rounds: the next round measures only the stepped clock.
        qi_worker.clock.skew_s = 1.5  # NTP stepped the worker's clock back by half a second
        while qi_master.worker_clocks["w1"]["offset_ms"] != pytest.approx(-1500, abs=20):
            assert time.monotonic() < deadline, qi_master.worker_clocks
            gevent.sleep(0.005)
    finally:
        for greenlet in qi_worker.greenlets:
            greenlet.kill()
    assert qi_worker.clock.now() == pytest.approx(time.time(), abs=0.02)
