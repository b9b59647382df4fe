"""Per-stage steady-state statistics: requests per query type and overall, resources per role."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypedDict

import numpy as np
import numpy.typing as npt
import pandas as pd

from qi_load.analyze.cpu import other_cores
from qi_load.analyze.load import RunData
from qi_load.metrics.percentile import Percentiles, percentiles
from qi_load.metrics.rates import failed, good, per_second, within
from qi_load.metrics.window import (
    MIN_TYPE_REQUESTS,
    MIN_WINDOW_REQUESTS,
    ends_in,
    window_start,
)
from qi_load.record.schema import StageMarkDict
from qi_load.scenario import Slo
from qi_load.units import MB
from qi_load.vocabulary import WARMUP_STAGE

__all__ = [
    "MIN_TYPE_REQUESTS",
    "MIN_WINDOW_REQUESTS",
    "PHASES",
    "HostCpu",
    "QueryStats",
    "RoleStats",
    "SloCheck",
    "SloStatus",
    "StageStats",
    "Window",
    "analyze_stages",
    "error_kinds",
    "is_open_loop",
    "pooled_stats",
    "query_stats",
    "slo_failure",
    "slo_for",
    "stage_windows",
    "valid_mask",
]

PHASES: Final = ("request", "tool", "llm", "format")
_RATE_COLUMNS: Final = ("read_bytes", "write_bytes", "net_sent_bytes", "net_recv_bytes")
_SLO_METRICS: Final = tuple(Slo.model_fields)
_AT_LEAST: Final = frozenset({"quality_rate_min"})
"""SLO metrics that are lower bounds (the rest are upper bounds)."""


SloStatus = Literal["pass", "fail", "no_data", "insufficient_data"]


class SloCheck(TypedDict):
    """One SLO of one query type in one window: ``value`` (over ``n`` values) against
    ``limit``; ``ok`` is None without data or with fewer than ``MIN_TYPE_REQUESTS``."""

    query_type: str
    metric: str
    limit: float
    value: float | None
    n: int
    ok: bool | None
    status: SloStatus
    stage: str | None
    """The stage whose window it judged; None for the pooled valid windows."""


class QueryStats(TypedDict):
    """Requests that ended inside a window (one query type, or all of them)."""

    n: int
    n_ok: int
    throughput_rps: float
    goodput_rps: float
    error_rate: float
    quality_checked: int
    """Protocol-successful requests whose answer was checked (a check applied and ran)."""
    quality_passed: int
    quality_rate: float | None
    """quality_passed / quality_checked; None when no answer was checked."""
    errors_by_kind: dict[str, int]
    retries: int
    """Requests resent once on a fresh connection (their kept-alive one was dead)."""
    retry_rate: float
    """retries / n (0 without requests)."""
    ttft_ms: Percentiles
    ttfc_ms: Percentiles
    """Time to the first answer content, over successes that had content."""
    e2e_ms: Percentiles
    tpot_ms: Percentiles
    itl_ms: Percentiles
    """Each request's median inter-token latency (``itl_p50_ms``)."""
    output_tokens_per_s: float
    schedule_delay_ms: Percentiles | None
    phases_ms: dict[str, float] | None
    slo_checks: list[SloCheck]


class RoleStats(TypedDict):
    """Samples of every process with one role inside a window; rates are summed."""

    processes: int
    cpu_mean: float
    cpu_peak: float
    cpu_cores_mean: float
    cpu_usable_cores: float | None
    rss_mean_mb: float
    rss_peak_mb: float
    read_bytes_per_s: float
    write_bytes_per_s: float
    net_sent_bytes_per_s: float
    net_recv_bytes_per_s: float
    host_cpu_mean: float
    host_mem_available_min_mb: float | None


class HostCpu(TypedDict):
    """One host's CPU inside a window: how busy it was, and how much of it qi-load sampled."""

    cores: int
    busy_pct: float
    sampled_cores: float
    other_cores: float | None


