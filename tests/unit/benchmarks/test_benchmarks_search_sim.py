"""The capacity search against benchmarks/search_sim.py's exactly simulated queue: the real
driver finds the known capacity, and the queue itself behaves as its model says."""

from __future__ import annotations

import random
from types import ModuleType

import pytest
import yaml
from benchmark_script import load_benchmark

from qi_load.scenario import Scenario


@pytest.fixture(scope="module")
def sim() -> ModuleType:
    return load_benchmark("search_sim")


def test_an_idle_queue_never_waits(sim: ModuleType) -> None:
    setup = sim.Setup()
    queue = sim.Queue(setup, random.Random(1), open_loop=True)
    queue.set_load(0.0, 2.0)  # 2 req/s against 4 slots of 125 ms: a wait is rare
    records = queue.run_until(60.0)
    assert 80 < len(records) < 160
    assert min(r.ttft_ms for r in records) == pytest.approx(setup.ttft_ms)
    assert all(r.e2e_ms - r.ttft_ms == pytest.approx(100.0) for r in records)


def test_the_closed_loop_search_finds_the_known_capacity(sim: ModuleType) -> None:
    setup = sim.Setup()
    raw = yaml.safe_load(sim.scenario_yaml(setup, "closed"))
    scenario = Scenario.model_validate(raw)
    for seed in (1, 2):
        result = sim.simulate(scenario, setup, seed)
        assert result["finished"] == "converged"
        assert result["capacity"] in (15.0, 16.0)  # true: 15 users
        low, high = result["interval_low"], result["interval_high"]
        assert (low is None or low <= 15) and (high is None or high > 15)
