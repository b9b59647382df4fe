"""The rate sweep's pure parts: rates between the two throughputs, live throughput counting."""

from __future__ import annotations

import pytest

from qi_load.generate.sweep import Throughput, sweep_rates
from qi_load.record.schema import RequestRecord


def test_rates_lie_evenly_strictly_between() -> None:
    assert sweep_rates(2.0, 10.0, 3) == [4.0, 6.0, 8.0]
    assert sweep_rates(5.0, 5.0, 2) == [5.0, 5.0]


def _record(start: float, e2e_ms: float, kind: str = "none") -> RequestRecord:
    return RequestRecord(ts_sched=start, ts_start=start, worker="w", user_id=1,
                         query_type="simple", name="simple", ok=kind == "none",
                         error_kind=kind, e2e_ms=e2e_ms)  # type: ignore[arg-type]  # fmt: skip


def test_throughput_counts_requests_that_ended_in_the_window() -> None:
    meter = Throughput()
    meter.restart(100.0)
    assert meter.rate() is None
    meter.observe([
        _record(99.0, 500.0),  # ended before the window
        _record(99.5, 1000.0),  # ends at 100.5
        _record(101.0, 0.0),
        _record(101.0, 500.0, kind="http"),  # a failure finished too: 101.5
        _record(101.0, 100.0, kind="cancelled"),  # never finished
        _record(102.0, 500.0),  # 102.5
    ])  # fmt: skip
    # Four ends from 100.5 to 102.5: three gaps in two seconds.
    assert meter.rate() == pytest.approx(3 / 2.0)
