"""Run directories of every shape ``qi-load run`` or the plugin can leave, written with the
project's own writers, as a hypothesis strategy (and a few named shapes for CLI tests)."""

from __future__ import annotations

import csv
import json
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Final

from hypothesis import strategies as st

from qi_load.analyze.load import LOCUST_FAILURES_CSV, LOCUST_FINAL_JSON, LOCUST_STATS_CSV
from qi_load.generate.plan import stage_mark, stage_plan
from qi_load.record.environment import capture_environment
from qi_load.record.manifest import Manifest
from qi_load.record.recorder import RunWriter
from qi_load.record.rundir import RunDir, RunStatus
from qi_load.record.schema import HostSample, RequestRecord
from qi_load.scenario import Scenario
from qi_load.vocabulary import QUERY_TYPES, ErrorKind

__all__ = ["SHAPES", "RunShape", "run_shapes", "write_shape"]

T0: Final = 1_800_000_000.0
ERROR_KINDS: Final = tuple(sorted({*typing.get_args(ErrorKind), "cancelled"} - {"none"}))
"""Every failure kind the schema names, plus ``cancelled`` (in flight when the run ended)."""
QUERY_KINDS: Final = (*QUERY_TYPES, "conversation", "mcp")
ROLES: Final = ("master", "worker", "local", "target", "sut")
MISSING_FILES: Final = ("requests", "host_samples", "run_json")
LOCUST_FILES: Final = ("stats", "failures", "final", "stats_cut", "final_cut")


@dataclass(frozen=True)
class Request:
    """One request relative to its stage: where in it it started, and how it ended."""

    stage: int
    at: float
    """Fraction of the stage's planned length at which it started (may fall past an end)."""
    query_type: str
    ok: bool
    error_kind: str
    e2e_ms: float | None
    ttft_ms: float | None
    quality_ok: bool | None
    server_phases: bool


@dataclass(frozen=True)
class Process:
    role: str
    pid: int
    samples: int
    rss_mb: float
    growth_mb_per_s: float
    cpu: float


@dataclass(frozen=True)
class RunShape:
    """What a run left behind: its plan, how far it got, its rows and which files exist."""

    scenario: dict[str, Any] | None
    status: RunStatus
    ran_fraction: float = 1.0
    """How much of the plan ran before an interruption or crash (1.0: all of it)."""
    requests: tuple[Request, ...] = ()
    processes: tuple[Process, ...] = ()
    missing: frozenset[str] = frozenset()
    locust: frozenset[str] = frozenset()
    """Which of Locust's own files exist: ``stats``, ``failures``, ``final``, and which it
    was rewriting when killed: ``stats_cut``, ``final_cut``."""
    cut: frozenset[str] = frozenset()
    """CSVs whose last row a kill cut off (``requests``, ``host_samples``): only a run that
    never closed its files (``running``) can leave that."""
    end_written: bool = True
    """False: ``end`` is null although the run stopped (its stages are still cut short)."""
    stages_written: bool = True
    """False: killed before its first stage began (run.json lists none)."""
    lost_worker: bool = False


@cache
def _environment() -> dict[str, Any]:
    return dict(capture_environment())


def _scenario_model(shape: RunShape) -> Scenario | None:
    return Scenario.model_validate(shape.scenario) if shape.scenario is not None else None


def _record(req: Request, ts: float, stage: str, users: int, run_end: float) -> RequestRecord:
    cancelled = req.error_kind == "cancelled"
    e2e = max(run_end - ts, 0.0) * 1000.0 if cancelled else req.e2e_ms
    mcp = req.query_type == "mcp"
    tokens = None if mcp or not req.ok else 40
    return RequestRecord(
        ts_sched=ts,
        ts_start=ts,
        worker="local",
        user_id=1,
        query_type=req.query_type,
        name=req.query_type if not mcp else "tools/call:calculator",
        stage=stage,
        users=users,
        ok=req.ok,
        error_kind="none" if req.ok else req.error_kind,  # type: ignore[arg-type]
        status_code=200 if req.ok else (500 if req.error_kind == "http" else 0),
        ttft_ms=None if mcp or cancelled else req.ttft_ms,
        e2e_ms=e2e,
        tpot_ms=None if tokens is None or e2e is None else e2e / 80.0,
        output_tokens=tokens,
        tokens_source="usage" if tokens else "",
        quality_ok=req.quality_ok,
        srv_request_ms=1.0 if req.server_phases else None,
        srv_llm_ms=(e2e or 0.0) * 0.8 if req.server_phases else None,
    )


