"""qi-load run's side of the preflight: monitor targets, where the check runs, its one line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from qi_load.cli import exit_code_for
from qi_load.errors import QiLoadError
from qi_load.record.rundir import RunDir
from qi_load.runner import (
    RunOptions,
    _fail_before_start,
    _locust_settings_elsewhere,
    _preflight,
    check_monitor_targets,
)
from qi_load.scenario import resolve_scenario


def test_monitor_targets_must_be_running_processes() -> None:
    check_monitor_targets([os.getpid()], [])
    finished = subprocess.Popen(["true"])  # gone at once: no interpreter to start
    finished.wait()
    with pytest.raises(QiLoadError, match=rf"^--monitor-pid {finished.pid}: no such process$"):
        check_monitor_targets([finished.pid], [])
    with pytest.raises(QiLoadError, match=r"^--monitor-pid 0: no such process$"):
        check_monitor_targets([0], [])
    with pytest.raises(QiLoadError, match=r"^--monitor-name 'qi-nothing-9f1c': no running"):
        check_monitor_targets([], ["qi-nothing-9f1c"])


def test_locust_settings_the_wrapper_cannot_read_leave_the_check_to_the_master(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in [n for n in os.environ if n.startswith("LOCUST_")]:
        monkeypatch.delenv(name)
    assert not _locust_settings_elsewhere([])
    assert _locust_settings_elsewhere(["--config", "x.conf"])
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert not _locust_settings_elsewhere([])
    (tmp_path / "pyproject.toml").write_text("[tool.locust]\nmodel = 'x'\n")
    assert _locust_settings_elsewhere([])
    (tmp_path / "pyproject.toml").unlink()
    (tmp_path / "locust.conf").write_text("model = x\n")
    assert _locust_settings_elsewhere([])
    (tmp_path / "locust.conf").unlink()
    monkeypatch.setenv("LOCUST_MODEL", "x")
    assert _locust_settings_elsewhere([])


def test_the_wrapper_defers_what_only_the_master_knows(tmp_path: Path) -> None:
    scenario = resolve_scenario("smoke")
    # Nothing listens on port 9: a check sent from here would raise.
    options = RunOptions(host="http://127.0.0.1:9", locustfile=str(tmp_path / "mine.py"))
    assert _preflight(options, scenario) is False
    options = RunOptions(host="http://127.0.0.1:9", locust_args=["--no-preflight"])
    assert _preflight(options, scenario) is False


def test_a_master_that_failed_its_preflight_leaves_one_line_and_no_directory(
    tmp_path: Path,
) -> None:
    run_dir = RunDir(tmp_path / "run").create()
    (run_dir.path / "locust-master.log").write_text(
        "[2026-12-07 00:00:00,000] vm/INFO/locust.main: Starting Locust 2.47.0\n"
        "qi-load preflight: HTTP 404 for POST http://h/v1/chat/completions — check it\n"
    )
    with pytest.raises(QiLoadError) as exc:
        _fail_before_start(run_dir, remove=True)
    assert str(exc.value) == "HTTP 404 for POST http://h/v1/chat/completions — check it"
    assert exit_code_for(exc.value) == 2
    assert not run_dir.path.exists()


def test_a_master_that_stopped_for_another_reason_keeps_its_log(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "run").create()
    (run_dir.path / "locust-master.log").write_text("locust: error: unrecognized arguments: --x\n")
    with pytest.raises(QiLoadError, match="unrecognized arguments: --x") as exc:
        _fail_before_start(run_dir, remove=True)
    assert exit_code_for(exc.value) == 2
    assert (run_dir.path / "locust-master.log").exists()
