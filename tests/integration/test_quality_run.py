"""Quality as its own axis, end to end: qi-load run against a server that serves every request
but never answers right, and the reference agent with its wrong-answer knob."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from generic_llm_server import generic_llm_server
from qi_cli import agent_locust_command, qi_load_command, run_qi_load
from scenario_file import write_scenario

pytestmark = pytest.mark.integration

GENERIC = ("simple", "code_generation", "reasoning")
REFERENCE_TIED = ("file_operations", "multi_tool")


def _scenario(tmp_path: Path) -> Path:
    return write_scenario(
        tmp_path,
        "quality",
        [{"name": "one", "users": 1, "hold_s": 3}, {"name": "three", "users": 3, "hold_s": 3}],
        think_time={"kind": "constant", "seconds": 0.05},
        mix=dict.fromkeys((*GENERIC, *REFERENCE_TIED), 1),
    )


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "out"
    done = subprocess.run(
        qi_load_command(
            "run", str(_scenario(tmp_path)), "--out", str(out), "--progress", "1", *args
        ),
        capture_output=True,
        text=True,
        timeout=150,
    )
    run_dirs = [p for p in out.iterdir() if p.is_dir()] if out.exists() else []
    assert len(run_dirs) == 1, done.stdout + done.stderr
    return done, run_dirs[0]


def _rows(run_dir: Path) -> list[dict[str, str]]:
    """The finished requests (those cancelled in flight at the end are no Locust events)."""
    with (run_dir / "requests.csv").open(newline="") as handle:
        return [r for r in csv.DictReader(handle) if r["error_kind"] != "cancelled"]


def _locust_counts(run_dir: Path) -> tuple[int, int]:
    entries = json.loads((run_dir / "locust_final.json").read_text())
    posts = [e for e in entries if e["method"] == "POST"]
    return sum(e["num_requests"] for e in posts), sum(e["num_failures"] for e in posts)


def test_wrong_answers_keep_latency_and_throughput_and_fail_the_quality_slo(
    tmp_path: Path,
) -> None:
    with generic_llm_server() as url:
        done, run_dir = _run(tmp_path, "--host", url)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _rows(run_dir)
    assert rows and all(r["ok"] == "true" and r["error_kind"] == "none" for r in rows)
    checked = {r["quality_ok"] for r in rows if r["query_type"] in GENERIC}
    assert checked == {"false"}
    # Not the reference agent: its sandbox/tool checks do not apply, nothing is counted.
    assert {r["quality_ok"] for r in rows if r["query_type"] in REFERENCE_TIED} == {""}
    assert _locust_counts(run_dir) == (len(rows), 0)  # record: Locust sees no failure

    summary = json.loads((run_dir / "summary.json").read_text())
    for stage in summary["stages"]:
        assert stage["overall"]["throughput_rps"] > 0, stage["name"]
        assert stage["overall"]["e2e_ms"]["p95"] is not None, stage["name"]
        assert stage["overall"]["goodput_rps"] < stage["overall"]["throughput_rps"]
    for query_type in GENERIC:
        assert summary["per_type"][query_type]["quality_rate"] == 0.0
    for query_type in REFERENCE_TIED:
        assert summary["per_type"][query_type]["quality_checked"] == 0
        assert summary["quality"]["checks"][query_type]["ran"] == []
        # Decided per answer: a response without the reference agent's header never ran them.
        assert summary["quality"]["checks"][query_type]["reference_only"]
    assert summary["quality"]["mode"] == "record"
    # Wrong at every load: the verdict fails and names it, the capacity answer stays latency's.
    limit = summary["degradation"]["scalability_limit"]
    assert limit["users"] == 3, limit
    assert "not counted" in limit["detail"] and "quality_rate_min" in limit["detail"]
    assert not summary["check"]["passed"]
    assert any("quality_rate_min 0 < 0.9" in f for f in summary["check"]["failures"])
    page = (run_dir / "report.html").read_text()
    assert "Answer quality" in page and "sandbox_file_facts" in page

    progress = [line for line in done.stdout.splitlines() if line.startswith("[qi-load] stage")]
    assert progress and all(" - ms" not in line for line in progress[1:])
    assert all("quality" in line for line in progress)
    after_table = done.stdout.split("E2E ms p50/p95/p99", 1)[1]
    assert "check failed: SLO" in after_table and "quality_rate_min 0 < 0.9" in after_table
    # Not the reference agent: the checks may not fit its model; the warning says what to do.
    misfit = [w for w in summary["warnings"] if w.startswith("answer quality: 0 of ")]
    assert len(misfit) == 1 and "--quality off" in misfit[0], summary["warnings"]
    assert f"warning: {misfit[0]}" in done.stdout.split("E2E ms p50/p95/p99", 1)[0]

    gate = run_qi_load("report", str(run_dir), "--check", timeout=120)
    assert gate.returncode == 3, gate.stdout + gate.stderr
    assert "quality_rate_min" in gate.stdout


def test_enforce_makes_wrong_answers_locust_failures_against_the_reference_agent(
    tmp_path: Path,
) -> None:
    done, run_dir = _run(
        tmp_path,
        "--quality",
        "enforce",
        "--target-arg=--wrong-answers",
        "--target-arg=--slowdown",
        "--target-arg=0.3",
        "--no-report",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    manifest: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    assert manifest["quality"]["mode"] == "enforce"
    assert manifest["quality"]["reference_agent"] is True  # the embedded agent
    assert manifest["quality"]["checks"]["file_operations"]["ran"] == ["sandbox_file_facts"]
    rows = _rows(run_dir)
    assert rows and all(r["ok"] == "true" and r["error_kind"] == "none" for r in rows)
    # Declared the reference agent: every answer is checked, its sandbox/tool ones included.
    assert {r["quality_ok"] for r in rows} == {"false"}
    assert any(r["query_type"] in REFERENCE_TIED for r in rows)
    assert _locust_counts(run_dir) == (len(rows), len(rows))


def test_off_runs_no_check(tmp_path: Path) -> None:
    with generic_llm_server() as url:
        done, run_dir = _run(tmp_path, "--host", url, "--quality", "off", "--no-report")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _rows(run_dir)
    assert rows and {r["quality_ok"] for r in rows} == {""}
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["quality"]["mode"] == "off"
    assert all(not plan["ran"] for plan in manifest["quality"]["checks"].values())
    assert _locust_counts(run_dir) == (len(rows), 0)


def test_a_bad_catalogue_stops_locust_before_the_run(tmp_path: Path) -> None:
    bad = tmp_path / "queries.yaml"
    bad.write_text("queries:\n  simpel: ['x']\n")
    done = subprocess.run(
        agent_locust_command(
            "-H",
            "http://127.0.0.1:9",
            "-t",
            "2",
            "--queries",
            str(bad),
            "--run-dir",
            str(tmp_path / "run"),
        ),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    # One error style for every config file: file:line: field: problem.
    assert re.search(rf"{re.escape(str(bad))}:\d+: queries\.simpel: ", done.stderr)
