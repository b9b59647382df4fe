"""saturated_stages with plain numbers: runs of busy samples inside stage windows."""

from __future__ import annotations

from pathlib import Path

from qi_load.monitor.saturation import (
    busy_percent,
    saturated_spans,
    saturated_stages,
    saturated_stages_from_csv,
)
from qi_load.record.rundir import RunDir
from qi_load.record.schema import HostSample, StageMark


def _samples(
    cpus: list[float],
    *,
    start: float = 1000.0,
    step: float = 1.0,
    role: str = "worker",
    pid: int = 11,
    quota: float | None = None,
) -> list[HostSample]:
    return [
        HostSample(
            ts=start + i * step,
            host="w",
            role=role,
            pid=pid,
            cpu_percent=c,  # type: ignore[arg-type]
            rss_bytes=1,
            cpu_quota_cores=quota,
        )
        for i, c in enumerate(cpus)
    ]


STAGES = [
    StageMark(index=0, name="s1", users=5, start=1000.0, ramp_end=1000.0, end=1020.0),
    StageMark(index=1, name="s2", users=50, start=1020.0, ramp_end=1020.0, end=1040.0),
]


def test_five_seconds_above_threshold_marks_the_stage() -> None:
    # Samples at 1025..1030 are busy: the run covers (1024, 1030] = 6 s.
    cpus = [30.0] * 25 + [95.0] * 6 + [30.0] * 9
    reasons = saturated_stages(_samples(cpus), STAGES)
    assert list(reasons) == ["s2"]
    assert (
        "6.0 s" in reasons["s2"] and "worker w/11" in reasons["s2"] and "peak 95%" in reasons["s2"]
    )


def test_four_seconds_is_not_enough() -> None:
    cpus = [30.0] * 25 + [95.0] * 4 + [30.0] * 11
    assert saturated_stages(_samples(cpus), STAGES) == {}


def test_a_dip_breaks_the_run() -> None:
    cpus = [30.0] * 22 + [95.0] * 3 + [70.0] + [95.0] * 3 + [30.0] * 11
    assert saturated_stages(_samples(cpus), STAGES) == {}
    assert saturated_stages(_samples(cpus), STAGES, threshold_pct=65.0).keys() == {"s2"}


def test_only_the_part_inside_the_stage_counts() -> None:
    # Busy from (1016, 1023]: 4 s in s1 and 3 s in s2 — neither reaches 5 s.
    cpus = [30.0] * 17 + [99.0] * 7 + [30.0] * 16
    assert saturated_stages(_samples(cpus), STAGES) == {}
    assert saturated_stages(_samples(cpus), STAGES, min_seconds=3.0).keys() == {"s1", "s2"}


def test_only_generator_roles_count() -> None:
    cpus = [99.0] * 40
    assert saturated_stages(_samples(cpus, role="sut"), STAGES) == {}
    assert saturated_stages(_samples(cpus, role="master"), STAGES) == {}
    assert saturated_stages(_samples(cpus, role="local"), STAGES).keys() == {"s1", "s2"}


def test_processes_are_separate_series() -> None:
    # Two workers alternating busy samples: neither is busy for 5 s in a row.
    a = _samples([99.0, 10.0] * 20, pid=1)
    b = _samples([10.0, 99.0] * 20, pid=2)
    assert saturated_stages(sorted(a + b, key=lambda s: s.ts), STAGES) == {}


def test_first_sample_covers_one_median_interval() -> None:
    spans = saturated_spans(_samples([95.0] * 3 + [10.0], step=2.0))
    assert len(spans) == 1
    assert (spans[0].start, spans[0].end) == (998.0, 1004.0)


def test_dict_stages_and_open_end() -> None:
    cpus = [95.0] * 10
    stages = [{"name": "live", "start": 1003.0, "end": None}]
    assert saturated_stages(_samples(cpus), stages).keys() == {"live"}


def test_quota_above_one_core_converts_back_to_one_core() -> None:
    # 4-core quota: a single-threaded worker at 100 % of one core reads 25 %.
    sample = _samples([24.0], quota=4.0)[0]
    assert busy_percent(sample) == 96.0
    assert busy_percent(_samples([95.0], quota=0.5)[0]) == 95.0
    assert saturated_stages(_samples([24.0] * 40, quota=4.0), STAGES).keys() == {"s1", "s2"}


def test_from_csv(tmp_path: Path) -> None:
    run = RunDir(tmp_path).create()
    out = run.open_host_samples()
    out.write_rows(s.to_row() for s in _samples([30.0] * 25 + [95.0] * 8 + [30.0] * 7))
    out.close()
    reasons = saturated_stages_from_csv(run.host_samples_csv, [m.to_dict() for m in STAGES])
    assert reasons.keys() == {"s2"}
    assert saturated_stages_from_csv(tmp_path / "missing.csv", STAGES) == {}
