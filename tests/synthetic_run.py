"""Synthetic run directories with known properties (capacity, leak, errors) for tests and
benchmarks: every analysis must find exactly what was put in."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from qi_load.record.schema import HOST_SAMPLE_TABLE, REQUEST_TABLE, Field, StageMark
from qi_load.units import MB

__all__ = ["SyntheticRun", "capacity_users", "write_synthetic_run"]


@dataclass
class SyntheticRun:
    """A closed-loop ladder against a server with ``slots`` parallel slots.

    Each request takes ``service_s`` in a slot; users think ``think_s`` between requests.
    Throughput is ``min(users / (service + think), slots / service)`` and the excess users
    wait in the server's queue, which shows up in TTFT and E2E while target CPU stays low.
    """

    users: tuple[int, ...] = (1, 2, 4, 8, 16)
    ramp_s: float = 2.0
    hold_s: float = 40.0
    settle_s: float = 4.0
    warmup_s: float = 0.0
    slots: int = 4
    service_s: float = 0.5
    ttft_s: float = 0.15
    think_s: float = 0.5
    tokens: int = 40
    query_types: tuple[str, ...] = ("simple", "reasoning")
    slos: dict[str, dict[str, float]] = field(
        default_factory=lambda: {
            "simple": {"ttft_p95_ms": 1500.0, "e2e_p95_ms": 2000.0, "error_rate": 0.05},
            "reasoning": {"ttft_p95_ms": 1500.0, "e2e_p95_ms": 2000.0, "error_rate": 0.05},
        }
    )
    leak_mb_per_min: float = 0.0
    leak_role: str = "target"
    """The sampled process that leaks (master, worker or target)."""
    target_cpu_base: float = 4.0
    target_cpu_per_rps: float = 1.5
    host_cores: int = 0
    """The host's cores (0: not recorded, as in older run directories) ..."""
    other_cores: float = 0.0
    """... and cores taken by processes the run does not sample (a noisy neighbour)."""
    target_usable_cores: float | None = None
    workers: int = 1
    """Worker processes sampled (each with its share of the generator CPU); with the master
    and the target, ``workers + 2`` processes."""
    sample_interval_s: float = 1.0
    error_rate: float = 0.0
    slowdown: float = 1.0
    noise: float = 0.08
    seed: int = 0
    start: float = 1_800_000_000.0
    status: str = "complete"
    invalid: dict[int, str] = field(default_factory=dict)
    failure_text: str = "HTTPError 500: <b>internal</b>"
    model: str = "qi-sim"


def capacity_users(spec: SyntheticRun) -> float:
    """Users at which the slots are exactly full: ``slots * (service + think) / service``."""
    service = spec.service_s * spec.slowdown
    return spec.slots * (service + spec.think_s) / service


def write_synthetic_run(path: Path | str, spec: SyntheticRun | None = None) -> Path:
    """Write ``run.json``, ``requests.csv``, ``host_samples.csv`` and Locust CSVs."""
    spec = spec or SyntheticRun()
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    stages, rates = [], []
    rows = failures = 0
    t = spec.start
    # Stage by stage, appended: a 10-million-row run never has to fit in memory at once.
    for index, users in enumerate(spec.users):
        start, ramp_end, end = t, t + spec.ramp_s, t + spec.ramp_s + spec.hold_s
        mark = StageMark(index, f"u{users}", users, start, ramp_end, end, spec.invalid.get(index))
        stages.append(dict(mark.to_dict()))
        rate, columns = _stage_requests(spec, rng, f"u{users}", users, start, end)
        order = np.argsort(columns["ts_start"], kind="stable")
        # A constant column stays a broadcast (stride 0): ``_formatted`` formats it once.
        columns = {n: v[order] if v.strides[0] else v for n, v in columns.items()}
        _write_requests(root / "requests.csv", columns, header=index == 0)
        rows, failures = rows + order.size, failures + int((~columns["ok"]).sum())
        rates.append((start, end, rate))
        t = end
    _write_samples(root / "host_samples.csv", _samples(spec, rng, rates, spec.start, t))
    _write_manifest(root / "run.json", spec, stages, t, rows)
    _write_locust(root, spec, rows, failures)
    return root


