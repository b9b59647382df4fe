"""Per-stage statistics match the synthetic server's known rates, windows and resources."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic_run import SyntheticRun, write_synthetic_run

from qi_load.analyze.load import RunData, load_run
from qi_load.analyze.stages import StageStats, analyze_stages, pooled_stats, stage_windows


def test_windows_skip_ramp_and_settle(ladder: RunData) -> None:
    w = stage_windows(ladder)[0]
    assert w.t0 == pytest.approx(w.ramp_end + 4.0) and w.t1 == w.end
    assert w.seconds == pytest.approx(36.0)


def test_throughput_matches_closed_loop_model(ladder_stages: list[StageStats]) -> None:
    stages = {s["users"]: s for s in ladder_stages}
    for users, expected in ((1, 1.0), (4, 4.0), (8, 8.0), (16, 8.0)):
        assert stages[users]["overall"]["throughput_rps"] == pytest.approx(expected, rel=0.2)
    assert stages[4]["overall"]["e2e_ms"]["p50"] == pytest.approx(500, rel=0.1)
    # 16 users on 8 users' capacity: each waits ~1 s in the queue (Little's law).
    assert stages[16]["overall"]["ttft_ms"]["p50"] > 600


def test_slo_and_goodput(ladder_stages: list[StageStats]) -> None:
    stages = {s["users"]: s for s in ladder_stages}
    assert stages[4]["slo_ok"] is True
    assert stages[4]["overall"]["goodput_rps"] == stages[4]["overall"]["throughput_rps"]
    assert stages[16]["slo_ok"] is False
    assert stages[16]["overall"]["goodput_rps"] < stages[16]["overall"]["throughput_rps"]
    failing = [c for c in stages[16]["overall"]["slo_checks"] if c["ok"] is False]
    assert {c["metric"] for c in failing} >= {"e2e_p95_ms"}


def test_resources_per_role_and_counter_rates(ladder_stages: list[StageStats]) -> None:
    stage = ladder_stages[2]  # 4 users, 4 req/s
    target = stage["roles"]["target"]
    assert target["processes"] == 1
    assert target["cpu_mean"] == pytest.approx(4.0 + 1.5 * 4.0, abs=1.0)
    assert target["net_sent_bytes_per_s"] == pytest.approx(16000, rel=0.05)
    assert target["write_bytes_per_s"] == pytest.approx(2000, rel=0.05)
    assert target["rss_mean_mb"] == pytest.approx(60, abs=1)


def test_errors_by_kind_and_rate(tmp_path: Path) -> None:
    run = load_run(write_synthetic_run(tmp_path / "r", SyntheticRun(error_rate=0.2, seed=5)))
    overall, per_type = pooled_stats(run)
    assert overall["error_rate"] == pytest.approx(0.2, abs=0.05)
    assert set(overall["errors_by_kind"]) == {"http"}
    assert sum(overall["errors_by_kind"].values()) == overall["n"] - overall["n_ok"]
    assert set(per_type) == {"simple", "reasoning"}


def test_run_without_manifest_is_one_window(ladder_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "requests.csv").write_bytes((ladder_dir / "requests.csv").read_bytes())
    run = load_run(tmp_path)
    (window,) = stage_windows(run)
    assert window.name == "run" and window.users == 16
    (stage,) = analyze_stages(run)
    assert stage["overall"]["n"] == len(run.requests)


def test_open_loop_reports_schedule_delay(ladder_dir: Path, tmp_path: Path) -> None:
    import json
    import shutil

    root = Path(shutil.copytree(ladder_dir, tmp_path / "open"))
    manifest = json.loads((root / "run.json").read_text())
    manifest["scenario"]["arrival"] = {"mode": "open", "rate": 5}
    (root / "run.json").write_text(json.dumps(manifest))
    stage = analyze_stages(load_run(root))[0]
    delay = stage["overall"]["schedule_delay_ms"]
    assert delay is not None and delay["n"] == stage["overall"]["n"] and delay["max"] == 0


def test_warmup_stage_is_left_out(ladder_dir: Path, tmp_path: Path) -> None:
    import json
    import shutil

    root = Path(shutil.copytree(ladder_dir, tmp_path / "w"))
    manifest = json.loads((root / "run.json").read_text())
    manifest["stages"][0]["name"] = "warmup"
    (root / "run.json").write_text(json.dumps(manifest))
    assert [w.users for w in stage_windows(load_run(root))] == [2, 4, 8, 16]
