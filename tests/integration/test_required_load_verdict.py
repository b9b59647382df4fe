"""Verdicts that fit a ladder, end to end against the reference agent: a stage past the
capacity fails its SLOs without failing a run whose required load holds, and a ladder too
short to judge says "insufficient data" instead of naming a knee."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from qi_cli import run_qi_load
from scenario_file import write_scenario

pytestmark = pytest.mark.integration


def _run(tmp_path: Path, *args: str) -> tuple[str, dict[str, Any], Path]:
    out = tmp_path / "out"
    done = run_qi_load(*args, "--out", str(out), "--progress", "0", timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = next(p for p in out.iterdir() if p.is_dir())
    return done.stdout, json.loads((run_dir / "summary.json").read_text()), run_dir


def _headline(stdout: str) -> str:
    lines = stdout.splitlines()
    return next(line for line in lines if line.startswith("capacity ") and " | verdict " in line)


def test_past_the_capacity_the_run_still_passes_at_its_required_load(tmp_path: Path) -> None:
    # 2 slots of ~0.25 s: 2 users are served at once, 12 users queue for seconds past the
    # simple type's 1 s TTFT SLO.
    scenario = write_scenario(
        tmp_path,
        "required",
        [{"name": "two", "users": 2, "hold_s": 8}, {"name": "twelve", "users": 12, "hold_s": 6}],
        mix={"simple": 1},
        required_users=2,
        slos={"simple": {"ttft_p95_ms": 1000, "e2e_p95_ms": 2000}},
    )
    stdout, summary, run_dir = _run(
        tmp_path, "run", str(scenario), "--target-arg=--slots", "--target-arg=2",
        "--target-arg=--timing", "--target-arg=simple=200,5,10",
    )  # fmt: skip
    cap, req = summary["capacity"], summary["requirement"]
    stages = {s["name"]: s for s in summary["stages"]}
    assert stages["two"]["overall"]["n"] >= 20, stages["two"]["overall"]
    assert stages["twelve"]["slo_ok"] is False, stages["twelve"]["overall"]["slo_checks"]
    assert (cap["users"], cap["above_users"], cap["status"]) == (2, 12, "found")
    assert (req["kind"], req["stage"], req["status"]) == ("users", "two", "pass")
    assert {c["stage"] for c in summary["slo_checks"]} == {"two"}
    assert summary["check"]["passed"], summary["check"]["failures"]
    line = _headline(stdout)
    assert line.startswith("capacity 2 users (all SLOs), ")
    assert "fails at 12 | verdict PASS at the required 2 users (two) |" in line
    # The latency alert's threshold is the type's SLO, not the methodology's flat 2 s.
    assert all(a["threshold"] == 2000.0 for a in summary["alerts"] if a["metric"] == "e2e_p95_ms")
    md = (run_dir / "summary.md").read_text()
    assert "**capacity 2 users (all SLOs)" in md and "ITL ms p50/p95/p99" in md
    gate = run_qi_load("report", str(run_dir), "--check", "--format", "json", timeout=120)
    assert gate.returncode == 0, gate.stdout + gate.stderr


def test_a_quick_ladder_too_short_to_judge_says_insufficient_data(tmp_path: Path) -> None:
    stdout, summary, run_dir = _run(tmp_path, "run", "quick-ladder", "--time-scale", "0.2")
    knee = summary["degradation"]["knee"]
    assert (knee["users"], knee["status"]) == (None, "insufficient_data"), knee
    assert summary["capacity"]["status"] == "insufficient_data"
    line = _headline(stdout)
    assert line.startswith("capacity insufficient data | ") and "| knee insufficient data |" in line
    # The required stage was too short to judge: not a pass, nor a measured failure.
    assert summary["check"]["verdict"] == "not_judged", summary["check"]
    assert "| verdict NOT JUDGED at the required 10 users (target): insufficient data |" in line
    assert "not judged: required 10 users: insufficient data at target" in stdout
    gate = run_qi_load("report", str(run_dir), "--check", "--format", "json", timeout=120)
    assert gate.returncode == 3, gate.stdout + gate.stderr
    # ITL and TPOT per stage and per type, each percentile with its n, in the table too.
    assert all(
        {"n", "p50", "p95", "p99"} <= q["itl_ms"].keys() <= q["tpot_ms"].keys()
        for s in summary["stages"]
        for q in [s["overall"], *s["per_type"].values()]
    )
    assert "ITL ms p50/p95/p99" in stdout and "TPOT ms p50/p95/p99" in stdout