def write_shape(root: Path, shape: RunShape) -> Path:
    """Write ``shape`` as the plugin and Locust would have (``root`` must not exist)."""
    run_dir = RunDir(root).create()
    scenario = _scenario_model(shape)
    plan = stage_plan(scenario) if scenario is not None else []
    planned_end = T0 + (plan[-1].end_s if plan else 30.0)
    ran_until = T0 + (planned_end - T0) * shape.ran_fraction
    end = None if shape.status == "running" else ran_until
    # The plugin cuts stages at the end of an interrupted run and drops those never begun;
    # a crashed one still shows the whole plan it wrote at the start.
    marks = [
        stage_mark(s, T0 + s.start_s, T0 + s.end_s if end is None else min(T0 + s.end_s, end))
        for s in plan
        if (end is None or T0 + s.start_s < end) and shape.stages_written
    ]
    records = []
    for req in shape.requests:
        stage = plan[req.stage % len(plan)] if plan else None
        start = T0 + (stage.start_s if stage else 0.0)
        length = (stage.end_s - stage.start_s) if stage else planned_end - T0
        ts = start + req.at * length
        if ts >= ran_until:
            continue
        name, users = (stage.name, stage.users) if stage else ("", 0)
        records.append(_record(req, ts, name, users, ran_until))
    records.sort(key=lambda r: r.ts_start + (r.e2e_ms or 0.0) / 1000.0)
    samples = [
        HostSample(
            ts=T0 + i * (ran_until - T0) / max(p.samples, 1),
            host="h1",
            role=p.role,  # type: ignore[arg-type]
            pid=p.pid,
            cpu_percent=p.cpu,
            rss_bytes=int((p.rss_mb + p.growth_mb_per_s * i) * 2**20),
            host_cpu_percent=p.cpu,
            host_mem_available_bytes=2**33,
        )
        for p in shape.processes
        for i in range(p.samples)
    ]
    writer = RunWriter(run_dir)
    writer.write_records(records)
    writer.write_host_samples(samples)
    writer.close()
    manifest = {
        "run_id": root.name,
        "status": shape.status,
        "mode": "local",
        "scenario": scenario.model_dump(mode="json") if scenario is not None else None,
        "target_url": "http://127.0.0.1:8000",
        "start": T0,
        "end": end if shape.end_written else None,
        "test_start": T0 if plan else None,
        "interrupted_by": "SIGINT" if shape.status == "interrupted" else None,
        "expected_workers": 0,
        "workers": [{"id": "w1", "joined": T0, "lost_at": None}],
        "lost_workers": [{"id": "w2", "at": T0 + 1.0}] if shape.lost_worker else [],
        "stages": [dict(m.to_dict()) for m in marks],
        "environment": _environment(),
        "counts": {"requests": len(records), "host_samples": len(samples)},
    }
    run_dir.write_manifest(Manifest.model_validate(manifest))
    _write_locust(root, shape.locust, records)
    for name, path in (
        ("requests", run_dir.requests_csv),
        ("host_samples", run_dir.host_samples_csv),
        ("run_json", run_dir.run_json),
    ):
        if name in shape.cut and shape.status == "running":
            path.write_bytes(path.read_bytes()[:-5])
        if name in shape.missing:
            path.unlink()
    return root


def _write_locust(root: Path, which: frozenset[str], records: Sequence[RequestRecord]) -> None:
    """Locust's own files as ``--csv`` and ``--json-file`` write them (one entry per name)."""
    names = sorted({r.name for r in records})
    counts = {n: sum(r.name == n for r in records) for n in names}
    fails = {n: sum(r.name == n and not r.ok for r in records) for n in names}
    if "stats" in which:
        with (root / LOCUST_STATS_CSV).open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["Type", "Name", "Request Count", "Failure Count"])
            out.writerows(["POST", n, counts[n], fails[n]] for n in names)
            out.writerow(["", "Aggregated", len(records), sum(fails.values())])
    if "failures" in which:
        with (root / LOCUST_FAILURES_CSV).open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["Method", "Name", "Error", "Occurrences"])
            out.writerows(["POST", n, "HTTPError 500", fails[n]] for n in names if fails[n])
    if "final" in which:
        entries = [
            {"name": n, "method": "POST", "num_requests": counts[n], "num_failures": fails[n]}
            for n in names
        ]
        (root / LOCUST_FINAL_JSON).write_text(json.dumps(entries))
    for name, file in (("stats_cut", LOCUST_STATS_CSV), ("final_cut", LOCUST_FINAL_JSON)):
        path = root / file
        if name in which and path.is_file():
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


# -- hypothesis strategies ---------------------------------------------------------------

_latency = st.one_of(st.none(), st.floats(0.0, 60_000.0, allow_nan=False))


