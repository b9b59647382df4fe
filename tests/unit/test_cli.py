"""Every command has help, and every command is documented in docs/cli.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from qi_load import __version__
from qi_load.cli import (
    COMMANDS,
    _split_passthrough,
    build_parser,
    exit_code_for,
    exit_code_for_status,
    main,
)
from qi_load.errors import ConfigError, OutputError, QiLoadError, RunFailed

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"qi-load {command}" in out
    assert "not implemented" not in out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_is_documented(command: str) -> None:
    assert f"## `qi-load {command}`" in DOCS.read_text(encoding="utf-8")


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nstages:\n  - {users: -3, hold_s: 5}\n", "stages[0].users"),
        ("name: x\nstages: [\n", ":3:1: invalid YAML"),
        ("name: x\nstages:\n  - {users: 2, hold_s: 5}\nmix: {telepathy: 1}\n", "telepathy"),
    ],
)
def test_run_rejects_a_bad_scenario_with_one_line_and_exit_2(
    text: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["run", str(path), "--no-report", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(path) in err and expected in err
    assert not any(p.is_dir() for p in tmp_path.iterdir())


def test_run_rejects_an_unknown_packaged_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "no-such-scenario", "--no-report"]) == 2
    assert "quick-ladder" in capsys.readouterr().err


def test_run_passes_everything_after_double_dash_to_locust() -> None:
    own, rest = _split_passthrough(
        ["run", "smoke", "--target-arg=--slots", "--target-arg=4", "--", "--loglevel", "DEBUG"]
    )
    args = build_parser().parse_args(own)
    assert (args.scenario, args.target_arg) == ("smoke", ["--slots", "4"])
    assert rest == ["--loglevel", "DEBUG"]


def test_commands_without_passthrough_keep_their_double_dash() -> None:
    argv = ["startup", "-n", "1", "--", "true"]
    assert _split_passthrough(argv) == (argv, [])


def test_run_passes_the_quality_mode_and_declares_only_the_embedded_agent(
    tmp_path: Path,
) -> None:
    from types import SimpleNamespace
    from typing import Any, cast

    from qi_load.generate.options import LoadOptions
    from qi_load.record.rundir import RunDir
    from qi_load.runner import RunOptions, _master_command, _worker_command

    args = build_parser().parse_args(["run", "smoke"])
    assert args.quality == "record"
    args = build_parser().parse_args(["run", "smoke", "--quality", "enforce"])
    options = RunOptions(scenario="smoke", load=LoadOptions.from_namespace(args), workers=1)
    embedded = cast(Any, SimpleNamespace(pid=4242))
    run_dir = RunDir(tmp_path / "run")
    for target, declared in ((embedded, True), (None, False)):
        master = _master_command(
            options, "s.yaml", "http://x", run_dir, "id", target, 5557, preflight_in_master=False
        )
        assert master[master.index("--quality") + 1] == "enforce"
        assert ("--reference-agent" in master) is declared
    # A worker takes the scenario and qi-load's options from its master.
    worker = _worker_command(options, "http://x", 5557)
    assert not {"--quality", "--scenario", "--reference-agent"} & set(worker)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "smoke", "--quality", "strict"])


def test_error_kinds_map_to_exit_codes_here_only() -> None:
    assert exit_code_for(QiLoadError("x")) == 2
    assert exit_code_for(ConfigError("x")) == 2
    assert exit_code_for(RunFailed("x")) == 1
    assert exit_code_for(OutputError("/r/run.json", "No space left on device")) == 1
    assert [exit_code_for_status(s) for s in ("complete", "interrupted", "failed", "x")] == [
        0,
        130,
        1,
        1,
    ]
