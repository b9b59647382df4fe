"""Failed writes to a run directory: one OutputError naming the path, or the run's callback;
run.json keeps its last good version and no temporary file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qi_load.cli import EXIT_ERROR, exit_code_for
from qi_load.errors import OutputError
from qi_load.record.manifest import Manifest
from qi_load.record.rundir import CsvAppender, RunDir
from qi_load.record.schema import REQUEST_COLUMNS


def test_an_unwritable_parent_is_one_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError) as info:
        RunDir(blocker / "run").create()
    assert str(info.value).startswith(f"{blocker / 'run'}: cannot write: ")
    assert exit_code_for(info.value) == EXIT_ERROR


def test_a_failed_manifest_write_keeps_the_last_good_version(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "run").create()
    run_dir.write_manifest(Manifest(status="running"))
    (run_dir.path / "run.json.tmp").mkdir()  # the temporary file cannot be written
    told: list[OutputError] = []
    run_dir.on_error = told.append
    run_dir.update_manifest(status="complete")
    assert [e.path for e in told] == [str(run_dir.run_json)]
    assert json.loads(run_dir.run_json.read_text()) == {"status": "running"}


def test_a_manifest_write_removes_its_partial_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = RunDir(tmp_path / "run").create()
    run_dir.write_manifest(Manifest(status="running"))

    def full(*_args: object, **_kw: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("qi_load.record.manifest.os.replace", full)
    with pytest.raises(OutputError, match=r"run\.json: cannot write: No space left on device"):
        run_dir.write_manifest(Manifest(status="complete"))
    assert not (run_dir.path / "run.json.tmp").exists()
    assert json.loads(run_dir.run_json.read_text()) == {"status": "running"}


def test_a_csv_that_cannot_be_written_tells_once_and_drops_later_rows(tmp_path: Path) -> None:
    told: list[OutputError] = []
    appender = CsvAppender(tmp_path / "dir-in-the-way", REQUEST_COLUMNS, on_error=told.append)
    assert appender.broken is False
    (tmp_path / "gone").mkdir()
    blocked = CsvAppender(tmp_path / "gone", REQUEST_COLUMNS, on_error=told.append)
    assert blocked.broken and len(told) == 1 and told[0].path == str(tmp_path / "gone")
    blocked.write_rows([["x"] * len(REQUEST_COLUMNS)])
    blocked.flush()
    blocked.close()
    assert blocked.rows_written == 0 and len(told) == 1
    appender.close()
