"""Knee, scalability limit and first-saturated resource on ladders with known answers."""

from __future__ import annotations

from pathlib import Path

from synthetic_run import SyntheticRun, capacity_users, write_synthetic_run

from qi_load.analyze.degradation import DegradationSettings, degradation
from qi_load.analyze.load import load_run
from qi_load.analyze.stages import StageStats, analyze_stages


def _deg(tmp_path: Path, **spec: object) -> dict:  # type: ignore[type-arg]
    run = load_run(write_synthetic_run(tmp_path / "r", SyntheticRun(**spec)))  # type: ignore[arg-type]
    return dict(degradation(analyze_stages(run), run.manifest.environment or {}))


def test_knee_is_the_stage_that_crosses_capacity(ladder_stages: list[StageStats]) -> None:
    assert capacity_users(SyntheticRun()) == 8
    deg = degradation(ladder_stages)
    assert deg["knee"]["users"] == 16 and deg["knee"]["criterion"] == "throughput"
    assert deg["scalability_limit"]["users"] == 8
    ideal = [p["ideal_rps"] for p in deg["points"]]
    assert ideal[-1] is not None and ideal[-1] > 2 * deg["points"][-1]["throughput_rps"] * 0.9


def test_knee_moves_with_capacity(tmp_path: Path) -> None:
    # 2 slots: capacity is 4 users, so 8 users is the first stage past it.
    deg = _deg(tmp_path, slots=2, users=(1, 2, 4, 8, 16))
    assert deg["knee"]["users"] == 8
    assert deg["first_saturated"]["resource"] == "inference_queue"
    assert deg["first_saturated"]["users"] == 8


def test_no_knee_when_capacity_is_never_reached(tmp_path: Path) -> None:
    deg = _deg(tmp_path, slots=100)
    assert deg["knee"]["users"] is None
    assert deg["first_saturated"]["resource"] is None
    assert deg["scalability_limit"]["users"] == 16


def test_inference_queue_is_the_first_saturated_resource(
    ladder_stages: list[StageStats],
) -> None:
    sat = degradation(ladder_stages)["first_saturated"]
    assert sat["resource"] == "inference_queue" and sat["users"] == 16
    assert "target CPU stayed" in sat["evidence"]


def test_busy_target_cpu_is_named_instead(tmp_path: Path) -> None:
    # 12 % CPU per req/s: 4 req/s at 4 users is ~52 %, 8 req/s at 8 users ~100 %.
    deg = _deg(tmp_path, target_cpu_per_rps=12.0)
    assert deg["first_saturated"]["resource"] == "target_cpu"
    assert deg["first_saturated"]["users"] == 8


def test_invalid_stage_is_the_load_generator_and_not_concluded_from(tmp_path: Path) -> None:
    deg = _deg(tmp_path, invalid={3: "worker at 95% CPU"})
    assert deg["first_saturated"]["resource"] == "load_generator"
    assert deg["first_saturated"]["users"] == 8
    assert [p["users"] for p in deg["points"] if not p["valid"]] == [8]
    # The knee compares valid stages only: 4 -> 16 users.
    assert deg["knee"]["users"] == 16


def test_latency_criterion(ladder_stages: list[StageStats]) -> None:
    # A demanding gain threshold of 0 leaves only the latency rule.
    deg = degradation(ladder_stages, settings=DegradationSettings(gain_threshold=-10))
    assert deg["knee"]["criterion"] == "latency" and deg["knee"]["users"] == 16


def test_saturation_unknown_without_target_samples(ladder_dir: Path, tmp_path: Path) -> None:
    import shutil

    root = Path(shutil.copytree(ladder_dir, tmp_path / "r"))
    (root / "host_samples.csv").unlink()
    deg = degradation(analyze_stages(load_run(root)))
    assert deg["first_saturated"]["resource"] == "unknown"
