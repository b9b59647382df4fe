"""Degradation across stages: curves, knee, scalability limit, first-saturated resource."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple, TypedDict

from qi_load.analyze.cpu import usable_share
from qi_load.analyze.ladder import insufficient_note, ladder, sufficient
from qi_load.analyze.stages import SloCheck, StageStats, slo_failure
from qi_load.monitor.saturation import DEFAULT_THRESHOLD_PCT
from qi_load.units import MB
from qi_load.vocabulary import GENERATOR_ROLES, TARGET_ROLES

__all__ = [
    "UNSAMPLED_AGENT_HINT",
    "CpuLevel",
    "CurvePoint",
    "Degradation",
    "DegradationSettings",
    "Finding",
    "Knee",
    "Limit",
    "Saturation",
    "agent_sampled",
    "cpu_saturation",
    "degradation",
    "noisy_neighbour",
]


@dataclass(frozen=True)
class DegradationSettings:
    """Thresholds of the degradation analysis (documented in docs/analysis.md)."""

    gain_threshold: float = 0.5
    """Knee: added users bring less than this share of the ideal (linear) throughput gain."""
    latency_factor: float = 2.0
    """Knee: E2E p95 exceeds this multiple of the lowest stage's p95."""
    target_cpu_pct: float = 80.0
    """Target CPU saturated at this mean share of the cores it may use (affinity, quota) ..."""
    plateau_tolerance: float = 0.1
    """... unless the next stage's throughput rises by more than this share; CPU and
    throughput that both rise by less have stopped rising (a plateau)."""
    busy_thread_cores: float = 0.8
    """A CPU plateau names the CPU from this many cores: one thread running flat out."""
    host_busy_pct: float = 85.0
    """Noisy neighbour: the host's CPU is at least this busy (100 = every core) ..."""
    other_cores_pct: float = 25.0
    """... and processes qi-load does not sample take at least this share of its cores."""
    generator_cpu_pct: float = DEFAULT_THRESHOLD_PCT
    """A load generator busier than this on average distorts timings (the live rule's
    threshold, ``qi_load.monitor.saturation``)."""
    ttft_factor: float = 1.5
    """Inference queue: median TTFT above this multiple of the baseline ..."""
    ttft_min_increase_ms: float = 20.0
    """... and at least this much higher, while target CPU stays below its threshold."""
    memory_available_pct: float = 10.0
    """Memory saturated when the host's available memory falls below this share."""


class CurvePoint(TypedDict):
    stage: str
    users: int
    valid: bool
    throughput_rps: float
    ideal_rps: float | None
    efficiency: float | None
    goodput_rps: float
    error_rate: float
    e2e_p50_ms: float | None
    e2e_p95_ms: float | None
    e2e_p99_ms: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    target_cpu_mean: float | None


Finding = Literal["found", "none", "insufficient_data"]
"""A knee or limit named; none there (the detail says why); or too few requests to tell."""


class Knee(TypedDict):
    stage: str | None
    users: int | None
    criterion: str | None
    status: Finding
    detail: str


class Limit(TypedDict):
    users: int | None
    stage: str | None
    status: Finding
    detail: str


class Saturation(TypedDict):
    resource: str | None
    stage: str | None
    users: int | None
    evidence: str


class Degradation(TypedDict):
    baseline_stage: str | None
    per_user_rps: float | None
    points: list[CurvePoint]
    knee: Knee
    scalability_limit: Limit
    first_saturated: Saturation


class CpuLevel(NamedTuple):
    """The target's CPU at one stage of the ladder."""

    users: int
    throughput_rps: float
    cores: float
    """Cores the target kept busy (mean)."""
    share: float
    """Of the cores it may use (1 = all)."""


