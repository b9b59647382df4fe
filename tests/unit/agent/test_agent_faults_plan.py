"""Fault draws follow their rates; the leak and the bounded cache really grow the resident set."""

from __future__ import annotations

import random
from collections import Counter

import psutil

from qi_load.agent.config import build_config
from qi_load.agent.faults import BoundedCache, FaultPlanner, Leak
from qi_load.units import MB


def test_rates_are_respected_and_explicit_faults_win() -> None:
    config = build_config({"error_rate": 0.2, "drop_rate": 0.25, "spike_rate": 0.1})
    planner = FaultPlanner(config, random.Random(1))
    draws = [planner.draw(None) for _ in range(20_000)]
    kinds = Counter(draw.kind for draw in draws)
    assert abs(kinds["http_500"] / 20_000 - 0.2) < 0.015
    # A drop is drawn only when no error was: 0.8 * 0.25 = 0.2.
    assert abs(kinds["reset"] / 20_000 - 0.2) < 0.015
    assert abs(sum(1 for d in draws if d.spike_ms) / 20_000 - 0.1) < 0.015
    assert {d.spike_ms for d in draws} == {0.0, 1000.0}
    assert planner.draw("stall").kind == "stall"


def test_no_rates_no_faults() -> None:
    planner = FaultPlanner(build_config({}), random.Random(1))
    assert all(planner.draw(None).kind is None for _ in range(1000))


def test_leak_touches_its_pages() -> None:
    seen: list[int] = []
    leak = Leak(60.0, seen.append)
    before = psutil.Process().memory_info().rss
    leak.grow(32 * MB)
    grown = psutil.Process().memory_info().rss - before
    assert leak.retained == seen[-1] == 32 * MB
    assert grown > 28 * MB


def test_bounded_cache_grows_per_request_then_stays_flat() -> None:
    seen: list[int] = []
    cache = BoundedCache(2.2, seen.append)
    for _ in range(10):
        cache.add()
    # 0.5 MB per request up to 2.2 MB: four whole entries and a last one of 0.2 MB.
    assert seen == [500_000, 1_000_000, 1_500_000, 2_000_000, 2_200_000]
    assert cache.retained == 2_200_000 == 2.2 * MB
