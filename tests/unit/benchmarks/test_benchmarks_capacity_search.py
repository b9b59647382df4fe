"""The queueing maths of benchmarks/capacity_search.py: the true capacities it judges against."""

from __future__ import annotations

from types import ModuleType

import pytest
from benchmark_script import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("capacity_search")


def test_service_time_and_littles_law_bound(bench: ModuleType) -> None:
    setup = bench.Setup()
    assert setup.service_s == pytest.approx(0.125)  # 25 ms + 20 gaps of 5 ms
    assert setup.max_rate == pytest.approx(32.0)  # 4 slots / 0.125 s
    # 4 (S + Z + L - TTFT) / S = 4 (0.125 + 0.3125 + 0.1725) / 0.125
    assert setup.littles_law_users() == pytest.approx(19.52)


def test_no_wait_while_the_slots_suffice(bench: ModuleType) -> None:
    setup = bench.Setup()
    assert bench.closed_wait_p95(setup.slots, setup, n=2000) == 0.0
    assert bench.open_wait_p95(0.01, setup.slots, setup.service_s, n=2000) == 0.0


def test_waits_grow_with_the_load(bench: ModuleType) -> None:
    setup = bench.Setup()
    # 5,000 requests a point (the seed is fixed): the p95s lie a factor of two or more apart
    # and 25 % or more from each bound, as at 20,000, which took four times as long.
    closed = [bench.closed_wait_p95(n, setup, n=5_000) for n in (10, 16, 24)]
    assert closed == sorted(closed)
    # Past saturation the mean wait is N S / 4 - S - Z (Little's law); the p95 lies above it.
    mean_wait_24 = 24 * setup.service_s / setup.slots - setup.service_s - setup.think_mean_s
    assert closed[-1] > mean_wait_24 > 0
    rates = [bench.open_wait_p95(r, 4, 0.5, n=5_000) for r in (4.0, 6.0, 7.5)]
    assert rates == sorted(rates) and rates[0] < 0.3 < rates[-1]