def _stage_requests(
    spec: SyntheticRun, rng: np.random.Generator, stage: str, users: int, t0: float, t1: float
) -> tuple[float, dict[str, np.ndarray]]:
    """The stage's throughput and its requests, column by column (plain arrays: a DataFrame
    cost more to build and sort than the rows cost to draw)."""
    service = spec.service_s * spec.slowdown
    ttft = spec.ttft_s * spec.slowdown
    rate = min(users / (service + spec.think_s), spec.slots / service)
    wait = max(0.0, users / rate - spec.think_s - service)
    # Stratified arrivals: the count in any window is the rate's, give or take one request.
    n = round(rate * (t1 - t0))
    ends = t0 + (np.arange(n) + rng.uniform(0.0, 1.0, n)) / rate
    factor = rng.lognormal(0.0, spec.noise, n)
    waits = rng.exponential(wait, n) if wait > 0 else np.zeros(n)
    ttft_ms = (ttft * factor + waits) * 1000.0
    e2e_ms = (service * factor + waits) * 1000.0
    ok = rng.random(n) >= spec.error_rate
    qtypes = rng.choice(np.array(spec.query_types), n)
    tokens = np.full(n, spec.tokens, dtype=np.int64)
    columns = {
        name: np.broadcast_to(values, n)
        for name, values in {
            "ts_sched": ends - e2e_ms / 1000.0,
            "ts_start": ends - e2e_ms / 1000.0,
            "worker": "w1",
            "user_id": rng.integers(0, users, n),
            "query_type": qtypes,
            "name": qtypes,
            "conversation_id": "",
            "turn": 0,
            "stage": stage,
            "users": users,
            "ok": ok,
            "error_kind": np.where(ok, "none", "http"),
            "status_code": np.where(ok, 200, 500),
            "ttft_ms": np.where(ok, ttft_ms, np.nan),
            "e2e_ms": e2e_ms,
            "tpot_ms": np.where(ok, (e2e_ms - ttft_ms + waits * 0) / (spec.tokens - 1), np.nan),
            "itl_p50_ms": np.nan,
            "itl_max_ms": np.nan,
            "output_tokens": np.where(ok, tokens, 0),
            "input_tokens": 20,
            "tokens_source": "usage",
            "tool_calls": 0,
            "quality_ok": ok,
            "srv_request_ms": 1.0,
            "srv_tool_ms": 0.0,
            "srv_llm_ms": (e2e_ms - 2.0),
            "srv_format_ms": 1.0,
            "bytes": 4000,
            "ttfc_ms": np.where(ok, ttft_ms, np.nan),
            "retries": 0,
        }.items()
    }
    return rate, columns


def _samples(
    spec: SyntheticRun,
    rng: np.random.Generator,
    rates: list[tuple[float, float, float]],
    t0: float,
    t1: float,
) -> dict[str, np.ndarray]:
    """Every sampled process's rows, by time (plain arrays, as the requests)."""
    ts = np.arange(t0, t1, spec.sample_interval_s)
    rate = np.zeros_like(ts)
    for start, end, value in rates:
        rate[(ts >= start) & (ts < end)] = value
    n = ts.size
    minutes = (ts - t0) / 60.0
    parts = []
    busy = (3.0 + 2.0 + 1.0 * rate + spec.target_cpu_base + spec.target_cpu_per_rps * rate) / 100
    host_cpu = (
        np.clip((busy + spec.other_cores) / spec.host_cores * 100.0, 0.0, 100.0)
        if spec.host_cores
        else np.full(n, 20.0)
    )
    leak = spec.leak_mb_per_min * MB * minutes
    roles = (
        ("master", 100, 3.0 + 0 * rate, 70 * MB + leak * (spec.leak_role == "master")),
        *(
            (
                "worker",
                101 + i,
                (2.0 + 1.0 * rate) / spec.workers,
                90 * MB + leak * (spec.leak_role == "worker"),
            )
            for i in range(spec.workers)
        ),
        (
            "target",
            200,
            spec.target_cpu_base + spec.target_cpu_per_rps * rate,
            60 * MB + leak * (spec.leak_role == "target"),
        ),
    )
    for role, pid, cpu, rss in roles:
        parts.append(
            {
                name: np.broadcast_to(values, n)
                for name, values in {
                    "ts": ts + rng.uniform(0, 0.05, n),
                    "host": "h1",
                    "role": role,
                    "pid": pid,
                    "cpu_percent": np.clip(cpu + rng.normal(0, 1.0, n), 0, None),
                    "rss_bytes": (rss + rng.normal(0, 0.3 * MB, n)).astype(np.int64),
                    "num_threads": 4,
                    "num_fds": 20,
                    "read_bytes": np.cumsum(np.full(n, 1000)),
                    "write_bytes": np.cumsum(np.full(n, 2000)),
                    "net_sent_bytes": np.cumsum((rate * 4000).astype(np.int64)),
                    "net_recv_bytes": np.cumsum((rate * 500).astype(np.int64)),
                    "host_cpu_percent": host_cpu,
                    "host_mem_available_bytes": int(4 * 1024 * MB),
                    "cpu_user_s": 0.0,
                    "cpu_system_s": 0.0,
                    "ctx_switches": 0,
                    "cpu_quota_cores": np.nan,
                    "name": role,
                    "usable_cores": spec.target_usable_cores
                    if role == "target" and spec.target_usable_cores
                    else np.nan,
                    "host_cores": spec.host_cores or "",
                }.items()
            }
        )
    columns = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    order = np.argsort(columns["ts"], kind="stable")
    return {name: values[order] for name, values in columns.items()}


