"""The Parquet store's schema comes from the field table; conversion is whole or nothing."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from qi_load.errors import QiLoadError
from qi_load.record.columnar import (
    arrow_schema,
    csv_to_parquet,
    parquet_source_bytes,
    request_schema,
)
from qi_load.record.rundir import RunDir
from qi_load.record.schema import (
    HOST_SAMPLE_COLUMNS,
    HOST_SAMPLE_TABLE,
    REQUEST_COLUMNS,
    RequestRecord,
)


def _record(**fields: object) -> RequestRecord:
    base: dict[str, object] = {
        "ts_sched": 1.0,
        "ts_start": 1.0,
        "worker": "local",
        "user_id": 3,
        "query_type": "simple",
        "name": "simple",
    }
    return RequestRecord(**{**base, **fields})  # type: ignore[arg-type]


def test_schema_is_the_field_table() -> None:
    schema = request_schema()
    assert tuple(schema.names) == REQUEST_COLUMNS
    assert schema.field("ts_start").type == pa.float64()
    assert schema.field("status_code").type == pa.int64()
    assert schema.field("ok").type == pa.bool_()
    assert pa.types.is_dictionary(schema.field("query_type").type)  # a pandas category
    assert schema.field("trace_id").type == pa.string()
    assert schema.field("e2e_ms").metadata == {b"unit": b"ms"}
    assert tuple(arrow_schema(HOST_SAMPLE_TABLE).names) == HOST_SAMPLE_COLUMNS


def test_recorder_rows_convert_with_their_types(tmp_path: Path) -> None:
    writer = RunDir(tmp_path).open_requests()
    writer.write_rows(
        [
            _record(e2e_ms=12.5, quality_ok=True).to_row(),
            _record(ok=False, error_kind="http", status_code=500).to_row(),
        ]
    )
    writer.close()
    out = tmp_path / "requests.parquet"
    assert csv_to_parquet(tmp_path / "requests.csv", out) == 2
    table = pq.read_table(out)
    assert table.column("e2e_ms").to_pylist() == [12.5, None]
    assert table.column("ok").to_pylist() == [True, False]
    assert table.column("quality_ok").to_pylist() == [True, None]  # empty: not checked
    assert table.column("error_kind").to_pylist() == ["none", "http"]
    assert table.column("conversation_id").to_pylist() == [None, None]  # empty cell
    assert parquet_source_bytes(out) == (tmp_path / "requests.csv").stat().st_size


def test_a_column_the_csv_lacks_reads_as_null(tmp_path: Path) -> None:
    header = [c for c in REQUEST_COLUMNS if c != "trace_id"]  # written before it existed
    row = _record().to_row()[: len(header)]
    (tmp_path / "requests.csv").write_text(",".join(header) + "\n" + ",".join(map(str, row)) + "\n")
    csv_to_parquet(tmp_path / "requests.csv", tmp_path / "requests.parquet")
    assert pq.read_table(tmp_path / "requests.parquet").column("trace_id").to_pylist() == [None]


def test_a_cell_of_the_wrong_type_leaves_no_file(tmp_path: Path) -> None:
    lines = [",".join(REQUEST_COLUMNS), ",".join(map(str, _record().to_row()))]
    lines[1] = lines[1].replace("local,3,", "local,three,")  # user_id
    (tmp_path / "requests.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(QiLoadError, match=r"requests\.csv: not converted to Parquet"):
        csv_to_parquet(tmp_path / "requests.csv", tmp_path / "requests.parquet")
    assert list(tmp_path.iterdir()) == [tmp_path / "requests.csv"]


def test_source_bytes_of_a_foreign_file_is_none(tmp_path: Path) -> None:
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    assert parquet_source_bytes(tmp_path / "x.parquet") is None
    pq.write_table(pa.table({"a": [1]}), tmp_path / "y.parquet")
    assert parquet_source_bytes(tmp_path / "y.parquet") is None
