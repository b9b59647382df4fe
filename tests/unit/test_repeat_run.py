"""The repeat loop with its runs faked: the index after every run, where the set stops."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qi_load import repeat_run
from qi_load.errors import QiLoadError, RunFailed
from qi_load.runner import RunOptions, RunResult


def _fake(monkeypatch: pytest.MonkeyPatch, statuses: list[str]) -> list[RunOptions]:
    seen: list[RunOptions] = []

    def run(options: RunOptions) -> RunResult:
        seen.append(options)
        status = statuses[len(seen) - 1]
        if status == "raise":
            raise RunFailed("the master died")
        code = {"complete": 0, "interrupted": 130}.get(status, 1)
        return RunResult(run_dir=options.out / options.load.run_id, status=status, exit_code=code)

    monkeypatch.setattr(repeat_run, "run", run)
    return seen


def _index(set_dir: Path) -> list[tuple[str, str]]:
    runs = json.loads((set_dir / "repeat.json").read_text())["runs"]
    return [(r["run_id"], r["status"]) for r in runs]


def _options(tmp_path: Path) -> RunOptions:
    options = RunOptions(scenario="smoke", out=tmp_path, report=False)
    options.load = options.load.model_copy(update={"run_id": "s"})
    return options


def test_every_run_gets_its_own_directory_inside_the_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _fake(monkeypatch, ["complete"] * 3)
    ended: list[str] = []
    result = repeat_run.run_repeated(_options(tmp_path), 3, on_run=lambda r: ended.append(r.status))
    assert result.exit_code == 0 and ended == ["complete"] * 3
    assert [(o.out, o.load.run_id) for o in seen] == [
        (tmp_path / "s", f"s-r{i}") for i in (1, 2, 3)
    ]
    assert _index(tmp_path / "s") == [(f"s-r{i}", "complete") for i in (1, 2, 3)]
    with pytest.raises(QiLoadError, match="a repeat set is already there"):
        repeat_run.run_repeated(_options(tmp_path), 2)


def test_an_interrupted_run_ends_the_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, ["complete", "interrupted", "complete"])
    result = repeat_run.run_repeated(_options(tmp_path), 3)
    assert result.exit_code == 130
    assert _index(tmp_path / "s") == [("s-r1", "complete"), ("s-r2", "interrupted")]


def test_a_failed_run_is_listed_and_ends_the_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake(monkeypatch, ["complete", "raise"])
    result = repeat_run.run_repeated(_options(tmp_path), 3)
    assert result.exit_code == 1
    assert _index(tmp_path / "s") == [("s-r1", "complete"), ("s-r2", "failed")]


def test_a_set_needs_two_runs(tmp_path: Path) -> None:
    with pytest.raises(QiLoadError, match="--repeat must be at least 2"):
        repeat_run.run_repeated(_options(tmp_path), 1)


def test_bad_repeat_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from qi_load.cli import main

    assert main(["run", "smoke", "--repeat", "0", "--out", str(tmp_path)]) == 2
    assert "--repeat must be at least 1, got 0" in capsys.readouterr().err
    (tmp_path / "repeat.json").write_text('{"runs": "x"}')
    assert main(["report", str(tmp_path), "--check"]) == 2
    assert "--check is for a run directory, not the repeat set" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "field 'runs': expected list" in capsys.readouterr().err
    assert main(["compare", str(tmp_path), str(tmp_path)]) == 2
    assert "field 'runs': expected list" in capsys.readouterr().err
