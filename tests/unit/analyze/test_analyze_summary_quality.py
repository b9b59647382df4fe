"""Quality as its own axis in the analysis: rate, goodput, the quality SLO and the verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from synthetic_run import SyntheticRun, write_synthetic_run

from qi_load.analyze.degradation import degradation
from qi_load.analyze.load import load_run
from qi_load.analyze.stages import SloCheck, StageStats, query_stats, slo_failure
from qi_load.analyze.summary import Summary, analyze_run
from qi_load.render.html import render_html
from qi_load.render.markdown import render_markdown

SLOS = {"simple": {"e2e_p95_ms": 10_000.0, "quality_rate_min": 0.9}}


def frame(ok: list[bool], quality: list[float]) -> pd.DataFrame:
    """Requests of one type that all took 100 ms; quality 1/0/NaN = passed/failed/unchecked."""
    n = len(ok)
    return pd.DataFrame(
        {
            "ok": ok,
            "error_kind": ["none" if o else "http" for o in ok],
            "quality_ok": np.array(quality, dtype=np.float64),
            "query_type": ["simple"] * n,
            "ttft_ms": [50.0] * n,
            "ttfc_ms": [60.0] * n,
            "retries": [0.0] * n,
            "e2e_ms": [100.0] * n,
            "tpot_ms": [5.0] * n,
            "itl_p50_ms": [2.0] * n,
            "output_tokens": [10.0] * n,
            "ts_start": [0.0] * n,
            "ts_sched": [0.0] * n,
            **{f"srv_{p}_ms": [np.nan] * n for p in ("request", "tool", "llm", "format")},
        }
    )


NAN = float("nan")
# 8 served (2 passed, 4 wrong, 2 unchecked), 2 HTTP errors, over 10 s.
MIXED = frame([True] * 8 + [False] * 2, [1, 1, 0, 0, 0, 0, NAN, NAN, NAN, NAN])


def test_wrong_answers_count_for_throughput_and_latency_not_goodput() -> None:
    q = query_stats(MIXED, 10.0, SLOS, open_loop=False, query_type="simple")
    assert q["n_ok"] == 8
    assert q["throughput_rps"] == pytest.approx(0.8)
    assert q["e2e_ms"]["n"] == 8
    assert q["error_rate"] == pytest.approx(0.2)
    assert "quality" not in q["errors_by_kind"]
    assert (q["quality_checked"], q["quality_passed"]) == (6, 2)
    assert q["quality_rate"] == pytest.approx(1 / 3)
    # passed (2) + served without a check (2)
    assert q["goodput_rps"] == pytest.approx(0.4)


def test_quality_slo_fails_below_its_minimum_and_is_named() -> None:
    q = query_stats(MIXED, 10.0, SLOS, open_loop=False, query_type="simple")
    check = next(c for c in q["slo_checks"] if c["metric"] == "quality_rate_min")
    assert check == SloCheck(
        query_type="simple", metric="quality_rate_min", limit=0.9, value=1 / 3, n=6, ok=False,
        status="fail", stage=None,
    )  # fmt: skip
    assert slo_failure(check) == "simple quality_rate_min 0.3333 < 0.9 (n=6)"
    e2e = next(c for c in q["slo_checks"] if c["metric"] == "e2e_p95_ms")
    assert e2e["ok"] is True


def test_quality_slo_holds_at_its_minimum_and_has_no_data_without_checks() -> None:
    passing = frame([True] * 10, [1.0] * 9 + [0.0])
    q = query_stats(passing, 10.0, SLOS, open_loop=False, query_type="simple")
    assert q["quality_rate"] == pytest.approx(0.9)
    assert next(c for c in q["slo_checks"] if c["metric"] == "quality_rate_min")["ok"] is True
    unchecked = frame([True] * 4, [NAN] * 4)
    q = query_stats(unchecked, 10.0, SLOS, open_loop=False, query_type="simple")
    assert q["quality_rate"] is None and q["quality_checked"] == 0
    check = next(c for c in q["slo_checks"] if c["metric"] == "quality_rate_min")
    assert (check["value"], check["ok"]) == (None, None)
    assert q["goodput_rps"] == pytest.approx(0.4)


def test_upper_bound_slos_keep_their_wording() -> None:
    check = SloCheck(
        query_type="reasoning", metric="e2e_p95_ms", limit=8000.0, value=9000.0, ok=False
    )
    assert slo_failure(check) == "reasoning e2e_p95_ms 9000 > 8000"


def _stage(name: str, users: int, throughput: float, n: int = 30) -> StageStats:
    q = query_stats(frame([], []), 10.0, {}, open_loop=False)
    q["n"], q["throughput_rps"] = n, throughput
    stage: dict[str, Any] = {
        "index": users, "name": name, "users": users, "start": 0.0, "ramp_end": 0.0,
        "end": 10.0, "window_start": 0.0, "window_end": 10.0, "window_s": 10.0,
        "invalid": None, "overall": q, "per_type": {}, "roles": {}, "slo_ok": None,
    }  # fmt: skip
    return stage  # type: ignore[return-value]


def test_knee_does_not_claim_scaling_at_zero_throughput() -> None:
    knee = degradation([_stage("1u", 1, 0.0), _stage("5u", 5, 0.0)])["knee"]
    assert knee["users"] is None
    assert "kept scaling" not in knee["detail"]
    assert "no request completed at the lowest stage" in knee["detail"]
    scaled = degradation([_stage("1u", 1, 1.0), _stage("5u", 5, 5.0)])["knee"]
    assert "kept scaling up to 5 users" in scaled["detail"]


def test_stages_with_too_few_requests_give_no_knee() -> None:
    thin = degradation([_stage("1u", 1, 1.0, n=3), _stage("5u", 5, 1.0, n=19)])
    assert (thin["knee"]["users"], thin["knee"]["status"]) == (None, "insufficient_data")
    assert thin["knee"]["detail"].startswith("insufficient data: too few requests (< 20)")
    assert "1u (n=3), 5u (n=19)" in thin["knee"]["detail"]
    # A thin baseline is left out: the knee is judged from the next stage on.
    ladder = [_stage("1u", 1, 1.0, n=3), _stage("5u", 5, 5.0), _stage("10u", 10, 5.5)]
    knee = degradation(ladder)["knee"]
    assert (knee["users"], knee["criterion"], knee["status"]) == (10, "throughput", "found")
    assert "1u (n=3): left out" in knee["detail"]


def test_verdict_names_the_quality_slo_for_a_model_that_is_always_wrong(tmp_path: Path) -> None:
    spec = SyntheticRun(
        seed=3,
        users=(1, 2),
        slos={
            "simple": {"e2e_p95_ms": 10_000.0, "quality_rate_min": 0.9},
            "reasoning": {"e2e_p95_ms": 10_000.0},
        },
    )
    root = write_synthetic_run(tmp_path / "run", spec)
    requests = pd.read_csv(root / "requests.csv", dtype=str, keep_default_na=False)
    requests["quality_ok"] = np.where(requests["query_type"] == "simple", "false", "")
    requests.to_csv(root / "requests.csv", index=False)
    manifest = json.loads((root / "run.json").read_text())
    manifest["quality"] = {
        "mode": "record",
        "reference_agent": False,
        "checks": {
            "simple": {"ran": ["arithmetic_result"], "skipped": []},
            "file_operations": {"ran": [], "skipped": ["sandbox_file_facts"]},
        },
    }
    (root / "run.json").write_text(json.dumps(manifest))
    summary = analyze_run(load_run(root))
    for stage in summary["stages"]:
        assert stage["overall"]["throughput_rps"] > 0
        assert stage["overall"]["e2e_ms"]["p95"] is not None
        assert stage["per_type"]["simple"]["quality_rate"] == 0.0
        assert stage["overall"]["goodput_rps"] < stage["overall"]["throughput_rps"]
    assert summary["per_type"]["simple"]["quality_rate"] == 0.0
    assert summary["per_type"]["reasoning"]["quality_rate"] is None
    assert not summary["check"]["passed"]
    assert any("simple quality_rate_min 0 < 0.9" in f for f in summary["check"]["failures"])
    assert summary["quality"]["mode"] == "record"
    assert summary["quality"]["checks"]["file_operations"]["skipped"] == ["sandbox_file_facts"]
    # Wrong from the lowest load on: named in the verdict, not the capacity answer.
    limit = summary["degradation"]["scalability_limit"]
    assert limit["users"] is not None
    assert "not counted" in limit["detail"] and "quality_rate_min" in limit["detail"]
    page = render_html(summary, {})
    assert "Answer quality" in page and "sandbox_file_facts" in page
    assert "arithmetic_result" in page and "0% of" in page
    assert "quality_rate_min 0 &lt; 0.9" in page
    md = render_markdown(summary)
    assert "## Answer quality" in md and "sandbox_file_facts" in md
    assert "FAIL: SLO simple quality_rate_min 0" in md


def test_runs_without_a_quality_section_still_summarize(leaky_summary: Summary) -> None:
    # The session's leaky run, summarised once: its run.json has no quality section.
    assert leaky_summary["quality"] == {"mode": None, "reference_agent": None, "checks": {}}


def test_an_slo_over_fewer_than_five_values_is_insufficient_data() -> None:
    q = query_stats(frame([True] * 4, [0.0] * 4), 10.0, SLOS, open_loop=False, query_type="simple")
    checks = {c["metric"]: c for c in q["slo_checks"]}
    # 4 wrong answers of 4 would fail a 0.9 quality rate; 4 values cannot say so yet.
    assert {m: (c["n"], c["ok"], c["status"]) for m, c in checks.items()} == {
        "e2e_p95_ms": (4, None, "insufficient_data"),
        "quality_rate_min": (4, None, "insufficient_data"),
    }
    five = query_stats(
        frame([True] * 5, [0.0] * 5), 10.0, SLOS, open_loop=False, query_type="simple"
    )
    assert [c["status"] for c in five["slo_checks"]] == ["pass", "fail"]
