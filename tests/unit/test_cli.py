"""Every command has help, and every command is documented in docs/cli.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from qi_load import __version__
from qi_load.cli import COMMANDS, build_parser, main

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

