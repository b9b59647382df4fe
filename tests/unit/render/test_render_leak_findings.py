"""Leak findings by side: a generator's growth is qi-load's, never listed as the agent's."""

from __future__ import annotations

from typing import Any

from qi_load.analyze.leaks import LeakFit
from qi_load.render.leak_findings import leak_findings, process_label
from qi_load.vocabulary import side_of


def _fit(role: str, pid: int, status: str) -> LeakFit:
    values: dict[str, Any] = {
        "side": side_of(role), "host": "h", "role": role, "pid": pid, "n": 60, "span_min": 10.0,
        "slope_mb_per_min": 5.0, "ci_low": 4.0, "ci_high": 6.0, "late_slope_mb_per_min": 5.0,
        "rss_start_mb": 80.0, "rss_end_mb": 130.0, "plateau_mb": None, "pattern": "persistent",
        "status": status, "detail": f"{role} detail",
    }  # fmt: skip
    fit: LeakFit = LeakFit(**values)  # type: ignore[typeddict-item]
    return fit


def test_roles_fall_on_their_side() -> None:
    assert [side_of(r) for r in ("master", "worker", "local", "target", "sut")] == [
        "qi-load", "qi-load", "qi-load", "agent", "agent",
    ]  # fmt: skip


def test_a_worker_leak_is_listed_under_qi_load_and_the_agent_has_none() -> None:
    fits = [_fit("target", 1, "none"), _fit("worker", 2, "leak"), _fit("master", 3, "growth")]
    assert leak_findings(fits) == [
        ("Memory leaks", "none found"),
        (
            "Memory leaks in qi-load itself (the load generator, not the agent)",
            "qi-load worker h/2: worker detail",
        ),
    ]


def test_the_agents_leak_alone_names_no_qi_load_process() -> None:
    fits = [_fit("sut", 7, "leak"), _fit("local", 8, "none")]
    assert leak_findings(fits) == [("Memory leaks", "sut h/7: sut detail")]
    assert process_label(fits[1]) == "qi-load local h/8"
