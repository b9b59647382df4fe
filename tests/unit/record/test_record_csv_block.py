"""A batch's requests.csv text is what csv.writer writes row by row, quoting included."""

from __future__ import annotations

import csv
import io

from qi_load.record.csv_block import request_rows_text
from qi_load.record.schema import RequestRecord


def _record(i: int, **changes: object) -> RequestRecord:
    record = RequestRecord(
        ts_sched=1_800_000_000.123456 + i,
        ts_start=1_800_000_000.5 + i,
        worker="w1",
        user_id=i,
        query_type="simple",
        name="simple",
        ttft_ms=1 / 3,
        e2e_ms=-0.00004,
        output_tokens=7,
        quality_ok=True,
    )
    for key, value in changes.items():
        setattr(record, key, value)
    return record


def _csv_writer(records: list[RequestRecord]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(record.to_row() for record in records)
    return out.getvalue()


def test_the_text_is_csv_writers() -> None:
    records = [
        _record(1),
        _record(2, ok=False, ttft_ms=None, output_tokens=None, quality_ok=None),
        _record(3, name="a,b", conversation_id='say "hi"', stage="line\nbreak", trace_id="\r"),
        _record(4, name=" lead", worker="", quality_ok=False, srv_tool_ms=1e12),
    ]
    assert request_rows_text(records) == _csv_writer(records)
    assert request_rows_text(records[:1]) == _csv_writer(records[:1])
    assert request_rows_text([]) == ""


def test_a_column_of_nothing_but_none() -> None:
    records = [_record(i, ttft_ms=None, quality_ok=None) for i in range(3)]
    assert request_rows_text(records) == _csv_writer(records)
