"""requests.parquet reads as requests.csv does, is preferred while current, and a large
closed run gets one on its first read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from qi_load.analyze import load
from qi_load.analyze.load import RunData, load_run
from qi_load.errors import QiLoadError
from qi_load.record.columnar import csv_to_parquet


@pytest.fixture
def both(ladder_dir: Path, tmp_path: Path) -> Path:
    """A copy of the ladder run with its requests.parquet beside requests.csv."""
    root = Path(shutil.copytree(ladder_dir, tmp_path / "run"))
    csv_to_parquet(root / "requests.csv", root / "requests.parquet")
    return root


def test_parquet_reads_as_the_csv(ladder: RunData, both: Path) -> None:
    csv, parquet = ladder, load_run(both)  # the session's read of the ladder's CSV
    assert parquet.warnings == csv.warnings == []
    # Equal to the last bit, dtypes and categories too: every figure of a report (a pure
    # function of the run's tables) is then the same, which comparing two whole summaries
    # proved at ten times the cost.
    pd.testing.assert_frame_equal(parquet.requests, csv.requests, check_exact=True)
    pd.testing.assert_frame_equal(parquet.cancelled, csv.cancelled, check_exact=True)
    pd.testing.assert_frame_equal(parquet.samples, csv.samples, check_exact=True)
    assert parquet.manifest == csv.manifest


def test_parquet_alone_is_a_run(ladder: RunData, both: Path) -> None:
    (both / "requests.csv").unlink()
    pd.testing.assert_frame_equal(load_run(both).requests, ladder.requests)


def test_rows_appended_after_it_send_readers_to_the_csv(both: Path) -> None:
    rows = len(load_run(both).requests)
    csv = both / "requests.csv"
    last = csv.read_text().splitlines()[-1]
    with csv.open("a") as fh:
        fh.write(last + "\n")
    run = load_run(both)
    assert len(run.requests) == rows + 1
    assert any("requests.parquet is out of date" in w for w in run.warnings)


def test_a_large_closed_run_is_converted_on_first_read(
    ladder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(shutil.copytree(ladder_dir, tmp_path / "run"))
    monkeypatch.setattr(load, "COLUMNAR_MIN_BYTES", 0)
    first = load_run(root)
    assert (root / "requests.parquet").is_file() and first.warnings == []
    (root / "requests.csv").write_text("not read any more\n")  # same size would be needed
    with pytest.raises(QiLoadError):  # a changed CSV is never silently ignored
        load_run(root)


def test_a_running_run_is_not_converted(
    ladder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(shutil.copytree(ladder_dir, tmp_path / "run"))
    manifest = json.loads((root / "run.json").read_text())
    (root / "run.json").write_text(json.dumps({**manifest, "status": "running"}))
    monkeypatch.setattr(load, "COLUMNAR_MIN_BYTES", 0)
    load_run(root)
    assert not (root / "requests.parquet").exists()


def test_a_cell_arrow_refuses_keeps_the_csv_and_its_error(
    ladder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(shutil.copytree(ladder_dir, tmp_path / "run"))
    path = root / "requests.csv"
    lines = path.read_text().splitlines(keepends=True)
    cells = lines[3].split(",")
    cells[14] = "fast"  # e2e_ms
    lines[3] = ",".join(cells)
    path.write_text("".join(lines))
    monkeypatch.setattr(load, "COLUMNAR_MIN_BYTES", 0)
    with pytest.raises(QiLoadError, match=r"requests\.csv: line 4: column 'e2e_ms': 'fast'"):
        load_run(root)
    assert not (root / "requests.parquet").exists()


def test_a_foreign_parquet_file_is_a_clear_error(both: Path) -> None:
    (both / "requests.csv").unlink()
    (both / "requests.parquet").write_bytes(b"PAR1 but not really")
    with pytest.raises(QiLoadError, match=r"requests\.parquet: not a readable Parquet file"):
        load_run(both)
    pq.write_table(pa.table({"ts_start": [1.0]}), both / "requests.parquet")
    with pytest.raises(QiLoadError, match=r"requests\.parquet: wrong columns: missing ts_sched"):
        load_run(both)


def test_an_empty_ok_cell_names_its_row(both: Path) -> None:
    (both / "requests.csv").unlink()
    table = pq.read_table(both / "requests.parquet")
    ok = table.column("ok").to_pylist()
    ok[4] = None
    table = table.set_column(table.schema.get_field_index("ok"), "ok", pa.array(ok))
    pq.write_table(table, both / "requests.parquet")
    with pytest.raises(QiLoadError, match=r"requests\.parquet: row 5: column 'ok' is empty"):
        load_run(both)
