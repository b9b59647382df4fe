"""`qi-load report` and `qi-load compare` end to end through the CLI: files and exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from synthetic_run import SyntheticRun, write_synthetic_run

from qi_load.cli import main

# The whole analysis and rendering path per call: integration-sized, though in one process.
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    return {
        "ok": write_synthetic_run(root / "ok", SyntheticRun(seed=51, slots=100, users=(1, 2, 4))),
        "base": write_synthetic_run(root / "base", SyntheticRun(seed=52)),
        "slow": write_synthetic_run(root / "slow", SyntheticRun(seed=53, slowdown=1.4)),
    }


def test_report_writes_and_check_gates(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = tmp_path / "t.yaml"
    targets.write_text("throughput_rps: {stretch: 3, target: 2, minimum: 1}\n")
    # HTML rendering is covered by test_render_outputs; JSON keeps this test fast.
    args = ["report", str(runs["ok"]), "--check", "--format", "json"]
    assert main([*args, "--targets", str(targets)]) == 0
    assert (runs["ok"] / "summary.json").is_file()
    # The methodology's default targets inform (~4 req/s is below their 10 req/s minimum)
    # without gating; a targets file gates.
    assert main(args) == 0
    strict = tmp_path / "strict.yaml"
    strict.write_text("throughput_rps: {minimum: 10}\n")
    assert main([*args, "--targets", str(strict)]) == 3
    out = capsys.readouterr().out
    assert "check failed: target throughput" in out


def test_report_formats_and_out(runs: dict[str, Path], tmp_path: Path) -> None:
    assert main(["report", str(runs["base"]), "--format", "md", "--out", str(tmp_path)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["summary.md"]
    assert main(["report", str(runs["base"]), "--format", "pdf"]) == 2


def test_report_baseline_regression(runs: dict[str, Path], tmp_path: Path) -> None:
    code = main(
        [
            "report",
            str(runs["slow"]),
            "--baseline",
            str(runs["base"]),
            "--check",
            "--format",
            "json",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 3
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["comparison"]["worst"] == "critical"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda p: (p / "requests.csv").write_bytes((p / "requests.csv").read_bytes()[:-9]),
            "truncated",
        ),
        (lambda p: (p / "requests.csv").write_text(""), "file is empty"),
        (lambda p: (p / "host_samples.csv").write_text("a,b\n1,2\n"), "wrong columns"),
        (lambda p: [f.unlink() for f in p.iterdir()], "not a run directory"),
    ],
)
def test_corrupt_input_is_one_line_exit_2(
    runs: dict[str, Path],
    tmp_path: Path,
    damage: object,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = Path(shutil.copytree(runs["base"], tmp_path / "r"))
    damage(root)  # type: ignore[operator]
    assert main(["report", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and str(root) in err and "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_compare_exit_codes_and_files(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", str(runs["base"]), str(runs["slow"]), "--out", str(tmp_path)]) == 3
    out = capsys.readouterr().out
    assert "worst: critical" in out and "stage u4" in out
    assert json.loads((tmp_path / "comparison.json").read_text())["worst"] == "critical"
    assert "| e2e_p95 |" in (tmp_path / "comparison.md").read_text()
    assert main(["compare", str(runs["base"]), str(runs["base"]), "--out", str(tmp_path)]) == 0
    assert (
        main(
            [
                "compare",
                str(runs["base"]),
                str(runs["slow"]),
                "--warn",
                "0.5",
                "--critical",
                "3",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert (
        main(
            ["compare", str(runs["base"]), str(runs["slow"]), "--warn", "0.3", "--critical", "0.2"]
        )
        == 2
    )