def cpu_saturation(
    levels: Sequence[CpuLevel], settings: DegradationSettings | None = None
) -> list[str | None]:
    """Evidence that the target's CPU is saturated at each level (``None``: it is not).

    Saturated at a level when the next level's throughput rises by no more than the
    tolerance and either the CPU is at ``target_cpu_pct`` of its usable cores, or it has
    stopped rising at a thread's worth or more (a one-thread server: flat at one core on a
    larger host). CPU flat while throughput keeps rising is not saturation: the server
    does more work per CPU-second as it batches. At the highest level only the share of the
    usable cores can tell.
    """
    settings = settings or DegradationSettings()
    return [
        _cpu_evidence(cur, levels[i + 1] if i + 1 < len(levels) else None, settings)
        for i, cur in enumerate(levels)
    ]


def _cpu_evidence(cur: CpuLevel, nxt: CpuLevel | None, settings: DegradationSettings) -> str | None:
    tol = settings.plateau_tolerance
    at_share = cur.share * 100.0 >= settings.target_cpu_pct
    used = (
        f"target CPU {cur.cores:.2f} cores, {cur.share * 100:.0f} % of what it may use "
        f"(threshold {settings.target_cpu_pct:g} %)"
    )
    if nxt is None:
        return f"{used}, at the most users tested" if at_share else None
    if nxt.throughput_rps > cur.throughput_rps * (1.0 + tol):
        return None
    stalled = (
        f"throughput {cur.throughput_rps:.2f} → {nxt.throughput_rps:.2f} req/s from "
        f"{cur.users} to {nxt.users} users"
    )
    if at_share:
        return f"{used}; {stalled}"
    if cur.cores >= settings.busy_thread_cores and nxt.cores <= cur.cores * (1.0 + tol):
        return (
            f"target CPU stopped rising at {cur.cores:.2f} cores ({nxt.cores:.2f} at "
            f"{nxt.users} users; {cur.share * 100:.0f} % of what it may use) while {stalled}: "
            "a thread running flat out"
        )
    return None


UNSAMPLED_AGENT_HINT: Final = (
    "; the agent was not sampled: if it runs on this host, that other process is probably "
    "the agent itself: sample it with --monitor-pid PID or --monitor-name NAME"
)
"""Appended when no agent process was sampled: a server on the load generator's host is
otherwise blamed as a neighbour (a first run with ``--host`` against a local server)."""


def agent_sampled(stage: StageStats) -> bool:
    """A process of the agent's side was sampled in ``stage`` (``--monitor-pid``, the
    reference agent, a sidecar)."""
    return any(r in stage["roles"] for r in TARGET_ROLES)


def noisy_neighbour(
    host: str,
    busy_pct: float,
    cores: int,
    others: float | None,
    settings: DegradationSettings | None = None,
) -> str | None:
    """Evidence that other processes took the host's CPU (``None``: they did not)."""
    settings = settings or DegradationSettings()
    if others is None or cores <= 0 or busy_pct < settings.host_busy_pct:
        return None
    if others < settings.other_cores_pct / 100.0 * cores:
        return None
    return (
        f"host CPU taken by other processes (noisy neighbour): {host} was {busy_pct:.0f} % "
        f"busy and {others:.2f} of its {cores} cores went to processes qi-load does not "
        f"sample (thresholds {settings.host_busy_pct:g} % busy, "
        f"{settings.other_cores_pct:g} % of the cores)"
    )


def _cpu_levels(ladder: Sequence[StageStats]) -> list[CpuLevel]:
    """Target CPU per ladder stage; stages without target samples end the ladder."""
    levels = []
    for s in ladder:
        roles = [s["roles"][r] for r in TARGET_ROLES if r in s["roles"]]
        if not roles:
            break
        busiest = max(
            roles,
            key=lambda r: usable_share(r["cpu_cores_mean"], r["cpu_usable_cores"], r["cpu_mean"]),
        )
        levels.append(
            CpuLevel(
                users=s["users"],
                throughput_rps=s["overall"]["throughput_rps"],
                cores=busiest["cpu_cores_mean"],
                share=usable_share(
                    busiest["cpu_cores_mean"], busiest["cpu_usable_cores"], busiest["cpu_mean"]
                ),
            )
        )
    return levels


