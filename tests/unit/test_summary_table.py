"""The end-of-run table computes per-stage numbers from plain rows."""

from __future__ import annotations

from qi_load.summary_table import format_table, stage_rows, window_warnings

STAGES = [
    {"name": "1u", "users": 1, "start": 0.0, "end": 10.0},
    {"name": "5u", "users": 5, "start": 10.0, "end": 20.0},
]


def _row(stage: str, ok: bool, e2e: float, start: float = 1.0, kind: str = "") -> dict[str, str]:
    return {
        "stage": stage,
        "ok": "true" if ok else "false",
        "error_kind": kind or ("none" if ok else "http"),
        "ts_start": str(start),
        "ttft_ms": "100",
        "e2e_ms": str(e2e),
    }


def test_stage_rows_count_and_percentiles() -> None:
    rows = [_row("1u", True, float(v)) for v in range(1, 21)] + [_row("5u", False, 5.0, 11.0)]
    first, second = stage_rows(rows, STAGES)
    assert (first.started, first.errors, first.req_per_s) == (20, 0, 2.0)
    assert first.e2e_p50_ms == 10.0
    assert first.e2e_p95_ms == 19.0
    assert (second.started, second.errors, second.e2e_p95_ms) == (1, 1, None)


def test_cancelled_requests_count_as_started_not_as_errors() -> None:
    rows = [_row("5u", True, 50.0, 12.0)] * 3 + [_row("5u", False, 900.0, 19.5, "cancelled")] * 2
    row = stage_rows(rows, STAGES)[1]
    assert (row.started, row.cancelled, row.errors) == (5, 2, 0)
    assert row.e2e_p95_ms == 50.0
    assert row.in_window == 3


def test_a_window_with_too_few_finished_requests_is_warned_about() -> None:
    rows = [_row("1u", True, 10.0, 2.0 + i * 0.2) for i in range(25)]
    rows += [_row("5u", False, 100.0, 19.0, "cancelled")] * 30
    first, second = stage_rows(rows, STAGES, settle_s=1.0)
    assert first.in_window == 25 and second.in_window == 0
    warnings = window_warnings([first, second])
    assert len(warnings) == 1 and warnings[0].startswith("stage 5u: only 0 requests")


def test_format_table_has_a_line_per_stage() -> None:
    table = format_table(stage_rows([], STAGES))
    assert len(table.splitlines()) == 3
    assert "E2E p95" in table.splitlines()[0]


def test_wrong_answers_count_for_latency_and_show_as_quality() -> None:
    rows = [
        {**_row("1u", True, float(v)), "quality_ok": "false" if v <= 15 else "true"}
        for v in range(1, 21)
    ] + [{**_row("5u", True, 7.0), "quality_ok": ""}]
    first, second = stage_rows(rows, STAGES)
    assert (first.started, first.errors, first.req_per_s) == (20, 0, 2.0)
    assert first.e2e_p95_ms == 19.0
    assert (first.quality_checked, first.quality_passed) == (20, 5)
    assert (second.quality_checked, second.req_per_s) == (0, 0.1)
    lines = format_table([first, second]).splitlines()
    assert lines[0].split()[-1] == "quality"
    assert lines[1].split()[-1] == "25%"
    assert lines[2].split()[-1] == "-"
