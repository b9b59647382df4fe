"""The summary: strict JSON, the check gate, recommendations tied to findings."""

from __future__ import annotations

import json
import math
from pathlib import Path

from synthetic_run import SyntheticRun, write_synthetic_run

from qi_load.analyze.load import RunData, load_run
from qi_load.analyze.stages import StageStats, pooled_stats
from qi_load.analyze.summary import (
    SCHEMA_VERSION,
    Summary,
    analyze_run,
    locust_view,
    summary_json,
)
from qi_load.targets import TargetLevels, Targets


def test_summary_is_strict_json_with_every_section(leaky_summary: Summary) -> None:
    data = json.loads(summary_json(leaky_summary))  # allow_nan=False inside: no NaN slipped through
    assert data["schema_version"] == SCHEMA_VERSION
    assert set(data) >= {
        "run",
        "stages",
        "degradation",
        "leaks",
        "alerts",
        "targets",
        "recommendations",
        "check",
        "per_type",
        "slo_checks",
        "locust",
    }
    assert data["locust"]["failure_messages"][0]["error"] == "HTTPError 500: <b>internal</b>"


def test_recommendations_name_their_findings(leaky_summary: Summary) -> None:
    recs = leaky_summary["recommendations"]
    by_category = {r["category"]: r for r in recs}
    assert "inference_queue" in by_category["algorithm"]["finding"]
    assert "leak" in by_category["memory"]["finding"]
    assert all(r["finding"] for r in recs)


def test_no_miss_no_recommendation_and_check_passes(tmp_path: Path) -> None:
    spec = SyntheticRun(seed=31, slots=100, users=(1, 2, 4), hold_s=40)
    run = load_run(write_synthetic_run(tmp_path / "r", spec))
    lenient = Targets(throughput_rps=TargetLevels(stretch=3, target=2, minimum=1))
    summary = analyze_run(run, targets=lenient)
    assert summary["recommendations"] == []
    assert summary["check"] == {"verdict": "pass", "passed": True, "failures": []}


def test_check_fails_when_no_stage_could_be_judged(tmp_path: Path) -> None:
    # Stages of a few seconds against a slow service: too few requests to judge any SLO.
    spec = SyntheticRun(seed=5, users=(1, 2), ramp_s=0.0, hold_s=3.0, settle_s=1.0)
    summary = analyze_run(load_run(write_synthetic_run(tmp_path / "r", spec)))
    assert summary["requirement"]["kind"] is None
    assert summary["requirement"]["status"] == "insufficient_data"
    # Not a measured failure, and no pass either: --check fails it.
    (failure,) = summary["check"]["failures"]
    assert (summary["check"]["verdict"], summary["check"]["passed"]) == ("not_judged", False)
    assert failure.startswith("insufficient data: ")


def test_check_fails_on_slo_target_and_regression(ladder: RunData, slow_ladder: RunData) -> None:
    check = analyze_run(slow_ladder, targets=Targets(gate=True), baseline=ladder)["check"]
    assert not check["passed"]
    kinds = {f.split(" ")[0] for f in check["failures"]}
    assert kinds == {"SLO", "target", "critical"}
    # The methodology's targets only inform: without gate, a missed target fails nothing
    # (no baseline: the regression's failure is proven above, its comparison costs a third).
    ungated = analyze_run(slow_ladder)["check"]["failures"]
    assert {f.split(" ")[0] for f in ungated} == {"SLO"}


def test_missed_p95_points_at_the_dominant_phase(ladder: RunData) -> None:
    tight = Targets(p95_s=TargetLevels(stretch=0.1, target=0.2, minimum=0.3))
    recs = analyze_run(ladder, targets=tight)["recommendations"]
    (model,) = [r for r in recs if r["title"] == "Shorten model time per request"]
    assert "llm phase takes" in model["finding"] and "p95" in model["finding"]


def test_locust_counts_sum_its_entries_and_prefer_the_final_json(
    ladder_dir: Path, ladder: RunData, tmp_path: Path
) -> None:
    import shutil

    run_dir = Path(shutil.copytree(ladder_dir, tmp_path / "run"))
    rows = len(ladder.requests)  # the copy's, read once a session
    (run_dir / "locust_stats.csv").write_text(
        "Type,Name,Request Count,Failure Count\n"
        f"POST,simple,{rows - 9},2\nPOST,reasoning,2,0\n,Aggregated,{rows - 7},2\n"
    )
    # The summary's section itself (its place in summary.json: test_summary_is_strict_json_...):
    # two whole summaries cost ten times as much.
    view = locust_view(load_run(run_dir))
    assert view is not None
    assert (view["requests"], view["failures"], view["source"]) == (rows - 7, 2, "locust_stats.csv")
    assert (view["csv_rows"], view["cancelled"]) == (rows, 0)
    final = [
        {"method": "POST", "name": "simple", "num_requests": rows - 1, "num_failures": 3},
        {"method": "POST", "name": "reasoning", "num_requests": 1, "num_failures": 0},
    ]
    (run_dir / "locust_final.json").write_text(json.dumps(final))
    view = locust_view(load_run(run_dir))
    assert view is not None
    assert (view["requests"], view["failures"], view["source"]) == (rows, 3, "locust_final.json")


