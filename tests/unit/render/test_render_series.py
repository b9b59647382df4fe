"""Figure series are total: a run without successes, requests or samples still has them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synthetic_run import SyntheticRun, write_synthetic_run

from qi_load.analyze.load import RunData, load_run
from qi_load.analyze.summary import Summary, analyze_run
from qi_load.render import series


@pytest.fixture(scope="module")
def all_failed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Summary, RunData]:
    spec = SyntheticRun(seed=5, users=(1, 4), hold_s=20, error_rate=1.0)
    run = load_run(write_synthetic_run(tmp_path_factory.mktemp("failed") / "run", spec))
    return analyze_run(run), run


def test_all_failed_run_has_failure_rates_and_no_latency(
    all_failed: tuple[Summary, RunData],
) -> None:
    summary, run = all_failed
    tl = series.timeline(summary, run)
    assert tl is not None and tl.x.size == 0
    # The ok rate is drawn, at zero in every bin: a gap would read as "no data".
    assert tl.ok_x.size > 0 and not tl.ok_rate.any()
    assert all(v.size == 0 for v in tl.latency.values())
    # Every request is in one bin's failure rate.
    assert np.sum(tl.failed_rate) * tl.width == pytest.approx(len(run.requests))
    assert series.curves(summary).note == "no successful requests in any stage"
    assert [series.stage_note(s) for s in summary["stages"]] == [series.NO_SUCCESS] * 2
    assert [d.note for d in series.distributions(run)] == ["no successful requests"] * 2


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = SyntheticRun(seed=6, users=(1, 2), hold_s=10)
    return write_synthetic_run(tmp_path_factory.mktemp("small") / "run", spec)


@pytest.fixture(scope="module")
def small_summary(small: Path) -> tuple[Summary, RunData]:
    """``small`` loaded and summarised once for the tests that only read it."""
    run = load_run(small)
    return analyze_run(run), run


def test_knee_of_an_all_failed_ladder_says_why(all_failed: tuple[Summary, RunData]) -> None:
    knee = all_failed[0]["degradation"]["knee"]
    assert knee["users"] is None
    # Its stages hold only failures: too few requests to judge, and it says so.
    assert knee["status"] == "insufficient_data"
    assert knee["detail"].startswith("insufficient data: too few requests (< 20) to judge u1")


def test_one_latency_value_gets_a_decade_of_log_edges(
    small_summary: tuple[Summary, RunData],
) -> None:
    ladder = small_summary[1]
    one = ladder.requests[ladder.requests["ok"]].head(1)
    run = RunData(ladder.path, ladder.manifest, one, ladder.samples)
    e2e, _ = series.distributions(run)
    value = float(one["e2e_ms"].iloc[0])
    assert e2e.edges[0] == pytest.approx(value) and e2e.edges[-1] == pytest.approx(10 * value)
    assert [int(h.counts.sum()) for h in e2e.histograms] == [1]


def test_run_without_requests_or_samples(small: Path, tmp_path: Path) -> None:
    (tmp_path / "requests.csv").write_text(
        (small / "requests.csv").read_text().splitlines()[0] + "\n"
    )
    run = load_run(tmp_path)
    summary = analyze_run(run)
    assert series.timeline(summary, run) is None
    assert series.resources(summary, run) == []
    assert series.phases(summary).labels == []
    assert series.curves(summary).users.size == 0
    assert series.origin(summary, run) == 0.0


def test_timeline_percentiles_per_bin(small_summary: tuple[Summary, RunData]) -> None:
    summary, run = small_summary
    tl = series.timeline(summary, run)
    assert tl is not None
    req = run.requests[run.requests["ok"]]
    bins = np.floor((req["ts_end"].to_numpy() - tl.t0) / tl.width)
    for k, centre in enumerate(tl.x):
        members = req["e2e_ms"].to_numpy()[bins * tl.width + tl.width / 2 == centre]
        assert tl.latency["E2E p95"][k] == pytest.approx(np.percentile(members, 95))
    assert np.sum(tl.ok_rate) * tl.width == len(req)


def test_throughput_bins_without_requests_are_zero_and_time_starts_at_the_test() -> None:
    ends = np.array([0.5, 1.0, 7.0, 7.5, 9.0])  # nothing ends in 2-6 s
    x, rate = series._rate(np.floor(ends / 2.0), np.floor(ends / 2.0), 2.0)
    assert x.tolist() == [1.0, 3.0, 5.0, 7.0, 9.0]
    assert rate.tolist() == [1.0, 0.0, 0.0, 1.0, 0.5]


def test_time_origin_is_the_test_start_of_run_json(
    small_summary: tuple[Summary, RunData],
) -> None:
    summary, run = small_summary
    expected = run.manifest.test_start or run.manifest.start
    assert expected is not None and series.origin(summary, run) == expected
    assert series.origin(summary, run) <= summary["stages"][0]["start"]
