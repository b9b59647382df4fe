"""Remote host samples: distinct series capped, samples per series and second capped."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from qi_load.monitor.sample_gate import IngestLimits, SampleGate, worker_samples
from qi_load.record.schema import HostSample


def _sample(pid: int, host: str = "h") -> HostSample:
    return HostSample(ts=1.0, host=host, role="sut", pid=pid, cpu_percent=1.0, rss_bytes=1)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_series_beyond_the_cap_are_dropped_and_counted() -> None:
    gate = SampleGate(IngestLimits(max_series=3), clock=Clock())
    admitted = gate.admit([_sample(pid) for pid in range(10)])
    assert [s.pid for s in admitted] == [0, 1, 2]
    assert gate.admit([_sample(1)]) == [_sample(1)]  # a known series keeps its place
    assert gate.drops.as_dict() == {"series_cap": 7}
    gate.reset()
    assert gate.admit([_sample(9)]) == [_sample(9)] and gate.drops.as_dict() == {}


def test_samples_per_series_and_second_are_capped() -> None:
    clock = Clock()
    gate = SampleGate(IngestLimits(max_samples_per_series_per_s=2), clock=clock)
    assert len(gate.admit([_sample(1)] * 5 + [_sample(2)])) == 3
    clock.now = 0.9
    assert gate.admit([_sample(1)]) == []
    clock.now = 1.0
    assert len(gate.admit([_sample(1)] * 3)) == 2
    assert gate.drops.as_dict() == {"rate": 5}


def test_a_flood_of_bad_messages_logs_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    gate = SampleGate()
    with caplog.at_level(logging.WARNING):
        for _ in range(1000):
            gate.admit_wire([{"pid": "x"}], "w", max_items=10)
    assert gate.drops.as_dict() == {"invalid": 1000}
    assert len(caplog.records) == 1 and "dropped 1 host samples (invalid)" in caplog.text


def test_worker_samples_only_from_the_runners_workers() -> None:
    gate = SampleGate()
    runner = SimpleNamespace(clients={"w1": object()})
    wire = [_sample(1).to_wire()]
    msg = SimpleNamespace(node_id="w1", data={"samples": wire})
    assert worker_samples(gate, runner, msg, 10) == [_sample(1)]
    rogue = SimpleNamespace(node_id="rogue", data={"samples": wire})
    assert worker_samples(gate, runner, rogue, 10) == []
    too_many = SimpleNamespace(node_id="w1", data={"samples": wire * 11})
    assert worker_samples(gate, runner, too_many, 10) == []
    assert worker_samples(gate, runner, SimpleNamespace(node_id="w1", data=[1]), 10) == []
    assert gate.drops.as_dict() == {"malformed": 2, "unknown_sender": 1}
