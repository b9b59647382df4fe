"""The pure parts of benchmarks/soak_self.py: growth after warm-up, per process and side."""

from __future__ import annotations

import math
from types import ModuleType

import pytest
from benchmark_script import load_benchmark


@pytest.fixture(scope="module")
def soak() -> ModuleType:
    return load_benchmark("soak_self")


def test_growth_is_end_median_minus_start_median_inside_the_window(soak: ModuleType) -> None:
    ts = [float(t) for t in range(0, 700, 5)]
    # warm-up climbs to 100 by t=100, then 2 per 100 s; one GC blip at t=300
    values = [min(t, 100.0) + max(t - 100.0, 0.0) * 0.02 for t in ts]
    values[ts.index(300.0)] += 50.0
    g = soak.growth(ts, values, 100.0, 600.0, 50.0)
    assert g.n == 101
    assert g.start == pytest.approx(100.45) and g.end == pytest.approx(109.55)
    assert g.delta == pytest.approx(9.1)
    assert g.slope_per_h == pytest.approx(72.0)  # 0.02/s, robust to the blip
    assert g.slope_low <= 72.0 <= g.slope_high and g.peak == pytest.approx(154.0)
    assert soak.growth(ts, values, 800.0, 900.0, 50.0) is None


def test_the_table_puts_each_process_on_its_side(soak: ModuleType) -> None:
    ts = [float(t) for t in range(0, 100, 5)]
    flat = [80e6] * len(ts)
    series = {
        ("worker", 2): {"ts": ts, "rss_bytes": flat, "num_fds": [40.0] * len(ts),
                        "num_threads": [5.0] * len(ts), "greenlets": [34.0] * len(ts)},
        ("target", 1): {"ts": ts, "rss_bytes": [80e6 + 1e5 * t for t in ts],
                        "num_fds": [9.0] * len(ts), "num_threads": [1.0] * len(ts),
                        "greenlets": [math.nan] * len(ts)},
    }  # fmt: skip
    rows = {r["role"]: r for r in soak.process_table(series, 0.0, 95.0, 20.0)}
    assert rows["worker"]["side"] == "qi-load" and rows["target"]["side"] == "agent"
    assert rows["worker"]["rss_bytes"]["delta"] == 0.0
    assert rows["worker"]["greenlets"]["end"] == 34.0
    assert rows["target"]["rss_bytes"]["delta"] == pytest.approx(8.0)  # MB over 80 s
    assert rows["target"]["greenlets"] is None  # not a Locust process: never counted
