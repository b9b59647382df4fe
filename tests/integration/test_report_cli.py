"""`qi-load report` / `compare` as real processes: exit codes, one-line errors, files written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from qi_cli import run_qi_load
from synthetic_run import SyntheticRun, write_synthetic_run

pytestmark = pytest.mark.integration


def _qi(*args: str) -> subprocess.CompletedProcess[str]:
    return run_qi_load(*args, timeout=120)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    return {
        "base": write_synthetic_run(root / "base", SyntheticRun(seed=61)),
        "same": write_synthetic_run(root / "same", SyntheticRun(seed=62)),
        "slow": write_synthetic_run(root / "slow", SyntheticRun(seed=63, slowdown=1.4)),
        "leak": write_synthetic_run(root / "leak", SyntheticRun(seed=64, leak_mb_per_min=5.0)),
    }


def test_report_finds_knee_saturation_and_leak(runs: dict[str, Path]) -> None:
    done = _qi("report", str(runs["leak"]), "--format", "json,md")
    assert done.returncode == 0, done.stderr
    assert "knee 16 users" in done.stdout and "first saturated inference_queue" in done.stdout
    summary = json.loads((runs["leak"] / "summary.json").read_text())
    (leak,) = [f for f in summary["leaks"] if f["status"] == "leak"]
    assert leak["role"] == "target" and abs(leak["slope_mb_per_min"] - 5.0) < 0.5
    assert _qi("report", str(runs["leak"]), "--check", "--format", "json").returncode == 3


def test_compare_same_build_and_slower_build(runs: dict[str, Path], tmp_path: Path) -> None:
    same = _qi("compare", str(runs["base"]), str(runs["same"]), "--out", str(tmp_path))
    assert same.returncode == 0, same.stdout + same.stderr
    slow = _qi("compare", str(runs["base"]), str(runs["slow"]), "--out", str(tmp_path))
    assert slow.returncode == 3 and "worst: critical" in slow.stdout


@pytest.mark.parametrize("damage", ["truncate", "empty", "columns", "missing", "foreign"])
def test_bad_input_never_tracebacks(runs: dict[str, Path], tmp_path: Path, damage: str) -> None:
    root = Path(shutil.copytree(runs["base"], tmp_path / "r"))
    requests = root / "requests.csv"
    if damage == "truncate":
        requests.write_bytes(requests.read_bytes()[:-20])
    elif damage == "empty":
        requests.write_text("")
    elif damage == "columns":
        requests.write_text("when,what\n1,2\n")
    elif damage == "missing":
        (root / "host_samples.csv").unlink()
    else:
        shutil.rmtree(root)
        root.mkdir()
        (root / "notes.txt").write_text("hello")
    done = _qi("report", str(root), "--format", "json")
    assert "Traceback" not in done.stderr
    if damage == "missing":  # partial: a report with a visible warning
        assert done.returncode == 0 and "warning: host_samples.csv is missing" in done.stdout
    else:
        assert done.returncode == 2
        assert done.stderr.startswith("qi-load report: error: ") and str(root) in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_the_parquet_store_reports_as_the_csv(runs: dict[str, Path], tmp_path: Path) -> None:
    copy = Path(shutil.copytree(runs["same"], tmp_path / "run"))
    converted = subprocess.run(
        [sys.executable, "-m", "qi_load.record.columnar", str(copy)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert converted.returncode == 0, converted.stderr
    (copy / "requests.csv").unlink()  # the Parquet copy alone is a run
    summaries = []
    for root in (runs["same"], copy):
        out = tmp_path / f"out-{len(summaries)}"
        assert _qi("report", str(root), "--format", "json", "--out", str(out)).returncode == 0
        summary = json.loads((out / "summary.json").read_text())
        summary["run"].pop("path")
        summaries.append(summary)
    assert summaries[0] == summaries[1]