class StageStats(StageMarkDict):
    """One stage: its boundaries (as in run.json), its steady-state window and everything
    measured there."""

    window_start: float
    window_end: float
    window_s: float
    started: int
    """Requests that started in the stage (its whole span), cancelled ones included."""
    cancelled: int
    """Requests that started in the stage and were still in flight when Locust stopped
    their user (``error_kind = cancelled``): never in any other figure."""
    invalid: str | None
    overall: QueryStats
    per_type: dict[str, QueryStats]
    roles: dict[str, RoleStats]
    hosts: dict[str, HostCpu]
    slo_ok: bool | None


@dataclass(frozen=True)
class Window:
    """A stage's steady-state window ``[ramp_end + settle, end)`` in unix seconds."""

    index: int
    name: str
    users: int
    start: float
    ramp_end: float
    end: float
    t0: float
    t1: float
    invalid: str | None

    @property
    def seconds(self) -> float:
        return max(self.t1 - self.t0, 0.0)


def stage_windows(run: RunData) -> list[Window]:
    """Windows from ``run.json`` stages (not the warm-up); without stages, one window."""
    settle = _float(run.scenario.get("settle_s"), 0.0)
    windows = []
    for i, stage in enumerate(run.stages):
        if stage["name"] == WARMUP_STAGE:
            continue
        start, ramp_end, end = float(stage["start"]), float(stage["ramp_end"]), float(stage["end"])
        t0 = window_start(ramp_end, end, settle)
        invalid = stage.get("invalid")
        windows.append(
            Window(
                index=int(stage.get("index", i)),
                name=str(stage["name"]),
                users=int(stage["users"]),
                start=start,
                ramp_end=ramp_end,
                end=end,
                t0=t0,
                t1=end,
                invalid=str(invalid) if invalid else None,
            )
        )
    if run.stages:
        return windows
    req = run.requests
    if req.empty:
        return []
    # The window is half-open: step past the last request so it is inside.
    t0, t1 = float(req["ts_start"].min()), float(np.nextafter(req["ts_end"].max(), np.inf))
    users = int(np.nanmax(req["users"].to_numpy())) if req["users"].notna().any() else 0
    return [Window(0, "run", users, t0, t0, t1, t0, t1, None)]


def slo_for(slos: Mapping[str, Any], query_type: str) -> dict[str, float]:
    """The SLO limits of one query type (falling back to a ``default`` entry)."""
    entry = slos.get(query_type, slos.get("default"))
    if not isinstance(entry, Mapping):
        return {}
    return {k: float(entry[k]) for k in _SLO_METRICS if isinstance(entry.get(k), int | float)}


def slo_failure(check: SloCheck) -> str:
    """One failed SLO in words, e.g. ``simple quality_rate_min 0 < 0.9 (n=12, at light)``."""
    sign = "<" if check["metric"] in _AT_LEAST else ">"
    value = "-" if check["value"] is None else f"{check['value']:.4g}"
    where = [f"n={check['n']}"] if "n" in check else []
    if check.get("stage"):
        where.append(f"at {check['stage']}")
    suffix = f" ({', '.join(where)})" if where else ""
    return f"{check['query_type']} {check['metric']} {value} {sign} {check['limit']:.4g}{suffix}"


