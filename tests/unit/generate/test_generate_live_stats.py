"""Live per-type statistics: plain numbers, and equality with the report's numbers from the CSV."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_percentiles import live_view, report_view

from qi_load.generate.live_stats import (
    ALL_TYPES,
    EXACT_MAX,
    LiveStats,
    TypeSummary,
    stage_info,
    summarize,
)
from qi_load.generate.plan import PlannedStage
from qi_load.record.recorder import RunWriter
from qi_load.record.rundir import RunDir
from qi_load.record.schema import RequestRecord


def _record(qt: str, e2e: float | None, *, kind: str = "none", **kw: Any) -> RequestRecord:
    return RequestRecord(
        ts_sched=1.0,
        ts_start=1.0,
        worker="w",
        user_id=1,
        query_type=qt,
        name=qt,
        ok=kind not in ("connect", "timeout", "http", "protocol", "cancelled"),
        error_kind=kind,  # type: ignore[arg-type]
        e2e_ms=e2e,
        **kw,
    )


def _by_type(rows: list[TypeSummary]) -> dict[str, TypeSummary]:
    return {r["query_type"]: r for r in rows}


def test_exact_percentiles_of_plain_numbers() -> None:
    live = LiveStats()
    live.observe([_record("simple", float(v), ttft_ms=v / 10) for v in range(1, 101)])
    simple = _by_type(summarize(live.snapshot()))["simple"]
    e2e = simple["metrics"]["e2e_ms"]
    # numpy's linear interpolation between closest ranks, as the report.
    assert (e2e["n"], e2e["p50"], e2e["p95"], e2e["p99"]) == (100, 50.5, 95.05, 99.01)
    assert e2e["p99_flagged"] is False
    assert simple["metrics"]["ttft_ms"]["p50"] == pytest.approx(5.05)
    assert simple["metrics"]["tpot_ms"] == {
        "n": 0, "p50": None, "p95": None, "p99": None, "p99_flagged": True
    }  # fmt: skip


def test_errors_count_by_kind_and_only_successes_give_latencies() -> None:
    live = LiveStats()
    live.observe(
        [
            _record("simple", 10.0),
            _record("simple", 9000.0, kind="timeout"),
            _record("reasoning", None, kind="connect"),
            _record("reasoning", 20.0),
            _record("reasoning", 30.0),
        ]
    )
    rows = summarize(live.snapshot())
    assert [r["query_type"] for r in rows] == ["simple", "reasoning", ALL_TYPES]
    by = _by_type(rows)
    assert (by["simple"]["requests"], by["simple"]["ok"]) == (2, 1)
    assert by["simple"]["errors"] == {"timeout": 1}
    assert by["simple"]["metrics"]["e2e_ms"]["p99"] == 10.0
    assert by[ALL_TYPES]["errors"] == {"connect": 1, "timeout": 1}
    assert (by[ALL_TYPES]["requests"], by[ALL_TYPES]["ok"]) == (5, 3)
    assert by[ALL_TYPES]["metrics"]["e2e_ms"]["p50"] == 20.0


def test_quality_retries_and_ttfc_per_type() -> None:
    live = LiveStats()
    live.observe(
        [
            _record("simple", 10.0, ttfc_ms=4.0, quality_ok=True),
            _record("simple", 12.0, ttfc_ms=6.0, quality_ok=False, retries=1),
            _record("simple", 14.0, quality_ok=None),  # no content, not checked
            _record("simple", None, kind="connect", retries=1),
            _record("reasoning", 30.0, ttfc_ms=20.0, quality_ok=True),
        ]
    )
    by = _by_type(summarize(live.snapshot()))
    simple = by["simple"]
    assert (simple["quality_checked"], simple["quality_passed"], simple["retries"]) == (2, 1, 2)
    assert (simple["metrics"]["ttfc_ms"]["n"], simple["metrics"]["ttfc_ms"]["p50"]) == (2, 5.0)
    assert (by[ALL_TYPES]["quality_checked"], by[ALL_TYPES]["quality_passed"]) == (3, 2)
    assert by[ALL_TYPES]["retries"] == 2
    assert by[ALL_TYPES]["metrics"]["ttfc_ms"]["n"] == 3


def test_values_are_kept_as_the_csv_writes_them() -> None:
    live = LiveStats()
    live.observe([_record("simple", 1.234567891)])
    assert _by_type(summarize(live.snapshot()))["simple"]["metrics"]["e2e_ms"]["p50"] == 1.2346


def test_reset_forgets_and_a_snapshot_does_not_block_new_records() -> None:
    live = LiveStats()
    live.observe([_record("simple", 1.0)])
    snapshot = live.snapshot()
    version = live.version
    live.observe([_record("simple", 2.0)])  # the arrays grow while a snapshot is alive
    assert live.version > version
    assert snapshot.values["simple"]["e2e_ms"].tolist() == [1.0]
    live.reset()
    assert summarize(live.snapshot()) == [
        {
            "query_type": ALL_TYPES,
            "requests": 0,
            "ok": 0,
            "errors": {},
            "retries": 0,
            "quality_checked": 0,
            "quality_passed": 0,
            "metrics": summarize(LiveStats().snapshot())[0]["metrics"],
        }
    ]
    assert summarize(live.snapshot())[0]["metrics"]["e2e_ms"]["n"] == 0


def test_stage_info_position_users_and_time_left() -> None:
    plan = [
        PlannedStage(index=0, name="warmup", users=2, start_s=0, ramp_end_s=2, end_s=10),
        PlannedStage(index=1, name="high", users=6, start_s=10, ramp_end_s=14, end_s=30,
                     start_users=2),
    ]  # fmt: skip
    assert stage_info(plan, plan, 12.0) == {
        "name": "high", "index": 1, "of": 1, "users": 4, "stage_left_s": 18.0,
        "plan_left_s": 18.0,
    }  # fmt: skip
    assert stage_info(plan, plan, 5.0) == {
        "name": "warmup", "index": 0, "of": 1, "users": 2, "stage_left_s": 5.0,
        "plan_left_s": 25.0,
    }  # fmt: skip
    assert stage_info(plan, plan, 30.0) is None
    assert stage_info([], [], 1.0) is None


def test_a_searchs_steps_are_its_stage_and_its_budget_is_the_plans_end() -> None:
    planned = [
        PlannedStage(index=0, name="one", users=2, start_s=0, ramp_end_s=0, end_s=10),
        PlannedStage(index=1, name="search", users=8, start_s=10, ramp_end_s=10, end_s=70),
    ]
    steps = [
        PlannedStage(index=1, name="search-1", users=4, start_s=10, ramp_end_s=10, end_s=20),
        PlannedStage(index=2, name="search-2", users=8, start_s=20, ramp_end_s=20, end_s=30),
    ]
    assert stage_info([planned[0], *steps], planned, 25.0) == {
        "name": "search-2", "index": 2, "of": 2, "users": 8, "stage_left_s": 5.0,
        "plan_left_s": 45.0,
    }  # fmt: skip


_ms = st.one_of(st.none(), st.floats(0.0, 1e5, allow_nan=False))
_records = st.lists(
    st.builds(
        lambda qt, kind, e2e, ttft, tpot, itl, ttfc, quality, retries: _record(
            qt,
            e2e,
            kind=kind,
            ttft_ms=ttft,
            tpot_ms=tpot,
            itl_p50_ms=itl,
            ttfc_ms=ttfc,
            quality_ok=quality,
            retries=retries,
        ),
        st.sampled_from(["simple", "reasoning", "multi_tool"]),
        st.sampled_from(["none", "none", "none", "timeout", "http", "cancelled"]),
        _ms,
        _ms,
        _ms,
        _ms,
        _ms,
        st.sampled_from([None, True, False]),
        st.sampled_from([0, 0, 1]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=20, deadline=None)
@given(_records)
def test_equals_the_report_computed_from_requests_csv(records: list[RequestRecord]) -> None:
    live = LiveStats()
    with tempfile.TemporaryDirectory() as tmp:
        writer = RunWriter(RunDir(Path(tmp)))
        for start in range(0, len(records), 7):  # batches, as the plugin writes them
            batch = records[start : start + 7]
            writer.write_records(batch)
            # As the plugin hands them over: cancelled requests never finished, and neither
            # the live view nor the report counts them.
            live.observe([r for r in batch if r.error_kind != "cancelled"])
        writer.close()
        expected = report_view(Path(tmp))
    got = live_view(summarize(live.snapshot()))
    assert got == expected


def test_memory_stays_bounded_past_the_exact_limit_and_percentiles_stay_close() -> None:
    live = LiveStats()
    values = [float(v % 1000 + 1) for v in range(EXACT_MAX * 2 + 500)]
    # 1000 distinct records, each observed ~40 times: building 40,500 was half the test.
    distinct = [_record("simple", float(v + 1)) for v in range(1000)]
    live.observe([distinct[v % 1000] for v in range(len(values))])
    snapshot = live.snapshot()
    assert snapshot.values["simple"]["e2e_ms"].size == 500  # the rest is in buckets
    assert int(snapshot.counts["simple"]["e2e_ms"].sum()) == EXACT_MAX * 2
    for row in (_by_type(summarize(snapshot))[t] for t in ("simple", ALL_TYPES)):
        e2e = row["metrics"]["e2e_ms"]
        assert e2e["n"] == len(values)
        exact = np.percentile(values, [50, 95, 99])
        for got, want in zip((e2e["p50"], e2e["p95"], e2e["p99"]), exact, strict=True):
            assert got == pytest.approx(want, rel=0.006)
    live.reset()
    assert live.snapshot().counts == {}
