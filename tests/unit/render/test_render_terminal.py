"""The terminal summary: the report's stage table, compact enough for a terminal, and the
verdict line."""

from __future__ import annotations

import copy

import pytest
from synthetic_run import SyntheticRun, write_synthetic_run

from qi_load.analyze.load import load_run
from qi_load.analyze.summary import Summary, analyze_run
from qi_load.render.terminal import HEADERS, stage_table, terminal_summary, verdict_line


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> Summary:
    spec = SyntheticRun(
        seed=71, users=(1, 4, 16), hold_s=20, error_rate=0.05, invalid={2: "worker saturated"}
    )
    root = write_synthetic_run(tmp_path_factory.mktemp("terminal") / "run", spec)
    return analyze_run(load_run(root))


def _rows(table: str) -> list[str]:
    return table.splitlines()[2:]


def test_one_row_per_stage_in_under_160_columns(summary: Summary) -> None:
    table = stage_table(summary["stages"])
    lines = table.splitlines()
    assert lines[0].split("  ")[0] == HEADERS[0] and "E2E ms p50/p95/p99" in lines[0]
    assert len(_rows(table)) == len(summary["stages"]) == 3
    assert max(len(line) for line in lines) <= 160


def test_cells_are_the_summary_numbers(summary: Summary) -> None:
    stage = summary["stages"][0]
    o = stage["overall"]
    row = _rows(stage_table([stage]))[0]
    e2e = o["e2e_ms"]
    assert f"{e2e['p50']:.0f}/{e2e['p95']:.0f}/{e2e['p99']:.0f}" in row
    assert f"{o['throughput_rps']:.2f}" in row and str(o["n"]) in row.split()
    if o["errors_by_kind"]:
        assert all(f"{kind}:{count}" in row for kind, count in o["errors_by_kind"].items())


def test_flags_small_p99_empty_metrics_and_invalid_stages(summary: Summary) -> None:
    stage = copy.deepcopy(summary["stages"][0])
    stage["overall"]["e2e_ms"].update(p50=12.34, p95=150.0, p99=2000.0, p99_flagged=True)
    stage["overall"]["itl_ms"].update(n=0)
    stage["overall"]["errors_by_kind"] = {"http": 1, "timeout": 3}
    stage["invalid"] = "worker saturated"
    row = _rows(stage_table([stage]))[0]
    assert "12.3/150/2000*" in row
    assert "timeout:3 http:1" in row
    cells = row.split()
    assert cells[-1] == "no" and "-" in cells


def test_verdict_line_names_capacity_verdict_knee_and_saturation(summary: Summary) -> None:
    line = verdict_line(summary)
    assert line.startswith("capacity ")
    verdict = "verdict PASS" if summary["check"]["passed"] else "verdict FAIL"
    assert f" | {verdict}" in line
    deg = summary["degradation"]
    knee = deg["knee"]["users"]
    words = {"insufficient_data": "insufficient data"}.get(deg["knee"]["status"], "none")
    assert (f"knee {knee} user" if knee else f"knee {words}") in line
    cap = summary["capacity"]
    if cap["users"] is not None:
        assert line.startswith(f"capacity {cap['users']} user")
        assert "(all SLOs)" in line
    assert f"first saturated {deg['first_saturated']['resource'] or 'none'}" in line
    assert "\n" not in line


def test_the_whole_summary_says_why_a_stage_is_invalid_and_which_checks_failed(
    summary: Summary,
) -> None:
    text = terminal_summary(summary)
    invalid = [s for s in summary["stages"] if s["invalid"]]
    assert invalid and all(
        f"stage {s['name']} is invalid ({s['invalid']})" in text for s in invalid
    )
    assert all(f"check failed: {f}" in text for f in summary["check"]["failures"])
    assert text.splitlines()[-1] == verdict_line(summary)


def test_capacity_headline_and_required_load(summary: Summary) -> None:
    found = copy.deepcopy(summary)
    found["capacity"].update(
        users=10, stage="u10", throughput_rps=3.6, above_users=20, status="found"
    )
    found["requirement"].update(kind="users", value=10, stage="u10", status="pass")
    found["check"] = {"verdict": "pass", "passed": True, "failures": []}
    line = verdict_line(found)
    assert line.startswith("capacity 10 users (all SLOs), 3.60 req/s, fails at 20 | ")
    assert "| verdict PASS at the required 10 users (u10) |" in line
    thin = copy.deepcopy(summary)
    thin["capacity"].update(users=None, stage=None, above_users=None, status="insufficient_data")
    thin["degradation"]["knee"].update(users=None, status="insufficient_data")
    assert verdict_line(thin).startswith("capacity insufficient data | ")
    assert "| knee insufficient data |" in verdict_line(thin)


def test_no_stages_still_gives_a_verdict(summary: Summary) -> None:
    empty = copy.deepcopy(summary)
    empty["stages"] = []
    assert terminal_summary(empty).splitlines()[-1] == verdict_line(empty)


def test_a_long_list_of_failed_checks_is_cut(summary: Summary) -> None:
    many = copy.deepcopy(summary)
    many["check"] = {"verdict": "fail", "passed": False, "failures": [f"SLO {i}" for i in range(9)]}
    lines = terminal_summary(many).splitlines()
    assert [line for line in lines if line.startswith("check failed:")][-1] == (
        "check failed: ... and 4 more (summary.json check.failures)"
    )
    assert " | verdict FAIL (9 checks)" in lines[-1]


def test_a_verdict_that_judged_nothing_says_so(summary: Summary) -> None:
    # A first run's short stages against a slow server: the line names why it failed.
    thin = copy.deepcopy(summary)
    thin["requirement"].update(kind=None, value=None, stage=None, status="insufficient_data")
    thin["check"] = {
        "verdict": "not_judged", "passed": False, "failures": ["insufficient data: lengthen"]
    }  # fmt: skip
    assert "| verdict NOT JUDGED at every stage: insufficient data, no stage judged |" in (
        verdict_line(thin)
    )
    bare = copy.deepcopy(thin)
    bare["check"] = {"verdict": "pass", "passed": True, "failures": []}
    bare["requirement"]["status"] = "pass"
    bare["capacity"]["status"] = "no_slos"
    assert "| verdict PASS at every stage: no SLOs |" in verdict_line(bare)
    judged = copy.deepcopy(bare)
    judged["capacity"]["status"] = "found"
    assert "| verdict PASS at every stage |" in verdict_line(judged)
