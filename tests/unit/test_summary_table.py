"""The end-of-run table computes per-stage numbers from plain rows."""

from __future__ import annotations

from qi_load.summary_table import format_table, stage_rows

STAGES = [
    {"name": "1u", "users": 1, "start": 0.0, "end": 10.0},
    {"name": "5u", "users": 5, "start": 10.0, "end": 20.0},
]


def _row(stage: str, ok: bool, e2e: float) -> dict[str, str]:
    return {"stage": stage, "ok": "true" if ok else "false", "ttft_ms": "100", "e2e_ms": str(e2e)}


def test_stage_rows_count_and_percentiles() -> None:
    rows = [_row("1u", True, float(v)) for v in range(1, 21)] + [_row("5u", False, 5.0)]
    first, second = stage_rows(rows, STAGES)
    assert (first.requests, first.errors, first.req_per_s) == (20, 0, 2.0)
    assert first.e2e_p50_ms == 10.0
    assert first.e2e_p95_ms == 19.0
    assert (second.requests, second.errors, second.e2e_p95_ms) == (1, 1, None)


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
    assert (first.requests, first.errors, first.req_per_s) == (20, 0, 2.0)
    assert first.e2e_p95_ms == 19.0
    assert (first.quality_checked, first.quality_passed) == (20, 5)
    assert (second.quality_checked, second.req_per_s) == (0, 0.1)
    lines = format_table([first, second]).splitlines()
    assert lines[0].split()[-1] == "quality"
    assert lines[1].split()[-1] == "25%"
    assert lines[2].split()[-1] == "-"
