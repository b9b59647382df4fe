"""The toolchain file: the shipped example is valid, and mistakes name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from qi_load.bench.toolchain_config import load_toolchain_config
from qi_load.cli import exit_code_for, main
from qi_load.errors import QiLoadError

EXAMPLE = Path(__file__).resolve().parents[3] / "qi_load" / "bench" / "toolchain-example.yaml"


def test_shipped_example_is_valid() -> None:
    config = load_toolchain_config(EXAMPLE)
    assert config.iterations == 5 and config.warmup == 1
    names = [c.name for c in config.comparisons]
    assert names == ["build", "syntax-check", "tests"]
    assert all(c.prepare and c.reset for c in config.comparisons)


def test_a_and_b_are_aliases(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("comparisons:\n  - name: x\n    a: echo one\n    b: [echo, two]\n")
    config = load_toolchain_config(path)
    assert config.comparisons[0].baseline == "echo one"
    assert config.comparisons[0].candidate == ["echo", "two"]
    assert config.comparisons[0].cwd == "{workdir}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("comparisons: []\n", "bad.yaml:1: comparisons: expected at least 1 item"),
        (
            "comparisons:\n  - name: x\n    a: echo\n",
            "bad.yaml:2: comparisons[0].candidate: missing required field 'candidate'",
        ),
        (
            "comparisons:\n  - name: x\n    a: echo\n    b: []\n",
            "bad.yaml:4: comparisons[0].b: expected a non-empty shell string",
        ),
        (
            "comparisons:\n  - name: x\n    a: echo\n    b: echo\n    prepair: ls\n",
            "bad.yaml:5: comparisons[0].prepair: unknown field 'prepair'",
        ),
        ("iterations: 0\ncomparisons: []\n", "bad.yaml:1: iterations: expected a value >= 1"),
        (
            "comparisons:\n  - {name: x, a: echo, b: echo}\n  - {name: x, a: echo, b: echo}\n",
            "duplicate comparison name 'x'",
        ),
        (
            "comparisons:\n  - {name: x, a: echo, b: echo, grade: lint}\n",
            "bad.yaml:2: comparisons[0].grade: expected one of build, tests, hot_reload, "
            "got 'lint'",
        ),
        ("- just a list\n", "bad.yaml:1: expected a mapping of toolchain fields"),
        ("comparisons: [\n", "invalid YAML"),
    ],
)
def test_mistakes_name_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(QiLoadError) as exc:
        load_toolchain_config(path)
    assert str(exc.value).startswith(str(path))
    assert message in str(exc.value)
    assert exit_code_for(exc.value) == 2


def test_cli_prints_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("comparisons:\n  - name: x\n    a: echo\n    b: echo\n    timeout_s: -1\n")
    assert main(["toolchain", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"{path}:5: comparisons[0].timeout_s: expected a value > 0, got -1" in err


def test_cli_needs_exactly_one_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["toolchain"]) == 2
    assert main(["toolchain", "--example", str(EXAMPLE)]) == 2
    assert "give either FILE.yaml or --example" in capsys.readouterr().err


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(QiLoadError, match="toolchain file not found"):
        load_toolchain_config(tmp_path / "nope.yaml")
