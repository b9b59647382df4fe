"""CPU attribution with plain numbers: usable cores, plateaus and noisy neighbours."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
from synthetic_run import SyntheticRun, write_synthetic_run

from qi_load.analyze.cpu import other_cores, usable_share
from qi_load.analyze.degradation import (
    UNSAMPLED_AGENT_HINT,
    CpuLevel,
    Degradation,
    cpu_saturation,
    degradation,
    noisy_neighbour,
)
from qi_load.analyze.load import load_run
from qi_load.analyze.recommend import recommend
from qi_load.analyze.stages import StageStats, analyze_stages


def test_usable_share_uses_the_cores_the_process_may_use() -> None:
    assert usable_share(1.0, 2.0, 100.0) == pytest.approx(0.5)
    assert usable_share(1.0, 1.0, 100.0) == pytest.approx(1.0)
    # No recorded usable cores (older runs): one core or the quota, as cpu_percent is.
    assert usable_share(1.0, None, 100.0) == pytest.approx(1.0)
    assert usable_share(1.0, float("nan"), 50.0) == pytest.approx(0.5)


def test_other_cores_is_what_the_sampled_processes_did_not_use() -> None:
    assert other_cores(100.0, 2, 0.8) == pytest.approx(1.2)
    assert other_cores(30.0, 2, 0.8) == 0.0  # sampling jitter never goes negative
    assert other_cores(90.0, 0, 0.5) is None


def _levels(*rows: tuple[int, float, float, float]) -> list[CpuLevel]:
    return [CpuLevel(users=u, throughput_rps=t, cores=c, share=s) for u, t, c, s in rows]


def test_flat_cpu_at_one_usable_core_with_rising_throughput_is_not_saturated() -> None:
    # llama-server on one compute thread: 100 % of its one usable core from the first user,
    # while batching doubles throughput.
    levels = _levels((1, 1.0, 1.0, 1.0), (2, 2.0, 1.0, 1.0), (4, 3.9, 1.0, 1.0))
    evidence = cpu_saturation(levels)
    assert evidence[:2] == [None, None]
    assert evidence[2] is not None and "most users tested" in evidence[2]


def test_cpu_and_throughput_both_plateau_is_saturated() -> None:
    # One busy thread on a 2-core host: 50 % of what it may use, but flat while
    # throughput stops rising.
    levels = _levels((1, 1.0, 0.9, 0.45), (2, 2.0, 1.0, 0.5), (4, 2.05, 1.02, 0.51))
    evidence = cpu_saturation(levels)
    assert evidence[0] is None
    assert evidence[1] is not None and "stopped rising at 1.00 cores" in evidence[1]
    assert evidence[2] is None  # the highest level is judged by its share only


def test_high_share_with_stalled_throughput_is_saturated() -> None:
    levels = _levels((1, 1.0, 0.4, 0.2), (4, 3.6, 1.7, 0.85), (8, 3.7, 1.9, 0.95))
    evidence = cpu_saturation(levels)
    assert evidence[0] is None
    assert evidence[1] is not None and "85 % of what it may use" in evidence[1]


def test_low_cpu_with_stalled_throughput_is_not_cpu() -> None:
    # Slots full, CPU idle: the inference queue, not the CPU.
    levels = _levels((1, 1.0, 0.1, 0.05), (4, 4.0, 0.3, 0.15), (8, 4.0, 0.3, 0.15))
    assert cpu_saturation(levels) == [None, None, None]


def test_noisy_neighbour() -> None:
    found = noisy_neighbour("h1", 98.0, 2, 1.1)
    assert found is not None and found.startswith(
        "host CPU taken by other processes (noisy neighbour)"
    )
    assert noisy_neighbour("h1", 98.0, 2, 0.2) is None  # the sampled processes fill it
    assert noisy_neighbour("h1", 60.0, 2, 1.1) is None  # the host still has room
    assert noisy_neighbour("h1", 98.0, 0, None) is None  # cores unknown


@pytest.fixture(scope="module")
def noisy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two cores, 1.9 of them busy with processes the run does not sample."""
    spec = SyntheticRun(host_cores=2, other_cores=1.9)
    return write_synthetic_run(tmp_path_factory.mktemp("noisy") / "r", spec)


@pytest.fixture(scope="module")
def noisy_stages_once(noisy_dir: Path) -> list[StageStats]:
    return analyze_stages(load_run(noisy_dir))


