"""The pure parts of benchmarks/master_ingest.py: following requests.csv, judging a step."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from benchmark_script import load_benchmark


@pytest.fixture(scope="module")
def ingest() -> ModuleType:
    return load_benchmark("master_ingest")


def test_the_tail_counts_rows_and_reads_the_newest(ingest: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    tail = ingest.Tail(path)
    tail.read()  # not there yet
    path.write_bytes(b"ts_sched,ts_start,worker\r\n1.0,10.5,w")
    tail.read()
    assert (tail.rows, tail.newest) == (0, None)  # the header; a row without its line end
    with path.open("ab") as handle:
        handle.write(b"\r\n2.0,11.25,w\r\n")
    tail.read()
    assert (tail.rows, tail.newest) == (2, 11.25)


def _probes(m: ModuleType, lags: list[float], rows_per_s: int, cpu_per_s: float) -> list[object]:
    return [
        m.Probe(
            wall=100.0 + t,
            master_cpu_s=cpu_per_s * t,
            workers_cpu_s=0.0,
            host_busy_s=2.0 * t,
            rows=rows_per_s * t,
            lag_s=lag,
        )
        for t, lag in enumerate(lags)
    ]


def test_a_step_kept_up_with(ingest: ModuleType) -> None:
    probes = _probes(ingest, [1.0, 0.5, 1.2, 0.6, 1.1], 1000, 0.02)
    step = ingest.judge_step("r1000", probes, 100.0, 104.0, 4000, 2, 3.0)
    assert step.kept_up
    assert step.written == pytest.approx(1000)
    assert step.per_cpu_s == pytest.approx(50_000)
    assert step.master_cpu_pct == pytest.approx(2.0)
    assert step.host_cpu_pct == pytest.approx(100.0)


def test_a_growing_lag_is_falling_behind(ingest: ModuleType) -> None:
    probes = _probes(ingest, [1.0, 1.5, 2.0, 2.5, 2.9], 1000, 1.0)
    step = ingest.judge_step("r1000", probes, 100.0, 104.0, 4000, 2, 3.0)
    assert not step.kept_up
    assert step.lag_growth == pytest.approx(0.48)
    assert ingest.judge_step("r1", probes[:1], 100.0, 104.0, 4, 2, 3.0) is None


def test_capacity_counts_only_backlogged_intervals(ingest: ModuleType) -> None:
    probes = _probes(ingest, [1.0, 4.0, 5.0, 6.0], 1000, 0.5)
    assert ingest.backlog_per_cpu_s(probes, 3.0) == (pytest.approx(2000), pytest.approx(2.0))
    assert ingest.backlog_per_cpu_s(probes[:2], 3.0) == (0.0, 0.0)