@st.composite
def _scenario(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.integers(0, 7)) == 0:
        return None  # a plain-Locust run without a scenario
    stages = [
        {
            "name": f"s{i}",
            "users": draw(st.integers(0, 50)),
            "ramp_s": draw(st.sampled_from([0.0, 1.0, 5.0])),
            "hold_s": draw(st.sampled_from([1.0, 2.0, 10.0, 40.0])),
        }
        for i in range(draw(st.integers(1, 4)))
    ]
    types = draw(st.lists(st.sampled_from(QUERY_KINDS[:-1]), max_size=3, unique=True))
    slos = {t: {"e2e_p95_ms": draw(st.floats(1.0, 10_000.0))} for t in types}
    return {
        "name": "generated",
        "stages": stages,
        "warmup_s": draw(st.sampled_from([0.0, 0.0, 2.0])),
        "settle_s": draw(st.sampled_from([0.0, 1.0, 30.0])),
        "slos": slos,
    }


def _requests(kinds: Sequence[str]) -> st.SearchStrategy[tuple[Request, ...]]:
    def one(ok: bool) -> st.SearchStrategy[Request]:
        return st.builds(
            Request,
            stage=st.integers(0, 5),
            at=st.floats(-0.1, 1.2),
            query_type=st.sampled_from(kinds),
            ok=st.just(ok),
            error_kind=st.sampled_from(ERROR_KINDS),
            e2e_ms=_latency if not ok else st.floats(0.0, 60_000.0),
            ttft_ms=_latency,
            quality_ok=st.one_of(st.none(), st.booleans()),
            server_phases=st.booleans(),
        )

    # Whole runs of one outcome (all failed, all ok) as often as mixes.
    return st.one_of(
        st.lists(one(False), max_size=40),
        st.lists(one(True), max_size=40),
        st.lists(st.one_of(one(True), one(False)), max_size=40),
    ).map(tuple)


_processes = st.lists(
    st.builds(
        Process,
        role=st.sampled_from(ROLES),
        pid=st.integers(1, 4),
        samples=st.integers(0, 40),
        rss_mb=st.floats(1.0, 500.0),
        growth_mb_per_s=st.sampled_from([0.0, 0.0, 0.1, -0.05]),
        cpu=st.floats(0.0, 400.0),
    ),
    max_size=4,
    unique_by=lambda p: (p.role, p.pid),
).map(tuple)


@st.composite
def run_shapes(draw: st.DrawFn) -> RunShape:
    """Any run directory the plugin can leave: complete, interrupted, crashed or failed."""
    kinds = draw(st.sampled_from([QUERY_KINDS, ("mcp",), ("simple",), ("simple", "mcp")]))
    missing = draw(st.frozensets(st.sampled_from(MISSING_FILES)))
    if {"requests", "run_json"} <= missing:
        missing -= {"run_json"}  # then it is not a run directory (exit 2, tested apart)
    return RunShape(
        scenario=draw(_scenario()),
        status=draw(st.sampled_from(["complete", "interrupted", "running", "failed"])),
        ran_fraction=draw(st.sampled_from([1.0, 0.999, 0.5, 0.1, 0.01])),
        requests=draw(_requests(kinds)),
        processes=draw(_processes),
        missing=missing,
        locust=draw(st.frozensets(st.sampled_from(LOCUST_FILES))),
        cut=draw(st.frozensets(st.sampled_from(["requests", "host_samples"]))),
        end_written=draw(st.integers(0, 4)) > 0,
        stages_written=draw(st.integers(0, 9)) > 0,
        lost_worker=draw(st.booleans()),
    )


# -- named shapes for the CLI tests --------------------------------------------------------

_LADDER: Final = {
    "name": "named",
    "settle_s": 1.0,
    "stages": [
        {"name": "one", "users": 1, "hold_s": 10.0},
        {"name": "four", "users": 4, "ramp_s": 1.0, "hold_s": 10.0},
    ],
}


def _many(ok: bool, kind: str, query_type: str = "simple", n: int = 30) -> tuple[Request, ...]:
    return tuple(
        Request(i % 2, (i + 0.5) / n, query_type, ok, kind, 150.0 + i, 40.0, None, False)
        for i in range(n)
    )


_BASE: Final = RunShape(scenario=_LADDER, status="complete", locust=frozenset({"final"}))
SHAPES: Final[dict[str, Callable[[], RunShape]]] = {
    "all_failed": lambda: replace(_BASE, requests=_many(False, "connect")),
    "all_cancelled": lambda: replace(_BASE, requests=_many(False, "cancelled")),
    "one_request": lambda: replace(_BASE, requests=_many(True, "none", n=1)),
    "zero_requests": lambda: replace(_BASE, locust=frozenset()),
    "mcp_only": lambda: replace(_BASE, requests=_many(True, "none", "mcp")),
    "crashed_running": lambda: replace(
        _BASE, status="running", ran_fraction=0.3, requests=_many(True, "none")
    ),
    "interrupted_no_samples": lambda: replace(
        _BASE,
        status="interrupted",
        ran_fraction=0.6,
        requests=_many(False, "timeout"),
        missing=frozenset({"host_samples"}),
        locust=frozenset(),
    ),
}
