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


def _set_status(root: Path, **fields: object) -> None:
    manifest = json.loads((root / "run.json").read_text())
    (root / "run.json").write_text(json.dumps({**manifest, **fields}))


def test_killed_run_leaves_out_its_cut_off_lines(run_copy: Path) -> None:
    _set_status(run_copy, status="running", end=None)
    requests = run_copy / "requests.csv"
    rows = requests.read_bytes().count(b"\n") - 1
    requests.write_bytes(requests.read_bytes()[:-15])
    (run_copy / "host_samples.csv").write_text("")
    run = load_run(run_copy)
    assert len(run.requests) == rows - 1 and run.samples.empty
    assert any(f"line {rows + 1} is cut off (the run stopped mid-write)" in w for w in run.warnings)
    assert any("host_samples.csv is empty" in w for w in run.warnings)


def test_killed_run_stages_end_with_its_data(run_copy: Path) -> None:
    manifest = json.loads((run_copy / "run.json").read_text())
    cut_at = manifest["stages"][2]["start"] + 10.0
    requests = load_run(run_copy).requests
    keep = (requests["ts_end"] < cut_at).to_numpy()
    lines = (run_copy / "requests.csv").read_text().splitlines(keepends=True)
    (run_copy / "requests.csv").write_text(
        "".join([lines[0]] + [line for line, k in zip(lines[1:], keep, strict=True) if k])
    )
    (run_copy / "host_samples.csv").unlink()
    _set_status(run_copy, status="running", end=None)
    run = load_run(run_copy)
    assert [s["name"] for s in run.stages] == [s["name"] for s in manifest["stages"][:3]]
    assert cut_at - 1.0 < run.stages[2]["end"] < cut_at
    assert any("1 stage(s) cut short where the data ends, 2 never started" in w
               for w in run.warnings)  # fmt: skip


def test_damaged_locust_files_are_left_out_with_a_warning(run_copy: Path) -> None:
    (run_copy / "locust_stats.csv").write_text("Type,Name,Request Count,Failure Count\nPOST,s")
    (run_copy / "locust_failures.csv").write_text("")
    run = load_run(run_copy)
    assert run.locust_stats is None and run.locust_failures is None
    assert any(w.startswith("locust_stats.csv left out: truncated") for w in run.warnings)
    assert any(w.startswith("locust_failures.csv left out: file is empty") for w in run.warnings)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("ok", "maybe", r"line 3: column 'ok': 'maybe' is not true or false"),
        ("ok", "", r"line 3: column 'ok': '' is not true or false"),
        ("quality_ok", "yes", r"line 3: column 'quality_ok': 'yes' is not true or false"),
        ("ts_start", "", r"line 3: column 'ts_start' is empty"),
        ("e2e_ms", "-inf", r"line 3: column 'e2e_ms': -inf is not a finite number"),
    ],
)
def test_bad_cells_name_line_column_and_value(
    run_copy: Path, column: str, value: str, message: str
) -> None:
    path = run_copy / "requests.csv"
    lines = path.read_text().splitlines(keepends=True)
    index = lines[0].rstrip("\n").split(",").index(column)
    cells = lines[2].rstrip("\n").split(",")
    cells[index] = value
    lines[2] = ",".join(cells) + "\n"
    path.write_text("".join(lines))
    with pytest.raises(QiLoadError, match=rf"requests\.csv: {message}"):
        load_run(run_copy)


def test_a_file_is_not_a_run_directory(run_copy: Path) -> None:
    with pytest.raises(QiLoadError, match=r"run\.json: not a run directory \(a file\)"):
        load_run(run_copy / "run.json")


def test_empty_query_type_and_error_kind_are_labelled(run_copy: Path) -> None:
    path = run_copy / "requests.csv"
    lines = path.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    for i in (1, 2):
        cells = lines[i].rstrip("\n").split(",")
        cells[header.index("query_type")] = ""
        cells[header.index("ok")] = "false"
        cells[header.index("error_kind")] = ""
        lines[i] = ",".join(cells) + "\n"
    path.write_text("".join(lines))
    req = load_run(run_copy).requests
    assert req["query_type"].dtype == "category" and req["error_kind"].dtype == "category"
    assert list(req["query_type"].iloc[:2]) == ["unknown", "unknown"]
    assert list(req["error_kind"].iloc[:2]) == ["unknown", "unknown"]
    assert req["error_kind"].iloc[2:].notna().all()
