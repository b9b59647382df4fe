"""The capacity search in real runs: steps are plan stages the records carry, the master judges
them from live records (local and with a worker), and the result reaches search.json, the
summary and the report."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from processes import most_in_flight, request_rows
from qi_cli import run_qi_load
from scenario_file import write_scenario

pytestmark = pytest.mark.integration

# Each request holds one of the agent's slots for 10 + 5 * 2 = 20 ms: short steps.
AGENT = ["--target-arg=--slots=4", "--target-arg=--timing=all=10,2,6"]
# 95 % decisions, not the default 99.5 %: these tests check the search's mechanics, and
# steps of a few seconds on a shared host rarely hold the samples a 99.5 % decision needs.
SEARCH = {"settle_s": 0.5, "step_max_s": 8, "min_samples": 80, "confidence": 0.95}


def _run(tmp_path: Path, scenario: Path, *extra: str, progress: int = 0) -> Path:
    out = tmp_path / "out"
    done = run_qi_load(
        "run", str(scenario), "--out", str(out), "--progress", str(progress), *AGENT, *extra,
        timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (tmp_path / "stdout.txt").write_text(done.stdout)
    return next(p for p in out.iterdir() if p.is_dir())


def _stage_counts(run_dir: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with (run_dir / "requests.csv").open() as f:
        for row in csv.DictReader(f):
            counts[row["stage"]] = counts.get(row["stage"], 0) + 1
    return counts


def _check_path(run_dir: Path, result: dict[str, Any]) -> None:
    manifest = json.loads((run_dir / "run.json").read_text())
    steps = [p["stage"] for p in result["path"]]
    assert [s["name"] for s in manifest["stages"]] == steps
    counts = _stage_counts(run_dir)
    pooled = 0  # a repeat judges its samples together with the steps it repeats
    for step in result["path"]:
        pooled = (pooled if step["repeat"] else 0) + counts.get(step["stage"], 0)
        assert step["verdict"]["n"] >= 20, step
        assert pooled >= step["verdict"]["n"], (step, counts)
    assert manifest["status"] == "complete"


def test_closed_loop_search_doubles_to_its_high_bound_and_reports(tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path,
        "closed",
        [{"hold_s": 40, "search": {"low": 1, "high": 4, "start": 2, **SEARCH}}],
        mix={"simple": 1},
        think_time={"kind": "constant", "seconds": 0.03},
        slos={"simple": {"ttft_p95_ms": 2000, "e2e_p95_ms": None}},
    )
    run_dir = _run(tmp_path, scenario)
    result = json.loads((run_dir / "search.json").read_text())
    assert [(p["load"], p["decision"]) for p in result["path"]] == [(2, "pass"), (4, "pass")]
    assert (result["capacity"], result["interval_low"], result["finished"]) == (4, 4, "at_high")
    _check_path(run_dir, result)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["search"]["capacity"] == 4
    assert "## Capacity search" in (run_dir / "summary.md").read_text()
    assert "capacity 4 users" in (run_dir / "report.html").read_text()


def test_open_loop_search_with_a_worker_finds_the_rate_an_slo_allows(tmp_path: Path) -> None:
    # One slot of 20 ms serves 50 requests/s; a 60 ms TTFT SLO holds only well below that
    # and fails for certain at 80 requests/s, so the search must bisect between.
    scenario = write_scenario(
        tmp_path,
        "open",
        [
            {
                "users": 40,
                "hold_s": 60,
                "search": {"low": 5, "high": 80, "start": 20, "resolution": 0.5, **SEARCH},
            }
        ],
        mix={"simple": 1},
        arrival={"mode": "open", "rate": 1},
        slos={"simple": {"ttft_p95_ms": 60, "e2e_p95_ms": None}},
    )
    run_dir = _run(tmp_path, scenario, "--workers", "1", "--no-report", "--target-arg=--slots=1")
    result = json.loads((run_dir / "search.json").read_text())
    decisions = [p["decision"] for p in result["path"]]
    assert "fail" in decisions, result["path"]
    assert result["loop"] == "open" and result["unit"] == "requests/s"
    assert result["finished"] in ("converged", "below_low"), result
    _check_path(run_dir, result)


def test_sweep_runs_synchronous_throughput_then_rates_between(tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path,
        "sweep",
        [{"users": 4, "hold_s": 16, "sweep": {"rates": 2}}],
        mix={"simple": 1},
        arrival={"mode": "open", "rate": 1},
    )
    # 50 ms requests: the throughput step's 4 users stay latency-bound, not bound by the
    # generator's CPU, even when other tests share the cores.
    run_dir = _run(tmp_path, scenario, "--target-arg=--slowdown=2.5", progress=3)
    result = json.loads((run_dir / "sweep.json").read_text())
    steps = result["steps"]
    assert [s["kind"] for s in steps] == ["synchronous", "throughput", "rate", "rate"]
    sync, top = result["synchronous_rate"], result["max_rate"]
    assert sync is not None and top is not None and sync > 0 and top > 0, result
    # The throughput step runs its 4 users without think time, so their requests overlap and
    # its rate is above the synchronous one. All 4 users send in it: their first start is
    # not a gap at the scenario's 1 request/s (4 s on average, the whole step) away.
    throughput = [r for r in request_rows(run_dir) if r["stage"] == steps[1]["stage"]]
    assert len({r["user_id"] for r in throughput}) == 4, throughput[:8]
    assert most_in_flight(throughput) >= 3
    assert top > sync, result
    targets = [s["target_rate"] for s in steps[2:]]
    assert targets == pytest.approx([sync + (top - sync) / 3, sync + 2 * (top - sync) / 3])
    manifest = json.loads((run_dir / "run.json").read_text())
    assert [s["name"] for s in manifest["stages"]] == [s["stage"] for s in steps]
    assert [s["users"] for s in manifest["stages"]] == [1, 4, 4, 4]
    counts = _stage_counts(run_dir)
    assert all(counts.get(s["stage"], 0) > 0 for s in steps), counts
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["sweep"]["steps"] == steps
    markdown = (run_dir / "summary.md").read_text()
    assert "## Rate sweep" in markdown and "| E2E p50/p95 ms | SLOs |" in markdown
    # The progress line counts the steps as the scenario's one stage, of its whole 16 s.
    lines = [x for x in (tmp_path / "stdout.txt").read_text().splitlines() if "s left)" in x]
    assert len(lines) >= 4, lines
    assert all(re.search(r"(stage 1/1 sweep-[1-4]|plan over) .*s/16s \(", x) for x in lines), lines