def query_stats(
    frame: pd.DataFrame,
    seconds: float,
    slos: Mapping[str, Any],
    *,
    open_loop: bool,
    query_type: str | None = None,
) -> QueryStats:
    """Statistics of the requests in ``frame`` (already restricted to one window)."""
    ok = frame["ok"].to_numpy(dtype=bool)
    kinds = error_kinds(frame)
    failures = failed(ok, kinds)
    n, n_ok = len(frame), int(ok.sum())
    quality = frame["quality_ok"].to_numpy(dtype=np.float64)
    checked = ok & ~np.isnan(quality)
    n_checked, n_passed = int(checked.sum()), int((checked & (quality == 1.0)).sum())
    slos_met = np.ones(n, dtype=bool)
    qt = frame["query_type"].astype("category")  # compared by code: no string per row
    codes = qt.cat.codes.to_numpy()
    present = np.bincount(codes[codes >= 0], minlength=len(qt.cat.categories))
    for code in np.flatnonzero(present).tolist():
        name = str(qt.cat.categories[code])
        if query_type and name != query_type:
            continue
        limits = slo_for(slos, name)
        for metric, col in (("ttft_p95_ms", "ttft_ms"), ("e2e_p95_ms", "e2e_ms")):
            if metric in limits:
                slos_met &= (codes != code) | within(
                    frame[col].to_numpy(np.float64), limits[metric]
                )
    errors: dict[str, int] = {}
    if failures.any():  # most windows fail nothing: counting nothing cost a pandas Series
        counts = pd.Series(kinds[failures]).value_counts()
        errors = {str(k): int(v) for k, v in counts.items() if k != "none"}
    retries = int(np.nansum(frame["retries"].to_numpy(dtype=np.float64)))

    def okf(column: str) -> npt.NDArray[np.float64]:
        """One column over the successes (``frame.loc[ok]`` would copy every column)."""
        return np.asarray(frame[column].to_numpy(dtype=np.float64)[ok], dtype=np.float64)

    stats = QueryStats(
        n=n,
        n_ok=n_ok,
        throughput_rps=per_second(n_ok, seconds),
        goodput_rps=per_second(int(good(ok, quality, slos_met).sum()), seconds),
        error_rate=float(failures.sum()) / n if n else 0.0,
        quality_checked=n_checked,
        quality_passed=n_passed,
        quality_rate=n_passed / n_checked if n_checked else None,
        errors_by_kind=errors,
        retries=retries,
        retry_rate=retries / n if n else 0.0,
        ttft_ms=percentiles(okf("ttft_ms")),
        ttfc_ms=percentiles(okf("ttfc_ms")),
        e2e_ms=percentiles(okf("e2e_ms")),
        tpot_ms=percentiles(okf("tpot_ms")),
        itl_ms=percentiles(okf("itl_p50_ms")),
        output_tokens_per_s=per_second(int(np.nansum(okf("output_tokens"))), seconds),
        schedule_delay_ms=percentiles(
            (frame["ts_start"] - frame["ts_sched"]).to_numpy(dtype=np.float64) * 1000.0
        )
        if open_loop
        else None,
        phases_ms=_phases(okf),
        slo_checks=[],
    )
    stats["slo_checks"] = _slo_checks(stats, slos, query_type) if query_type else []
    return stats


def error_kinds(frame: pd.DataFrame) -> npt.NDArray[np.object_]:
    """Each request's ``error_kind``, ``none`` where the file left it empty."""
    kinds = frame["error_kind"].astype("category")
    # One string object per kind, picked by code (-1, empty, picks the last: "none").
    labels = np.array([*map(str, kinds.cat.categories), "none"], dtype=object)
    return np.asarray(labels[kinds.cat.codes.to_numpy()], dtype=object)


def _phases(okf: Callable[[str], npt.NDArray[np.float64]]) -> dict[str, float] | None:
    out = {}
    for phase in PHASES:
        col = okf(f"srv_{phase}_ms")
        if np.isfinite(col).any():
            # np.nanmean's own sum and count (to the bit), without its checks' cost.
            known = ~np.isnan(col)
            out[phase] = float(np.where(known, col, 0.0).sum() / np.count_nonzero(known))
    return out or None


def _slo_checks(stats: QueryStats, slos: Mapping[str, Any], query_type: str) -> list[SloCheck]:
    checks = []
    for metric, limit in slo_for(slos, query_type).items():
        if metric == "error_rate":
            value: float | None = stats["error_rate"] if stats["n"] else None
            n = stats["n"]
        elif metric == "quality_rate_min":
            value, n = stats["quality_rate"], stats["quality_checked"]
        else:
            p = stats["ttft_ms" if metric.startswith("ttft") else "e2e_ms"]
            value, n = p["p95"], p["n"]
        holds = value is None or (value >= limit if metric in _AT_LEAST else value <= limit)
        status: SloStatus = (
            "no_data"
            if value is None
            else "insufficient_data"
            if n < MIN_TYPE_REQUESTS
            else "pass"
            if holds
            else "fail"
        )
        checks.append(
            SloCheck(
                query_type=query_type,
                metric=metric,
                limit=limit,
                value=value,
                n=n,
                ok=None if status in ("no_data", "insufficient_data") else holds,
                status=status,
                stage=None,
            )
        )
    return checks