def _write_requests(path: Path, columns: Mapping[str, np.ndarray], *, header: bool) -> None:
    _write_table(path, columns, REQUEST_TABLE, header=header)


def _write_samples(path: Path, columns: Mapping[str, np.ndarray]) -> None:
    _write_table(path, columns, HOST_SAMPLE_TABLE)


_ROWS_AT_ONCE = 50_000
"""Rows formatted per batch: a 10-million-row benchmark run writes in bounded memory."""


def _write_table(
    path: Path, columns: Mapping[str, np.ndarray], table: tuple[Field, ...], *, header: bool = True
) -> None:
    """``columns`` as the recorder writes them: in the table's order, a column left out at the
    field's default, booleans as true/false, floats to 4 decimals, NaN empty. Written cell by
    cell through ``csv`` (the writer pandas uses, with its quoting): ``DataFrame.to_csv``
    spent most of its time on its own bookkeeping."""
    fields = [f for f in table if f.column.csv]
    arrays = {f.name: np.asarray(columns[f.name]) for f in fields if f.name in columns}
    n = len(next(iter(columns.values())))
    with path.open("w" if header else "a", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        if header:
            out.writerow([f.name for f in fields])
        for first in range(0, n, _ROWS_AT_ONCE):
            rows = slice(first, min(n, first + _ROWS_AT_ONCE))
            out.writerows(zip(*(_cells(arrays, rows, f) for f in fields), strict=True))


def _cells(arrays: Mapping[str, np.ndarray], rows: slice, f: Field) -> list[object]:
    """One column's cells in ``rows`` as ``to_csv(na_rep="", float_format="%.4f")`` wrote
    them."""
    if f.name not in arrays:
        default = np.nan if f.optional or f.required else f.default
        return _formatted(np.array([default]), f) * (rows.stop - rows.start)
    return _formatted(arrays[f.name][rows], f)


def _formatted(values: np.ndarray, f: Field) -> list[object]:
    if values.size > 1 and not values.strides[0]:
        return _formatted(values[:1], f) * values.size
    missing = pd.isna(values)
    if f.kind is bool:
        return np.where(missing, "", np.where(values.astype(bool), "true", "false")).tolist()
    if values.dtype.kind == "f":
        # One %-format over the whole column (as f"{v:.4f}" per value, at a third of the cost).
        cells = ("%.4f\0" * values.size % tuple(values.tolist())).split("\0")[:-1]
        return ["" if gone else v for v, gone in zip(cells, missing.tolist(), strict=True)]
    return ["" if gone else v for v, gone in zip(values.tolist(), missing.tolist(), strict=True)]


def _write_manifest(
    path: Path, spec: SyntheticRun, stages: list[dict[str, object]], end: float, n: int
) -> None:
    scenario = {
        "name": "synthetic-ladder",
        "stages": [
            {"name": s["name"], "users": s["users"], "ramp_s": spec.ramp_s, "hold_s": spec.hold_s}
            for s in stages
        ],
        "warmup_s": spec.warmup_s,
        "settle_s": spec.settle_s,
        "mix": {q: 1.0 for q in spec.query_types},
        "arrival": {"mode": "closed"},
        "slos": spec.slos,
        "model": spec.model,
    }
    manifest = {
        "run_id": path.parent.name,
        "status": spec.status,
        "scenario": scenario,
        "target_url": "http://127.0.0.1:8000",
        "start": spec.start,
        "end": end,
        "workers": [{"id": "w1", "host": "h1", "pid": 101, "joined": spec.start}],
        "stages": stages,
        "environment": {
            "cpu_model": "synthetic",
            "cores": 2,
            "memory_bytes": 8 * 1024**3,
            "os": "Linux",
            "python": "3.11",
            "locust": "2.47",
            "qi_load": "0.1.0",
            "load_avg": [0.1, 0.1, 0.1],
        },
        "counts": {"requests": n, "host_samples": 0},
        "lost_workers": [],
    }
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _write_locust(root: Path, spec: SyntheticRun, rows: int, failures: int) -> None:
    """Locust's stats and failures CSVs (the few cells the reader uses)."""
    for name, table in (
        (
            "locust_stats.csv",
            [
                ["Type", "Name", "Request Count", "Failure Count"],
                ["POST", "chat", rows, failures],
                ["", "Aggregated", rows, failures],
            ],
        ),
        (
            "locust_failures.csv",
            [["Method", "Name", "Error", "Occurrences"], ["POST", "chat", spec.failure_text, 1]],
        ),
    ):
        with (root / name).open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows(table)