def test_cancelled_rows_stay_out_of_every_figure_but_their_stage_counts(
    ladder_dir: Path, ladder: RunData, ladder_stages: list[StageStats], tmp_path: Path
) -> None:
    import csv
    import shutil

    run_dir = Path(shutil.copytree(ladder_dir, tmp_path / "run"))
    # The copy before its cancelled rows, analysed once a session: the summary's stages and
    # its pooled figures.
    before_overall, _ = pooled_stats(ladder)
    last = ladder_stages[-1]
    with (run_dir / "requests.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        template = next(reader)
    cancelled = dict(
        template,
        ts_start=str(last["end"] - 2.0),
        ts_sched=str(last["end"] - 2.0),
        ok="false",
        error_kind="cancelled",
        e2e_ms="99999.0",
        ttft_ms="",
    )
    with (run_dir / "requests.csv").open("a", newline="") as handle:
        csv.DictWriter(handle, columns).writerows([cancelled] * 3)
    after_run = load_run(run_dir)
    after = analyze_run(after_run)
    stage = after["stages"][-1]
    assert (stage["cancelled"], stage["started"]) == (3, last["started"] + 3)
    assert stage["overall"] == last["overall"]  # no latency, throughput or error rate moved
    assert after["overall"] == before_overall
    view = after["locust"]
    assert view is None or (view["csv_rows"], view["cancelled"]) == (len(after_run.requests), 3)


def test_a_malformed_locust_final_json_is_a_warning(ladder_dir: Path, tmp_path: Path) -> None:
    import shutil

    run_dir = Path(shutil.copytree(ladder_dir, tmp_path / "run"))
    (run_dir / "locust_final.json").write_text('{"not": "a list"}')
    run = load_run(run_dir)
    assert run.locust_final is None
    assert any("locust_final.json" in w for w in run.warnings)
    view = locust_view(run)
    assert view is not None and view["source"] == "locust_stats.csv"


def test_stages_too_short_for_the_rate_say_how_much_longer_to_run(tmp_path: Path) -> None:
    # 1 user, a 4 s request and 2 s of thinking: a few requests per 10 s stage.
    thin = SyntheticRun(users=(1, 2), hold_s=10.0, settle_s=1.0, service_s=4.0, think_s=2.0)
    run = load_run(write_synthetic_run(tmp_path, thin))
    summary = analyze_run(run)
    fewest = min(s["overall"]["n"] for s in summary["stages"])
    assert 0 < fewest < 20
    hint = [w for w in summary["warnings"] if "too short for this service's rate" in w]
    assert hint == [
        f"2 of 2 stages are too short for this service's rate: lengthen them, e.g. "
        f"--time-scale {-(-20 // fewest)} (multiplies every stage's duration: a run that "
        f"already had --time-scale F needs F * {-(-20 // fewest)})"
    ]


def test_a_run_without_scenario_is_told_to_run_longer_with_locusts_run_time(
    tmp_path: Path,
) -> None:
    # Plain Locust's `-t 10s` without --scenario: one stage, no durations to scale.
    thin = SyntheticRun(users=(1,), ramp_s=0.0, hold_s=10.0, settle_s=0.0, service_s=4.0)
    root = write_synthetic_run(tmp_path, thin)
    manifest = json.loads((root / "run.json").read_text())
    manifest.update(scenario=None, stages=[])
    (root / "run.json").write_text(json.dumps(manifest))
    summary = analyze_run(load_run(root))
    (stage,) = summary["stages"]
    factor = -(-20 // stage["overall"]["n"])
    seconds = math.ceil(factor * (stage["end"] - stage["start"]))
    hint = [w for w in summary["warnings"] if "too short for this service's rate" in w]
    assert hint == [
        f"1 of 1 stages are too short for this service's rate: lengthen them, e.g. "
        f"-t {seconds}s (Locust's run time; --time-scale applies to a --scenario's stages)"
    ]