def _with_rates(samples: pd.DataFrame) -> pd.DataFrame:
    """Add per-second rates of the cumulative counters, per process (resets clip to 0).

    Sorted by process and time as ``sort_values(["host", "pid", "ts"])`` sorts them, and
    each counter differenced in plain arrays: pandas' sort and grouped diff cost a report
    more than every window's statistics."""
    host = samples["host"].astype("category").cat.codes.to_numpy()
    host = np.where(host < 0, len(samples), host)  # a row without a host sorts last
    pid = samples["pid"].to_numpy()
    order = np.lexsort((samples["ts"].to_numpy(dtype=np.float64), pid, host))  # stable
    frame = samples.take(order)
    host, pid = host[order], pid[order]
    first = np.ones(len(frame), dtype=bool)  # a process's first sample has no rate
    first[1:] = (host[1:] != host[:-1]) | (pid[1:] != pid[:-1])

    def diff(column: str) -> npt.NDArray[np.float64]:
        values = frame[column].to_numpy(dtype=np.float64)
        out = np.empty_like(values)
        np.subtract(values[1:], values[:-1], out=out[1:])
        out[first] = np.nan
        return out

    dt = diff("ts")
    dt[~(dt > 0)] = np.nan
    rates = {}
    for col in _RATE_COLUMNS:
        delta = diff(col)
        rates[f"{col}_rate"] = np.where(delta < 0, 0.0, delta) / dt
    return frame.assign(**rates)


