"""Worker scaling: requests/s of ``qi-load run --workers 2`` against ``--workers 1``.

Both runs use the real distributed path (``qi-load run``: a Locust master and N local
workers over ZeroMQ, records shipped to the master, which writes ``requests.csv``) against
``benchmarks/trivial_server.py`` (instant answers), with no think time and enough users that
the generator, not the server, is the bottleneck. Answers are non-streamed, or with
``--stream-tokens N`` SSE streams of N content events written at once (more client work per
request, so master and server take a smaller share of the cores). Runs alternate
(1, 2, 1, 2 ...). Requests/s are ``requests.csv`` rows started inside the stage's steady
window (``--skip`` s after its start to ``--tail`` s before its end), cross-checked with the
server's own count; the CPU of master, workers and server over that window shows where the
machine's cores went.

    .venv/bin/python benchmarks/worker_scaling.py [--users 40] [--stream-tokens 60] [--json F]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
from _common import (
    PYTHON,
    Children,
    Sampler,
    machine_facts,
    print_table,
    scenario_yaml,
    start_trivial_server,
    write_json,
)

GOAL = 1.6


def _steady_window(run_dir: Path, skip: float, tail: float) -> tuple[float, float]:
    manifest = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    stage = next(s for s in manifest["stages"] if s["name"] == "load")
    start, end = stage["ramp_end"] + skip, stage["end"] - tail
    if end - start < 1.0:
        raise RuntimeError(f"{run_dir}: steady window too short ({start:.1f}..{end:.1f})")
    return start, end


def _csv_counts(run_dir: Path, start: float, end: float) -> tuple[int, int, dict[str, int]]:
    """(rows started in the window, failed rows among them, rows per worker)."""
    rows = failed = 0
    per_worker: Counter[str] = Counter()
    with (run_dir / "requests.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if start <= float(row["ts_start"]) < end:
                rows += 1
                per_worker[row["worker"]] += 1
                if row["ok"].lower() not in ("true", "1"):
                    failed += 1
    return rows, failed, dict(per_worker)


def one_run(
    workers: int,
    tag: str,
    url: str,
    server_pid: int,
    args: argparse.Namespace,
    out: Path,
    children: Children,
) -> dict[str, Any]:
    scenario = scenario_yaml(out / f"{tag}.yaml", users=args.users, hold_s=args.hold)
    command = [
        PYTHON,
        "-m",
        "qi_load",
        "run",
        "--host",
        url,
        "--workers",
        str(workers),
        "--out",
        str(out),
        "--run-id",
        tag,
        "--no-report",
        "--progress",
        "0",
        # The scenario after the options: argparse rejects "SCENARIO --opt X -- LOCUST_ARGS".
        str(scenario),
    ]
    if not args.stream_tokens:
        command += ["--", "--no-stream"]
    process = children.start(command, out / f"{tag}.log")
    sampler = Sampler(url, {process.pid: "runner", server_pid: "server"})
    with sampler:
        try:
            process.wait(args.hold + 120)
        finally:
            children.stop(process)
    run_dir = out / tag
    start, end = _steady_window(run_dir, args.skip, args.tail)
    rows, failed, per_worker = _csv_counts(run_dir, start, end)
    window = sampler.window(start, end)
    cpu = window.cpu_pct
    cores = psutil.cpu_count() or 1
    return {
        "workers": workers,
        "run": tag,
        "exit_code": process.returncode,
        "window_s": end - start,
        "rps": rows / (end - start),
        "server_rps": window.rps,
        "failed": failed,
        "rows_per_worker": per_worker,
        "master_cpu_pct": cpu.get("master", 0.0),
        "workers_cpu_pct": cpu.get("worker", 0.0),
        "server_cpu_pct": cpu.get("server", 0.0),
        "host_cpu_pct": window.host_cpu_pct,
        # Workers' cost per request: constant if distribution adds no per-request work.
        "req_per_worker_cpu_s": rows / (end - start) / (cpu["worker"] / 100.0)
        if cpu.get("worker")
        else 0.0,
        # CPU (% of one core) that processes other than this benchmark's used meanwhile.
        "others_cpu_pct": max(0.0, window.host_cpu_pct * cores - sum(cpu.values())),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=40, help="users in each run (default 40)")
    parser.add_argument("--hold", type=float, default=25.0, help="seconds of load per run")
    parser.add_argument("--skip", type=float, default=5.0, help="seconds skipped at the start")
    parser.add_argument("--tail", type=float, default=2.0, help="seconds skipped at the end")
    parser.add_argument("--rounds", type=int, default=2, help="(1 worker, 2 workers) pairs")
    parser.add_argument(
        "--stream-tokens",
        type=int,
        default=0,
        help="stream answers of N content events (0: non-streamed answers, the default)",
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for logs and run dirs")
    parser.add_argument("--json", type=Path, default=None, help="write results as JSON here")
    args = parser.parse_args()
    if (
        args.stream_tokens < 0
        or args.users < 2
        or args.rounds < 1
        or args.hold <= args.skip + args.tail + 1
    ):
        parser.error(
            "need --stream-tokens >= 0, --users >= 2, --rounds >= 1, --hold > --skip + --tail + 1"
        )
    out = args.out or Path(tempfile.mkdtemp(prefix="qi-scaling-"))
    out.mkdir(parents=True, exist_ok=True)
    before = machine_facts()
    runs: list[dict[str, Any]] = []
    with Children() as children:
        url, server_pid = start_trivial_server(
            children, out, ["--stream-tokens", str(args.stream_tokens or 1)]
        )
        for n in range(args.rounds):
            for workers in (1, 2):
                tag = f"w{workers}-{n + 1}"
                runs.append(one_run(workers, tag, url, server_pid, args, out, children))
                r = runs[-1]
                print(
                    f"{tag:<6} {r['rps']:7.0f} req/s (server {r['server_rps']:.0f})  "
                    f"master {r['master_cpu_pct']:3.0f} %  workers {r['workers_cpu_pct']:3.0f} %  "
                    f"server {r['server_cpu_pct']:3.0f} %  host {r['host_cpu_pct']:3.0f} %",
                    flush=True,
                )
    after = machine_facts()
    means = {w: statistics.fmean(r["rps"] for r in runs if r["workers"] == w) for w in (1, 2)}
    speedup = means[2] / means[1] if means[1] else 0.0
    # Each pair ran back to back: its ratio sees the same machine load (others %).
    pairs = [
        {
            "speedup": runs[i + 1]["rps"] / runs[i]["rps"] if runs[i]["rps"] else 0.0,
            "others_cpu_pct": max(runs[i]["others_cpu_pct"], runs[i + 1]["others_cpu_pct"]),
        }
        for i in range(0, len(runs), 2)
    ]
    per_cpu = {
        w: statistics.fmean(r["req_per_worker_cpu_s"] for r in runs if r["workers"] == w)
        for w in (1, 2)
    }
    efficiency = per_cpu[2] / per_cpu[1] if per_cpu[1] else 0.0
    cpu_got = {
        w: statistics.fmean(r["workers_cpu_pct"] for r in runs if r["workers"] == w) for w in (1, 2)
    }
    print()
    print(
        f"{before['date_utc']} UTC, {before['cores']} cores ({before['cpu_model']}), load "
        f"{before['load_avg']} -> {after['load_avg']}, {args.users} users, no think time, "
        + (
            f"streamed answers of {args.stream_tokens} events"
            if args.stream_tokens
            else "non-streamed answers"
        )
    )
    print_table(
        [
            "run",
            "req/s",
            "server req/s",
            "req/worker-CPU-s",
            "master %",
            "workers %",
            "server %",
            "others %",
            "host %",
            "failed",
        ],
        [
            [
                r["run"],
                f"{r['rps']:.0f}",
                f"{r['server_rps']:.0f}",
                f"{r['req_per_worker_cpu_s']:.0f}",
                f"{r['master_cpu_pct']:.0f}",
                f"{r['workers_cpu_pct']:.0f}",
                f"{r['server_cpu_pct']:.0f}",
                f"{r['others_cpu_pct']:.0f}",
                f"{r['host_cpu_pct']:.0f}",
                r["failed"],
            ]
            for r in runs
        ],
    )
    print(
        f"mean req/s: 1 worker {means[1]:.0f}, 2 workers {means[2]:.0f}; speedup {speedup:.3f}x "
        f"(goal >= {GOAL}x: {'met' if speedup >= GOAL else 'NOT met'}); pairs "
        + ", ".join(f"{p['speedup']:.2f}x (others {p['others_cpu_pct']:.0f} %)" for p in pairs)
    )
    print(
        f"requests per worker CPU-second: 1 worker {per_cpu[1]:.0f}, 2 workers {per_cpu[2]:.0f} "
        f"(per-CPU efficiency {efficiency:.0%}); workers got {cpu_got[1]:.0f} % and "
        f"{cpu_got[2]:.0f} % of a core: the speedup is bounded by the CPU they get"
    )
    write_json(
        args.json,
        {
            "benchmark": "worker_scaling",
            "machine_before": before,
            "machine_after": after,
            "settings": {k: v for k, v in vars(args).items() if k not in ("out", "json")},
            "runs": runs,
            "mean_rps": {str(k): v for k, v in means.items()},
            "speedup": speedup,
            "pairs": pairs,
            "mean_req_per_worker_cpu_s": {str(k): v for k, v in per_cpu.items()},
            "per_cpu_efficiency": efficiency,
            "mean_workers_cpu_pct": {str(k): v for k, v in cpu_got.items()},
            "goal": GOAL,
            "goal_met": speedup >= GOAL,
            "out": str(out),
        },
    )
    bad = [r for r in runs if r["exit_code"] != 0 or r["failed"]]
    for r in bad:
        print(
            f"WARNING: {r['run']}: exit code {r['exit_code']}, {r['failed']} failed requests: "
            f"see {out / r['run']}.log"
        )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
