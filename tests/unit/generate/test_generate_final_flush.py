"""The plan-end flush: each worker sends its records, then answers; the master waits for
every connected worker's answer, and not for a worker that left or never answers."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import gevent
from fake_locust import FakeMaster, FakeWorker, fake_state

from qi_load.generate.final_flush import flush_workers, serve_flush, track_flushes
from qi_load.generate.wire import FLUSH_MESSAGE, FLUSHED_MESSAGE


class _Master(FakeMaster):
    """Delivers each message to the worker it names, as a network greenlet would."""

    def __init__(self) -> None:
        super().__init__()
        self.workers: dict[str, FakeWorker] = {}

    def send_message(self, msg_type: str, data: Any = None, client_id: str | None = None) -> None:
        super().send_message(msg_type, data, client_id)
        worker = self.workers[str(client_id)]
        if msg_type in worker.handlers:
            msg = SimpleNamespace(type=msg_type, data=data, node_id="master")
            gevent.spawn(worker.handlers[msg_type], environment=None, msg=msg)


class _Worker(FakeWorker):
    """Answers the master in order, after the stats report it sent first."""

    def __init__(self, master: _Master, client_id: str, order: list[str]) -> None:
        super().__init__(client_id)
        self.master, self.order = master, order
        master.workers[client_id] = self
        master.clients[client_id] = object()

    def _send_stats(self) -> None:
        super()._send_stats()
        self.order.append(f"{self.client_id}:stats")

    def send_message(self, msg_type: str, data: Any = None, client_id: str | None = None) -> None:
        super().send_message(msg_type, data, client_id)
        self.order.append(f"{self.client_id}:{msg_type}")
        msg = SimpleNamespace(type=msg_type, data=data, node_id=self.client_id)
        gevent.spawn(self.master.handlers[msg_type], environment=None, msg=msg)


def _cluster(workers: int) -> tuple[Any, _Master, list[_Worker], list[str]]:
    master, order = _Master(), []
    qi = fake_state(master)
    track_flushes(qi, master)
    linked = [_Worker(master, f"w{i}", order) for i in range(workers)]
    for worker in linked:
        serve_flush(worker)
    return qi, master, linked, order


def test_every_worker_sends_its_records_before_it_answers() -> None:
    qi, master, workers, order = _cluster(2)
    assert flush_workers(qi, master, timeout_s=2.0) == set()
    assert qi.flushed == {"w0", "w1"}
    for worker in workers:
        assert worker.stats_sent == 1
        mine = [event for event in order if event.startswith(f"{worker.client_id}:")]
        assert mine == [f"{worker.client_id}:stats", f"{worker.client_id}:{FLUSHED_MESSAGE}"]
    assert sorted(m[2] or "" for m in master.sent if m[0] == FLUSH_MESSAGE) == ["w0", "w1"]


def test_a_silent_worker_costs_the_timeout_and_is_named() -> None:
    qi, master, workers, _order = _cluster(2)
    del workers[1].handlers[FLUSH_MESSAGE]  # stuck: never answers
    started = time.monotonic()
    assert flush_workers(qi, master, timeout_s=0.3) == {"w1"}
    assert time.monotonic() - started >= 0.3


def test_a_worker_that_leaves_is_not_waited_for() -> None:
    qi, master, workers, _order = _cluster(2)
    del workers[1].handlers[FLUSH_MESSAGE]
    gevent.spawn_later(0.1, master.clients.pop, "w1")
    started = time.monotonic()
    assert flush_workers(qi, master, timeout_s=5.0) == set()
    assert time.monotonic() - started < 2.0


def test_answers_from_unknown_senders_are_ignored() -> None:
    qi, master, _workers, _order = _cluster(1)
    msg = SimpleNamespace(type=FLUSHED_MESSAGE, data=None, node_id="rogue")
    master.handlers[FLUSHED_MESSAGE](environment=None, msg=msg)
    assert qi.flushed == set()