def _optional(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column that older run directories lack, as floats (NaN where absent)."""
    if column in frame:
        return frame[column].astype("float64")
    return pd.Series(np.nan, index=frame.index, dtype="float64")


def _with_cores(samples: pd.DataFrame) -> pd.DataFrame:
    """Add ``cores`` (cores kept busy: quota-relative CPU converted back) and ``usable``."""
    quota = _optional(samples, "cpu_quota_cores")
    scale = quota.where(quota > 0, 1.0)
    return samples.assign(
        cores=samples["cpu_percent"].astype("float64") / 100.0 * scale,
        usable=_optional(samples, "usable_cores"),
        ncores=_optional(samples, "host_cores"),
    )


def _hosts(window: pd.DataFrame) -> dict[str, HostCpu]:
    """Per host (in the order pandas groups them), the cores its sampled processes kept busy:
    each process's mean, summed. Plain arrays, as ``_roles``: two pandas groupings per
    host and window cost more than the figures."""
    out: dict[str, HostCpu] = {}
    host_codes, hosts = pd.factorize(window["host"], sort=True)
    pid_codes, pids = pd.factorize(window["pid"])
    cores = window["cores"].to_numpy(dtype=np.float64)
    host_cpu = window["host_cpu_percent"].to_numpy(dtype=np.float64)
    ncores_of = window["ncores"].to_numpy(dtype=np.float64)
    for code, host in enumerate(hosts):
        rows = host_codes == code
        pid, values = pid_codes[rows], cores[rows]
        known = (pid >= 0) & ~np.isnan(values)
        sums = np.bincount(pid[known], weights=values[known], minlength=len(pids))
        counts = np.bincount(pid[known], minlength=len(pids))
        sampled = float((sums[counts > 0] / counts[counts > 0]).sum())
        busy = _mean(host_cpu[rows])
        ncores = _max(ncores_of[rows])
        cores_n = int(ncores) if np.isfinite(ncores) else 0
        out[str(host)] = HostCpu(
            cores=cores_n,
            busy_pct=busy,
            sampled_cores=sampled,
            other_cores=other_cores(busy, cores_n, sampled),
        )
    return out


def _mean(values: npt.NDArray[np.float64]) -> float:
    """The mean of the values that are not NaN (NaN when none is), as pandas takes it."""
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else float("nan")


def _max(values: npt.NDArray[np.float64]) -> float:
    """The largest value that is not NaN (NaN when none is), as pandas takes it."""
    kept = values[~np.isnan(values)]
    return float(kept.max()) if kept.size else float("nan")


def _roles(window: pd.DataFrame) -> dict[str, RoleStats]:
    """Per role, each process's means first, then their mean (rates: their sum).

    Plain arrays grouped once for every role and column: pandas' groupings per role and
    column cost 40 % of a whole summary."""
    out: dict[str, RoleStats] = {}
    role_codes, roles = pd.factorize(window["role"], sort=True)
    host_codes, hosts = pd.factorize(window["host"])
    pid_codes, pids = pd.factorize(window["pid"])
    # A process is (role, host, pid); like pandas' grouping, rows without a role or host
    # belong to none.
    in_process = (role_codes >= 0) & (host_codes >= 0)
    per_role = (len(hosts) + 1) * (len(pids) + 1)
    key = role_codes * per_role + host_codes * (len(pids) + 1) + pid_codes
    processes, process_of = np.unique(key[in_process], return_inverse=True)
    process_role = processes // per_role

    def process_means(column: str) -> npt.NDArray[np.float64]:
        values = window[column].to_numpy(dtype=np.float64)[in_process]
        known = ~np.isnan(values)
        sums = np.bincount(
            process_of, weights=np.where(known, values, 0.0), minlength=len(processes)
        )
        counts = np.bincount(process_of, weights=known, minlength=len(processes))
        means: npt.NDArray[np.float64] = np.full(len(processes), np.nan)
        np.divide(sums, counts, out=means, where=counts > 0)
        return means

    cpu, rss, cores, usable = (
        process_means(c) for c in ("cpu_percent", "rss_bytes", "cores", "usable")
    )
    rates = {c: process_means(f"{c}_rate") for c in _RATE_COLUMNS}
    rows = {
        c: window[c].to_numpy(dtype=np.float64)
        for c in ("cpu_percent", "rss_bytes", "host_cpu_percent", "host_mem_available_bytes")
    }
    for code, role in enumerate(roles):
        mine = process_role == code
        row = role_codes == code
        role_usable = usable[mine][~np.isnan(usable[mine])]
        mem = rows["host_mem_available_bytes"][row]
        mem = mem[mem > 0]
        out[str(role)] = RoleStats(
            processes=int(mine.sum()),
            cpu_mean=_mean(cpu[mine]),
            cpu_peak=_max(rows["cpu_percent"][row]),
            cpu_cores_mean=_mean(cores[mine]),
            cpu_usable_cores=float(role_usable.mean()) if role_usable.size else None,
            rss_mean_mb=_mean(rss[mine]) / MB,
            rss_peak_mb=_max(rows["rss_bytes"][row]) / MB,
            read_bytes_per_s=float(np.nansum(rates["read_bytes"][mine])),
            write_bytes_per_s=float(np.nansum(rates["write_bytes"][mine])),
            net_sent_bytes_per_s=float(np.nansum(rates["net_sent_bytes"][mine])),
            net_recv_bytes_per_s=float(np.nansum(rates["net_recv_bytes"][mine])),
            host_cpu_mean=_mean(rows["host_cpu_percent"][row]),
            host_mem_available_min_mb=float(mem.min()) / MB if mem.size else None,
        )
    return out


def is_open_loop(run: RunData) -> bool:
    arrival = run.scenario.get("arrival")
    return isinstance(arrival, Mapping) and arrival.get("mode") == "open"


def _slos(run: RunData) -> Mapping[str, Any]:
    slos = run.scenario.get("slos")
    return slos if isinstance(slos, Mapping) else {}


def analyze_stages(run: RunData) -> list[StageStats]:
    """Statistics of every stage over its steady-state window."""
    req = _numbers(run.requests)
    ends = req["ts_end"].to_numpy(dtype=np.float64)
    samples = _with_cores(_with_rates(run.samples)) if not run.samples.empty else run.samples
    slos, open_loop = _slos(run), is_open_loop(run)
    out = []
    for w in stage_windows(run):
        frame = req[ends_in(ends, w.t0, w.t1)]
        per_type = {
            qt: query_stats(part, w.seconds, slos, open_loop=open_loop, query_type=qt)
            for qt, part in _by_type(frame)
        }
        for q in per_type.values():
            for check in q["slo_checks"]:
                check["stage"] = w.name
        overall = query_stats(frame, w.seconds, slos, open_loop=open_loop)
        overall["slo_checks"] = [c for s in per_type.values() for c in s["slo_checks"]]
        verdicts = [c["ok"] for c in overall["slo_checks"] if c["ok"] is not None]
        in_window = (
            None if samples.empty else samples[(samples["ts"] >= w.t0) & (samples["ts"] < w.t1)]
        )
        cancelled = _started_in(run.cancelled, w.start, w.end)
        out.append(
            StageStats(
                index=w.index,
                name=w.name,
                users=w.users,
                start=w.start,
                ramp_end=w.ramp_end,
                end=w.end,
                window_start=w.t0,
                window_end=w.t1,
                window_s=w.seconds,
                started=_started_in(req, w.start, w.end) + cancelled,
                cancelled=cancelled,
                invalid=w.invalid,
                overall=overall,
                per_type=per_type,
                roles=_roles(in_window) if in_window is not None else {},
                hosts=_hosts(in_window) if in_window is not None else {},
                slo_ok=all(verdicts) if verdicts else None,
            )
        )
    return out


def _numbers(requests: pd.DataFrame) -> pd.DataFrame:
    """``requests`` without ``trace_id``, which no statistic reads: copied with each
    window's rows, 32 characters a row would cost as much as every number (a lazy copy:
    no data moves)."""
    return requests.drop(columns=["trace_id"], errors="ignore")


def _by_type(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """The rows of each query type present, in category order, one part at a time: a
    groupby would first copy the whole frame sorted by type (10 million rows: 1 GB more)."""
    types = frame["query_type"].astype("category")
    codes = types.cat.codes.to_numpy()
    for code, qt in enumerate(types.cat.categories):
        rows = codes == code
        if rows.any():
            yield str(qt), frame[rows]


def _started_in(frame: pd.DataFrame, start: float, end: float) -> int:
    if frame.empty or "ts_start" not in frame:
        return 0
    ts = frame["ts_start"].to_numpy(dtype=np.float64)
    return int(((ts >= start) & (ts < end)).sum())


def valid_mask(run: RunData) -> tuple[np.ndarray, float]:
    """Requests inside the windows of valid stages, and the total length of those windows."""
    ends = run.requests["ts_end"].to_numpy(dtype=np.float64)
    mask = np.zeros(ends.size, dtype=bool)
    seconds = 0.0
    for w in stage_windows(run):
        if w.invalid is None:
            mask |= ends_in(ends, w.t0, w.t1)
            seconds += w.seconds
    return mask, seconds


def pooled_stats(run: RunData) -> tuple[QueryStats, dict[str, QueryStats]]:
    """Whole-run statistics over the windows of valid stages: overall and per query type."""
    mask, seconds = valid_mask(run)
    frame = _numbers(run.requests)[mask]
    slos, open_loop = _slos(run), is_open_loop(run)
    per_type = {
        qt: query_stats(part, seconds, slos, open_loop=open_loop, query_type=qt)
        for qt, part in _by_type(frame)
    }
    overall = query_stats(frame, seconds, slos, open_loop=open_loop)
    overall["slo_checks"] = [c for s in per_type.values() for c in s["slo_checks"]]
    return overall, per_type


def _float(value: Any, default: float) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )
