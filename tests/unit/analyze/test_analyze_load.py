"""Run directories: valid ones load, partial ones warn, corrupt ones fail with a clear message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qi_load.analyze.load import load_run
from qi_load.errors import QiLoadError


@pytest.fixture
def run_copy(ladder_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(ladder_dir, tmp_path / "run"))


def test_valid_run_loads_typed_frames(ladder_dir: Path) -> None:
    run = load_run(ladder_dir)
    assert run.warnings == []
    assert run.requests["ok"].dtype == bool
    assert (
        len(run.requests) == json.loads((ladder_dir / "run.json").read_text())["counts"]["requests"]
    )
    assert (run.requests["ts_end"] >= run.requests["ts_start"]).all()
    assert set(run.samples["role"].astype(str)) == {"master", "worker", "target"}
    assert run.locust_failures is not None and len(run.stages) == 5


def test_truncated_csv_names_file_and_line(run_copy: Path) -> None:
    path = run_copy / "requests.csv"
    data = path.read_bytes()
    path.write_bytes(data[:-15])
    lines = data[:-15].count(b"\n") + 1
    with pytest.raises(QiLoadError, match=rf"requests.csv: truncated: line {lines} is cut off"):
        load_run(run_copy)


def test_empty_csv(run_copy: Path) -> None:
    (run_copy / "host_samples.csv").write_text("")
    with pytest.raises(QiLoadError, match=r"host_samples\.csv: file is empty"):
        load_run(run_copy)


def test_wrong_columns_lists_missing(run_copy: Path) -> None:
    shutil.copy(run_copy / "host_samples.csv", run_copy / "requests.csv")
    with pytest.raises(QiLoadError, match=r"requests.csv: wrong columns: missing ts_sched"):
        load_run(run_copy)


def test_bad_value_names_line_and_column(run_copy: Path) -> None:
    path = run_copy / "requests.csv"
    lines = path.read_text().splitlines(keepends=True)
    cells = lines[3].split(",")
    cells[14] = "fast"  # e2e_ms
    lines[3] = ",".join(cells)
    path.write_text("".join(lines))
    with pytest.raises(QiLoadError, match=r"line 4: column 'e2e_ms': 'fast' is not a number"):
        load_run(run_copy)


def test_interleaved_rows_are_reported(run_copy: Path) -> None:
    # A writer killed mid-row and restarted leaves half a row glued to the next one.
    path = run_copy / "requests.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[5] = lines[5][:45] + lines[6]
    path.write_text("".join(lines))
    with pytest.raises(
        QiLoadError, match=r"requests.csv: line 6: column '\w+': .* is not a number"
    ):
        load_run(run_copy)


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(QiLoadError, match="not a run directory"):
        load_run(tmp_path)
    with pytest.raises(QiLoadError, match="no such directory"):
        load_run(tmp_path / "nope")


def test_invalid_manifest(run_copy: Path) -> None:
    (run_copy / "run.json").write_text('{"stages": [')
    with pytest.raises(QiLoadError, match=r"run\.json: not valid JSON"):
        load_run(run_copy)
    (run_copy / "run.json").write_text('{"stages": [{"name": "a", "users": "many"}]}')
    with pytest.raises(QiLoadError, match=r"stages\[0\] lacks field 'start'"):
        load_run(run_copy)


def test_partial_run_warns(run_copy: Path) -> None:
    manifest = json.loads((run_copy / "run.json").read_text())
    manifest["status"] = "interrupted"
    (run_copy / "run.json").write_text(json.dumps(manifest))
    (run_copy / "host_samples.csv").unlink()
    run = load_run(run_copy)
    assert any("'interrupted'" in w for w in run.warnings)
    assert any("host_samples.csv is missing" in w for w in run.warnings)
    assert run.samples.empty and not run.requests.empty


def test_header_only_and_missing_manifest_warn(run_copy: Path) -> None:
    path = run_copy / "requests.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    (run_copy / "run.json").unlink()
    run = load_run(run_copy)
    assert run.requests.empty
    assert any("no rows" in w for w in run.warnings)
    assert any("run.json is missing" in w for w in run.warnings)
