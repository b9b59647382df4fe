"""The stage table `qi-load run` prints is the report's: every number in it equals the one in
`summary.json`, and `qi-load report` prints the same table."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from qi_cli import run_qi_load
from scenario_file import write_scenario

from qi_load.render.terminal import HEADERS, LATENCIES

pytestmark = pytest.mark.integration

_SPLIT = re.compile(r"\s{2,}")


def _table(stdout: str) -> list[dict[str, str]]:
    """The printed stage table as one dict per row, keyed by header."""
    lines = stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("stage") and "E2E" in line)
    assert _SPLIT.split(lines[head].strip()) == list(HEADERS)
    rows = []
    for line in lines[head + 2 :]:
        cells = _SPLIT.split(line.strip())
        if len(cells) != len(HEADERS):
            break
        rows.append(dict(zip(HEADERS, cells, strict=True)))
    return rows


def _close(text: str, value: float | None) -> None:
    """``text`` is ``value`` as printed: equal to within half its last digit."""
    assert value is not None, text
    decimals = len(text.split(".")[1]) if "." in text else 0
    assert abs(float(text) - value) <= 0.5 * 10**-decimals + 1e-9, (text, value)


def _latency(cell: str, p: dict[str, Any]) -> None:
    if p["n"] == 0:
        assert cell == "-"
        return
    assert cell.endswith("*") == p["p99_flagged"], (cell, p)
    for text, key in zip(cell.rstrip("*").split("/"), ("p50", "p95", "p99"), strict=True):
        _close(text, p[key])


def _check_row(row: dict[str, str], stage: dict[str, Any]) -> None:
    o = stage["overall"]
    assert row["stage"] == stage["name"]
    assert int(row["users"]) == stage["users"]
    start, end = row["window s"].split("-")
    _close(start, stage["window_start"] - stage["start"])
    _close(end, stage["window_end"] - stage["start"])
    assert int(row["n"]) == o["n"]
    _close(row["req/s"], o["throughput_rps"])
    _close(row["out tok/s"], o["output_tokens_per_s"])
    for label, key in LATENCIES:
        _latency(row[f"{label} ms p50/p95/p99"], o[key])
    errors = {} if row["errors"] == "-" else dict(e.split(":") for e in row["errors"].split())
    assert {k: int(v) for k, v in errors.items()} == o["errors_by_kind"]
    assert row["valid"] == ("yes" if stage["invalid"] is None else "no")


def _verdict(stdout: str) -> str:
    return next(
        line for line in stdout.splitlines() if line.startswith("capacity ") and " | " in line
    )


def test_the_printed_stage_table_is_summary_json(tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path,
        "table",
        [{"name": "low", "users": 2, "hold_s": 3}, {"name": "high", "users": 4, "hold_s": 4}],
        mix={"simple": 1, "code_generation": 1, "reasoning": 1},
        warmup_s=1,
    )
    out = tmp_path / "out"
    done = run_qi_load(
        "run", str(scenario), "--out", str(out), "--progress", "0",
        "--target-arg=--slowdown", "--target-arg=0.3",
        timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = next(p for p in out.iterdir() if p.is_dir())
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = _table(done.stdout)
    assert [r["stage"] for r in rows] == ["low", "high"]
    assert len(rows) == len(summary["stages"])
    for row, stage in zip(rows, summary["stages"], strict=True):
        assert stage["overall"]["n"] > 0
        _check_row(row, stage)
    # The header names the warm-up apart from the stages, as the progress line does.
    assert "qi-load: scenario 'table': 2 stages after a 1 s warm-up, 8 s; run directory" in (
        done.stdout
    )
    verdict = _verdict(done.stdout)
    shown = {"pass": "PASS", "fail": "FAIL", "not_judged": "NOT JUDGED"}
    assert f" | verdict {shown[summary['check']['verdict']]}" in verdict
    knee = summary["degradation"]["knee"]
    words = "insufficient data" if knee["status"] == "insufficient_data" else "none"
    assert (f"knee {knee['users']} user" if knee["users"] else f"knee {words}") in verdict

    report = run_qi_load("report", str(run_dir), "--format", "json", timeout=120)
    assert report.returncode == 0, report.stdout + report.stderr
    assert _table(report.stdout) == rows
    assert _verdict(report.stdout) == verdict