def _role_value(stage: StageStats, roles: Collection[str], key: str) -> float | None:
    values = [float(stage["roles"][r][key]) for r in roles if r in stage["roles"]]  # type: ignore[literal-required]
    return max(values) if values else None


def _points(stages: Sequence[StageStats], per_user: float | None) -> list[CurvePoint]:
    points = []
    for s in stages:
        o = s["overall"]
        ideal = per_user * s["users"] if per_user else None
        points.append(
            CurvePoint(
                stage=s["name"],
                users=s["users"],
                valid=s["invalid"] is None,
                throughput_rps=o["throughput_rps"],
                ideal_rps=ideal,
                efficiency=o["throughput_rps"] / ideal if ideal else None,
                goodput_rps=o["goodput_rps"],
                error_rate=o["error_rate"],
                e2e_p50_ms=o["e2e_ms"]["p50"],
                e2e_p95_ms=o["e2e_ms"]["p95"],
                e2e_p99_ms=o["e2e_ms"]["p99"],
                ttft_p50_ms=o["ttft_ms"]["p50"],
                ttft_p95_ms=o["ttft_ms"]["p95"],
                target_cpu_mean=_role_value(s, TARGET_ROLES, "cpu_mean"),
            )
        )
    return points


def _knee(full: Sequence[StageStats], settings: DegradationSettings) -> Knee:
    ladder = [s for s in full if sufficient(s)]
    thin = insufficient_note(full)
    if len(ladder) < 2:
        if thin:
            return Knee(
                stage=None, users=None, criterion=None, status="insufficient_data",
                detail=f"insufficient data: {thin}; a knee needs two stages that have enough",
            )  # fmt: skip
        return Knee(
            stage=None, users=None, criterion=None, status="none",
            detail="fewer than two valid stages",
        )  # fmt: skip
    note = f" ({thin}: left out)" if thin else ""
    base = ladder[0]
    per_user = base["overall"]["throughput_rps"] / max(base["users"], 1)
    if per_user <= 0:
        # No ideal gain to compare with: "kept scaling" would be claimed at 0 req/s.
        return Knee(
            stage=None,
            users=None,
            criterion=None,
            status="none",
            detail=f"no request completed at the lowest stage ({base['name']}, "
            f"{base['users']} users): scaling cannot be judged",
        )
    base_p95 = base["overall"]["e2e_ms"]["p95"]
    for prev, cur in itertools.pairwise(ladder):
        ideal_gain = per_user * (cur["users"] - prev["users"])
        gain = cur["overall"]["throughput_rps"] - prev["overall"]["throughput_rps"]
        if ideal_gain > 0 and gain < settings.gain_threshold * ideal_gain:
            return Knee(
                stage=cur["name"],
                users=cur["users"],
                criterion="throughput",
                status="found",
                detail=(
                    f"{prev['users']}→{cur['users']} users added {gain:.2f} req/s, "
                    f"{gain / ideal_gain:.0%} of the ideal {ideal_gain:.2f} req/s "
                    f"(threshold {settings.gain_threshold:.0%})" + note
                ),
            )
        p95 = cur["overall"]["e2e_ms"]["p95"]
        if base_p95 and p95 and p95 > settings.latency_factor * base_p95:
            return Knee(
                stage=cur["name"],
                users=cur["users"],
                criterion="latency",
                status="found",
                detail=(
                    f"E2E p95 {p95:.0f} ms is {p95 / base_p95:.1f}x the {base['users']}-user "
                    f"baseline {base_p95:.0f} ms (threshold {settings.latency_factor:g}x)" + note
                ),
            )
    return Knee(
        stage=None,
        users=None,
        criterion=None,
        status="none",
        detail=f"throughput kept scaling up to {ladder[-1]['users']} users" + note,
    )


