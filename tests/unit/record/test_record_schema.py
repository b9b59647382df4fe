"""The field tables are the one definition of each record: CSV header, reader, wire, docs.

Adding a column to a record is one change (a field with its ``Column``); these tests fail
when any reader or list of columns does not follow it.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from qi_load.analyze.load import (
    HOST_COLUMNS_REQUIRED,
    REQUEST_COLUMNS_REQUIRED,
    load_run,
    read_dtypes,
)
from qi_load.record.recorder import RunWriter
from qi_load.record.rundir import RunDir
from qi_load.record.schema import (
    HOST_SAMPLE_COLUMNS,
    HOST_SAMPLE_TABLE,
    REQUEST_COLUMNS,
    REQUEST_TABLE,
    STAGE_MARK_TABLE,
    Field,
    HostSample,
    RequestRecord,
    StageMark,
    StageMarkDict,
    parse_row,
)
from qi_load.record.wire_check import checked_host_sample, checked_record

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _record() -> RequestRecord:
    return RequestRecord(
        ts_sched=1_800_000_000.0,
        ts_start=1_800_000_000.5,
        worker="w1",
        user_id=3,
        query_type="simple",
        name="simple",
        e2e_ms=120.5,
        quality_ok=False,
        ttfc_ms=40.25,
        retries=1,
    )


def _sample() -> HostSample:
    return HostSample(
        ts=1_800_000_000.0, host="h", role="target", pid=7, cpu_percent=3.5, rss_bytes=1000
    )


def _markdown_rows(path: Path, heading: str) -> list[tuple[str, str, str]]:
    """The ``| column | unit | meaning |`` rows of the table after ``heading``."""
    text = path.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        match = re.fullmatch(r"\| `([a-z_0-9]+)` \| (.*?) \| (.*) \|", line)
        if match:
            rows.append((match[1], match[2], match[3]))
    return rows


def _expected_rows(table: tuple[Field, ...]) -> list[tuple[str, str, str]]:
    return [(f.name, f.column.unit, f.column.doc) for f in table if f.column.csv]


def _as_markdown(rows: list[tuple[str, str, str]]) -> str:
    lines = ["| column | unit | meaning |", "| --- | --- | --- |"]
    return "\n".join(lines + [f"| `{n}` | {u} | {d} |" for n, u, d in rows])


@pytest.mark.parametrize(
    ("doc", "heading", "table"),
    [
        ("run-directory.md", "## `requests.csv`", REQUEST_TABLE),
        ("monitoring.md", "## `host_samples.csv` columns", HOST_SAMPLE_TABLE),
    ],
)
def test_the_docs_list_every_column_of_the_table(
    doc: str, heading: str, table: tuple[Field, ...]
) -> None:
    expected = _expected_rows(table)
    assert _markdown_rows(DOCS / doc, heading) == expected, (
        f"docs/{doc} {heading}: replace the column table with\n{_as_markdown(expected)}"
    )


def test_the_docs_list_the_stage_mark_fields() -> None:
    text = (DOCS / "run-directory.md").read_text(encoding="utf-8")
    listed = re.search(r"\| `stages` \| `\[\{([a-z_, ]+)\}\]`", text)
    assert listed is not None
    assert listed[1].split(", ") == [f.name for f in STAGE_MARK_TABLE]


def test_the_csv_header_is_the_table(tmp_path: Path) -> None:
    writer = RunWriter(RunDir(tmp_path))
    writer.write_records([_record()])
    writer.write_host_samples([_sample()])
    writer.close()
    for name, table, columns in (
        ("requests.csv", REQUEST_TABLE, REQUEST_COLUMNS),
        ("host_samples.csv", HOST_SAMPLE_TABLE, HOST_SAMPLE_COLUMNS),
    ):
        with (tmp_path / name).open(newline="") as handle:
            header = next(csv.reader(handle))
        assert tuple(header) == columns == tuple(f.name for f in table if f.column.csv)


def test_rows_read_back_through_the_table(tmp_path: Path) -> None:
    writer = RunWriter(RunDir(tmp_path))
    writer.write_records([_record()])
    writer.write_host_samples([_sample()])
    writer.close()
    with (tmp_path / "requests.csv").open(newline="") as handle:
        assert [parse_row(RequestRecord, row) for row in csv.DictReader(handle)] == [_record()]
    with (tmp_path / "host_samples.csv").open(newline="") as handle:
        assert [parse_row(HostSample, row) for row in csv.DictReader(handle)] == [_sample()]


def test_the_readers_dtypes_are_the_tables(tmp_path: Path) -> None:
    for table, required in (
        (REQUEST_TABLE, REQUEST_COLUMNS_REQUIRED),
        (HOST_SAMPLE_TABLE, HOST_COLUMNS_REQUIRED),
    ):
        read = [f.name for f in table if f.column.dtype is not None]
        assert set(read) == {*read_dtypes(table, late=False), *read_dtypes(table, late=True)}
        assert required == tuple(n for n in read if not _field(table, n).column.late)
    writer = RunWriter(RunDir(tmp_path))
    writer.write_records([_record()])
    writer.write_host_samples([_sample()])
    writer.close()
    run = load_run(tmp_path)
    for table, frame in ((REQUEST_TABLE, run.requests), (HOST_SAMPLE_TABLE, run.samples)):
        assert {f.name for f in table if f.column.dtype is not None} <= set(frame.columns)


def test_a_file_without_the_late_columns_still_reads(tmp_path: Path) -> None:
    writer = RunWriter(RunDir(tmp_path))
    writer.write_records([_record()])
    writer.close()
    path = tmp_path / "requests.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    early = [f.name for f in REQUEST_TABLE if f.column.csv and not f.column.late]
    with path.open("w", newline="") as handle:
        out = csv.DictWriter(handle, early, extrasaction="ignore")
        out.writeheader()
        out.writerows(rows)
    requests = load_run(tmp_path).requests
    for f in REQUEST_TABLE:
        if f.column.late and f.column.dtype is not None:
            assert f.name in requests.columns
    assert parse_row(RequestRecord, rows[0] | {"ttfc_ms": "", "retries": ""}).retries == 0


def test_the_wire_form_carries_every_field() -> None:
    wire = json.loads(json.dumps(_record().to_wire()))
    assert set(wire) == {f.name for f in REQUEST_TABLE}
    assert checked_record(wire) == RequestRecord.from_wire(wire) == _record()
    sample = json.loads(json.dumps(_sample().to_wire()))
    assert set(sample) == {f.name for f in HOST_SAMPLE_TABLE}
    assert checked_host_sample(sample) == HostSample.from_wire(sample) == _sample()


def test_the_stage_mark_wire_form_is_the_table() -> None:
    mark = StageMark(0, "1u", 1, 10.0, 12.0, 20.0)
    assert list(mark.to_dict()) == [f.name for f in STAGE_MARK_TABLE]
    assert list(StageMarkDict.__annotations__) == [f.name for f in STAGE_MARK_TABLE]


def test_every_field_has_a_unit_or_label_and_a_meaning() -> None:
    for f in (*REQUEST_TABLE, *HOST_SAMPLE_TABLE, *STAGE_MARK_TABLE):
        assert f.column.doc, f.name
        assert f.kind in (float, int, bool, str), f.name
        if f.name.endswith("_ms"):
            assert f.column.unit == "ms", f.name


def test_a_bad_cell_names_its_column() -> None:
    row = {name: "" for name in REQUEST_COLUMNS} | {"ts_sched": "1", "ts_start": "x"}
    with pytest.raises(ValueError, match="column 'ts_start': 'x' is not a float"):
        parse_row(RequestRecord, row)
    with pytest.raises(ValueError, match="column 'ts_sched' is empty"):
        parse_row(RequestRecord, row | {"ts_sched": ""})


def _field(table: tuple[Field, ...], name: str) -> Field:
    return next(f for f in table if f.name == name)
