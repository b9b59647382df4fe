"""Workers take the scenario and qi-load's options from the master: `qi-load run --workers 1`
starts its worker with neither, and the worker's requests still follow both."""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from qi_cli import qi_load_command
from scenario_file import write_scenario

from qi_load.agent.launch import TargetProcess, start_target

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def target() -> Iterator[TargetProcess]:
    with start_target(["--slots", "16"]) as running:
        yield running


def test_a_worker_follows_the_masters_scenario_and_options(
    target: TargetProcess, tmp_path: Path
) -> None:
    # Two-turn conversations (the scenario's; the default is five) with no answer checks
    # (the option's; the default records them): only the master was told either.
    scenario = write_scenario(
        tmp_path,
        "from-master",
        [{"name": "talk", "users": 2, "hold_s": 6, "mix": {"conversation": 1}}],
        conversation={"turns": 2, "query_types": ["simple"]},
    )
    out = tmp_path / "runs"
    done = subprocess.run(
        qi_load_command(
            "run", str(scenario), "--host", target.url, "--out", str(out), "--workers", "1",
            "--quality", "off", "--no-report",
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = next(p for p in out.iterdir() if p.is_dir())
    worker_log = (run_dir / "locust-worker-0.log").read_text()
    assert "Traceback" not in worker_log, worker_log
    with (run_dir / "requests.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["error_kind"] != "cancelled"]
    assert rows and all(r["worker"] not in ("", "local") for r in rows)
    assert {int(r["turn"]) for r in rows} == {1, 2}
    assert {r["quality_ok"] for r in rows} == {""}
