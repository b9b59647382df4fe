"""Record shipping round-trips and the master's run-directory writer."""

from __future__ import annotations

import csv
from pathlib import Path

import msgpack

from qi_load.record.record_gate import RecordGate
from qi_load.record.recorder import (
    RecordBuffer,
    RunWriter,
    serialize_records,
)
from qi_load.record.rundir import RunDir, new_run_id
from qi_load.record.schema import (
    HOST_SAMPLE_COLUMNS,
    REQUEST_COLUMNS,
    HostSample,
    RequestRecord,
    host_sample_from_row,
    parse_row,
)


def _record(i: int, **changes: object) -> RequestRecord:
    record = RequestRecord(
        ts_sched=1_700_000_000.0 + i,
        ts_start=1_700_000_000.0 + i,
        worker="w1",
        user_id=i,
        query_type="simple",
        name="simple",
        stage="1u",
        users=1,
        ttft_ms=150.25,
        e2e_ms=530.5,
        output_tokens=20,
        tokens_source="usage",
        quality_ok=True,
    )
    for key, value in changes.items():
        setattr(record, key, value)
    return record


def test_wire_round_trip_is_lossless() -> None:
    records = [_record(1), _record(2, ok=False, error_kind="timeout", ttft_ms=None)]
    payload = msgpack.unpackb(msgpack.packb(serialize_records("w1", records)))  # Locust's
    assert RecordGate(None, known=lambda _: True).accept("w1", payload) == records


def test_buffer_drains_once() -> None:
    buffer = RecordBuffer()
    buffer.add(_record(1))
    buffer.add(_record(2))
    assert len(buffer) == 2
    assert [r.user_id for r in buffer.drain()] == [1, 2]
    assert buffer.drain() == []


def test_writer_appends_parsable_rows(tmp_path: Path) -> None:
    writer = RunWriter(RunDir(tmp_path / "run"))
    records = [_record(i) for i in range(5)] + [_record(9, quality_ok=None, e2e_ms=None)]
    records[1].ttfc_ms, records[1].retries = 310.5, 1
    writer.write_records(records)
    sample = HostSample(ts=1.5, host="h", role="target", pid=42, cpu_percent=12.5, rss_bytes=10)
    writer.write_host_samples([sample])
    assert writer.request_count == 6
    assert writer.host_sample_count == 1
    writer.close()
    with (tmp_path / "run" / "requests.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == REQUEST_COLUMNS
        parsed = [parse_row(RequestRecord, row) for row in reader]
    assert parsed == records
    with (tmp_path / "run" / "host_samples.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == HOST_SAMPLE_COLUMNS
        assert [host_sample_from_row(row) for row in reader] == [sample]


def test_rows_of_older_runs_without_ttfc_and_retries_parse(tmp_path: Path) -> None:
    writer = RunWriter(RunDir(tmp_path / "run"))
    writer.write_records([_record(1)])
    writer.close()
    with (tmp_path / "run" / "requests.csv").open(newline="") as handle:
        row = next(csv.DictReader(handle))
    del row["ttfc_ms"], row["retries"]
    assert parse_row(RequestRecord, row) == _record(1)


def test_reopened_writer_does_not_repeat_the_header(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path)
    first = RunWriter(run_dir)
    first.write_records([_record(1)])
    first.close()
    second = RunWriter(run_dir)
    second.write_records([_record(2)])
    second.close()
    lines = (tmp_path / "requests.csv").read_text().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("ts_sched,")


def test_manifest_updates_merge(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path)
    run_dir.update_manifest(status="running", run_id="x")
    merged = run_dir.update_manifest(status="complete")
    assert (merged.status, merged.run_id) == ("complete", "x")
    assert run_dir.read_manifest() == merged


def test_run_id_is_filesystem_safe() -> None:
    run_id = new_run_id("quick ladder/2", now=0.0)
    assert "/" not in run_id and " " not in run_id
    assert run_id.endswith("quick-ladder-2")