@pytest.fixture
def noisy_stages(noisy_stages_once: list[StageStats]) -> list[StageStats]:
    """``noisy_dir`` analysed once a module: each test gets its own copy."""
    return copy.deepcopy(noisy_stages_once)


def test_noisy_neighbour_named_first_in_a_run(noisy_stages: list[StageStats]) -> None:
    stages = noisy_stages
    assert stages[0]["hosts"]["h1"]["other_cores"] == pytest.approx(1.9, abs=0.1)
    sat = degradation(stages)["first_saturated"]
    assert sat["resource"] == "host_cpu" and sat["users"] == 1
    assert "noisy neighbour" in sat["evidence"]


def test_quiet_host_is_not_a_noisy_neighbour(tmp_path: Path) -> None:
    run = load_run(write_synthetic_run(tmp_path / "r", SyntheticRun(host_cores=2)))
    assert degradation(analyze_stages(run))["first_saturated"]["resource"] == "inference_queue"


def test_target_judged_against_its_usable_cores(tmp_path: Path) -> None:
    # 12 % CPU per req/s reaches one core at 8 users, where throughput stops rising: with
    # one usable core that is its whole share; with four, a CPU that stopped rising. Stages
    # of 20 s (16 samples a window) give every verdict below as 40 s do, for seeds 0 to 5.
    one = SyntheticRun(target_cpu_per_rps=12.0, target_usable_cores=1.0, host_cores=4, hold_s=20)
    four = SyntheticRun(target_cpu_per_rps=12.0, target_usable_cores=4.0, host_cores=4, hold_s=20)
    sat_one = degradation(analyze_stages(load_run(write_synthetic_run(tmp_path / "1", one))))[
        "first_saturated"
    ]
    sat_four = degradation(analyze_stages(load_run(write_synthetic_run(tmp_path / "4", four))))[
        "first_saturated"
    ]
    assert sat_one["resource"] == sat_four["resource"] == "target_cpu"
    assert sat_one["users"] == sat_four["users"] == 8
    assert "% of what it may use (threshold 80 %)" in sat_one["evidence"]
    assert "stopped rising" in sat_four["evidence"]
    # Half as much CPU per request: 0.5 of four cores is neither.
    half = SyntheticRun(target_cpu_per_rps=6.0, target_usable_cores=4.0, host_cores=4, hold_s=20)
    sat_half = degradation(analyze_stages(load_run(write_synthetic_run(tmp_path / "h", half))))
    assert sat_half["first_saturated"]["resource"] == "inference_queue"


def test_unsampled_agent_on_a_busy_host_gets_the_monitor_hint(
    noisy_dir: Path, tmp_path: Path
) -> None:
    # `--host` against a server on this host without --monitor-pid: the server's CPU is
    # "another process", and the evidence says how to attribute it instead.
    path = Path(shutil.copytree(noisy_dir, tmp_path / "r"))
    samples = path / "host_samples.csv"
    lines = samples.read_text().splitlines(keepends=True)
    role = lines[0].split(",").index("role")
    samples.write_text("".join(x for x in lines if x.split(",")[role] != "target"))
    stages = analyze_stages(load_run(path))
    deg = degradation(stages)
    sat = deg["first_saturated"]
    assert sat["resource"] == "host_cpu"
    assert sat["evidence"] is not None and sat["evidence"].endswith(UNSAMPLED_AGENT_HINT)
    assert "--monitor-pid PID or --monitor-name NAME" in UNSAMPLED_AGENT_HINT
    assert any("--monitor-pid" in a for a in _host_actions(deg, stages))


def _host_actions(deg: Degradation, stages: list[StageStats]) -> list[str]:
    """The actions of the recommendation the host-CPU finding gets."""
    recs = recommend(
        targets=[], degradation=deg, leaks=[], alerts=[], stages=stages,
        overall=stages[0]["overall"],
    )  # fmt: skip
    return next(r["actions"] for r in recs if r["title"] == "Run the test on a host of its own")


def test_sampled_agent_gets_no_monitor_hint(noisy_stages: list[StageStats]) -> None:
    sat = degradation(noisy_stages)
    assert UNSAMPLED_AGENT_HINT not in (sat["first_saturated"]["evidence"] or "")
    # Nor does the recommendation suggest sampling an agent that was sampled.
    actions = _host_actions(sat, noisy_stages)
    assert actions and not any("--monitor-pid" in a for a in actions)