_LOAD_INDEPENDENT: Final = frozenset({"quality_rate_min"})
"""SLO metrics that judge the answers, not the service's speed: failing already at the
lowest load they say nothing about capacity (they still fail the run's verdict)."""


def _load_independent(ladder: Sequence[StageStats]) -> dict[tuple[str, str], str]:
    """Quality SLOs that fail at the lowest stage that measured them, with that failure in
    words: a model that answers wrong when idle is wrong at every load."""
    first: dict[tuple[str, str], SloCheck] = {}
    for s in ladder:
        for c in s["overall"]["slo_checks"]:
            key = (c["query_type"], c["metric"])
            if c["metric"] in _LOAD_INDEPENDENT and c["ok"] is not None and key not in first:
                first[key] = c
    return {
        key: f"{slo_failure(c)} from the lowest load on" for key, c in first.items() if not c["ok"]
    }


def _limit(full: Sequence[StageStats]) -> Limit:
    """The most users before the first stage that breaks a load-dependent SLO, over the
    stages with enough requests."""
    ladder = [s for s in full if sufficient(s)]
    thin = insufficient_note(full)
    if not ladder and thin:
        return Limit(
            users=None, stage=None, status="insufficient_data", detail=f"insufficient data: {thin}"
        )
    ignored = _load_independent(ladder)
    note = (
        "; not counted (load-independent, still failing the verdict): "
        + "; ".join(list(ignored.values())[:4])
        if ignored
        else ""
    )
    if thin:
        note += f"; {thin}"
    verdicts: list[tuple[StageStats, list[SloCheck]]] = []
    for s in ladder:
        checks = [
            c
            for c in s["overall"]["slo_checks"]
            if c["ok"] is not None and (c["query_type"], c["metric"]) not in ignored
        ]
        if checks:
            verdicts.append((s, [c for c in checks if not c["ok"]]))
    if not verdicts:
        what = "no load-dependent SLO measured" if ignored else "no SLOs in the scenario"
        return Limit(users=None, stage=None, status="none", detail=what + note)
    every = "every load-dependent SLO" if ignored else "every SLO"
    best: StageStats | None = None
    for s, failed in verdicts:
        if failed:
            head = (
                f"{every} holds up to {best['users']} users"
                if best
                else "an SLO already fails at the lowest stage"
            )
            return Limit(
                users=best["users"] if best else None,
                stage=best["name"] if best else None,
                status="found" if best else "none",
                detail=f"{head}; at {s['users']} users: "
                + "; ".join(slo_failure(c) for c in failed[:4])
                + note,
            )
        best = s
    assert best is not None
    return Limit(
        users=best["users"],
        stage=best["name"],
        status="found",
        detail=f"{every} holds at every stage up to {best['users']} users (the most tested)" + note,
    )


_MIN_REF_SAMPLES: Final = 3


def _ttft_refs(ladder: Sequence[StageStats]) -> dict[str, float]:
    """Unloaded median TTFT per query type: from the lowest stage with a few samples of it."""
    refs: dict[str, float] = {}
    for s in ladder:
        for qt, q in s["per_type"].items():
            p50 = q["ttft_ms"]["p50"]
            if qt not in refs and p50 and q["ttft_ms"]["n"] >= _MIN_REF_SAMPLES:
                refs[qt] = p50
    return refs


def _ttft_rise(s: StageStats, refs: Mapping[str, float]) -> tuple[float, float] | None:
    """(ratio, increase in ms) of the stage's median TTFTs over the references, per query
    type weighted by its requests, so a stage is not 'slower' for drawing more slow types."""
    weights = ratios = increases = 0.0
    for qt, q in s["per_type"].items():
        p50, n = q["ttft_ms"]["p50"], q["ttft_ms"]["n"]
        if qt in refs and p50 is not None and n:
            weights += n
            ratios += n * p50 / refs[qt]
            increases += n * (p50 - refs[qt])
    return (ratios / weights, increases / weights) if weights else None


