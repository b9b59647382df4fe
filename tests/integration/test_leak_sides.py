"""A real run whose load generator grows: its leak is reported as qi-load's, not the agent's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from qi_cli import run_qi_load

pytestmark = pytest.mark.integration

LOCUSTFILE = Path(__file__).resolve().parent / "locustfiles" / "leaky_generator.py"


def test_a_growing_generator_is_listed_under_qi_load_not_the_agent(tmp_path: Path) -> None:
    scenario = tmp_path / "leaky.yaml"
    scenario.write_text(
        json.dumps(
            {
                "name": "leaky-generator",
                "settle_s": 0,
                "think_time": {"kind": "constant", "seconds": 0.2},
                "mix": {"simple": 1},
                "stages": [{"name": "hold", "users": 2, "ramp_s": 0, "hold_s": 36}],
            }
        )
    )
    done = run_qi_load(
        "run", str(scenario), "--out", str(tmp_path), "--run-id", "r", "--progress", "0",
        "--monitor-interval", "1", "--locustfile", str(LOCUSTFILE), timeout=150,
    )  # fmt: skip
    run = tmp_path / "r"
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: a failed check
    summary: dict[str, Any] = json.loads((run / "summary.json").read_text())
    fits = {f["role"]: f for f in summary["leaks"]}
    assert fits["local"]["side"] == "qi-load" and fits["local"]["status"] == "leak", fits
    assert fits["target"]["side"] == "agent" and fits["target"]["status"] != "leak", fits
    md = (run / "summary.md").read_text()
    assert "- Memory leaks: none found" in md
    assert (
        "- Memory leaks in qi-load itself (the load generator, not the agent): qi-load local" in md
    )
    recommendations = "\n".join(r["title"] for r in summary["recommendations"])
    assert "qi-load's own local" in recommendations and "leak in" not in recommendations