def _signal(
    s: StageStats,
    refs: Mapping[str, float],
    memory_total: Any,
    cpu_evidence: str | None,
    settings: DegradationSettings,
) -> tuple[str, str] | None:
    """(resource, evidence) of the first saturation seen in one stage, checked in the order
    that decides which reading can be trusted: a host shared with a CPU-hungry process
    distorts everything, a busy generator every latency."""
    for host, h in sorted(s.get("hosts", {}).items()):  # absent in hand-built stages
        neighbour = noisy_neighbour(host, h["busy_pct"], h["cores"], h["other_cores"], settings)
        if neighbour is not None:
            if not agent_sampled(s):
                neighbour += UNSAMPLED_AGENT_HINT
            return "host_cpu", neighbour
    if s["invalid"] is not None:
        return "load_generator", f"stage marked invalid: {s['invalid']}"
    gen_cpu = _role_value(s, GENERATOR_ROLES, "cpu_mean")
    if gen_cpu is not None and gen_cpu > settings.generator_cpu_pct:
        return "load_generator", (
            f"load generator CPU {gen_cpu:.0f} % > {settings.generator_cpu_pct:g} %"
        )
    if cpu_evidence is not None:
        return "target_cpu", cpu_evidence
    cpu = _role_value(s, TARGET_ROLES, "cpu_mean")
    avail = _role_value(s, TARGET_ROLES, "host_mem_available_min_mb")
    if (
        avail is not None
        and isinstance(memory_total, int | float)
        and avail * MB < memory_total * settings.memory_available_pct / 100
    ):
        return "memory", (
            f"host memory available fell to {avail:.0f} MB "
            f"(< {settings.memory_available_pct:g} % of {memory_total / MB:.0f} MB)"
        )
    found = _ttft_rise(s, refs)
    if found is None:
        return None
    ratio, increase = found
    if ratio <= settings.ttft_factor or increase < settings.ttft_min_increase_ms:
        return None
    rise = f"median TTFT per query type rose {ratio:.1f}x (+{increase:.0f} ms) over the lowest load"
    if cpu is None:
        return "unknown", f"{rise} but no target samples to attribute it"
    return "inference_queue", (
        f"{rise} while target CPU stayed at {cpu:.0f} %, short of saturation: "
        "requests wait for the model, not the CPU"
    )


def _saturation(
    stages: Sequence[StageStats],
    ladder: Sequence[StageStats],
    environment: Mapping[str, Any],
    settings: DegradationSettings,
) -> Saturation:
    refs = _ttft_refs(ladder)
    levels = _cpu_levels(ladder)
    cpu = {
        s["name"]: evidence
        for s, evidence in zip(ladder, cpu_saturation(levels, settings), strict=False)
    }
    for s in sorted(stages, key=lambda s: (s["users"], s["index"])):
        found = _signal(s, refs, environment.get("memory_bytes"), cpu.get(s["name"]), settings)
        if found is not None:
            return Saturation(
                resource=found[0], stage=s["name"], users=s["users"], evidence=found[1]
            )
    return Saturation(
        resource=None, stage=None, users=None, evidence="no resource saturated in any stage"
    )


def degradation(
    stages: Sequence[StageStats],
    environment: Mapping[str, Any] | None = None,
    settings: DegradationSettings | None = None,
) -> Degradation:
    """The degradation verdicts of a ladder (invalid stages are shown but not concluded from)."""
    settings = settings or DegradationSettings()
    full = ladder(stages)
    # The ideal line starts at the lowest stage with enough requests to measure its rate.
    base = next((s for s in full if sufficient(s)), full[0] if full else None)
    per_user = base["overall"]["throughput_rps"] / max(base["users"], 1) if base else None
    return Degradation(
        baseline_stage=base["name"] if base else None,
        per_user_rps=per_user,
        points=_points(sorted(stages, key=lambda s: (s["users"], s["index"])), per_user),
        knee=_knee(full, settings),
        scalability_limit=_limit(full),
        first_saturated=_saturation(stages, full, environment or {}, settings),
    )
