"""qi-load's per-request overhead: its agent user against plain Locust ``FastHttpUser``.

Both post the same non-streaming chat body to ``benchmarks/trivial_server.py`` (which answers
instantly) with no think time and the same number of users, one Locust process each, one
after the other, alternating (A, B, A, B ...) so that drift in the machine's load cancels.

- ``fasthttp``: ``benchmarks/fasthttp_locustfile.py`` (FastHttpUser, no checks, no records);
- ``qi-load``: the packaged ``qi_load/locustfiles/agent.py`` with ``--no-stream`` and a
  one-stage ``simple`` scenario: the real path (ChatClient, quality check, RequestRecord,
  Locust request events, requests.csv, host sampling).

Throughput is counted at the server over the same window for both (after ``--warmup``
seconds of traffic); the CPU of the generator and of the server over that window shows which
one was the bottleneck. ``--profile`` adds one qi-load run under cProfile and prints where
its time goes.

    .venv/bin/python benchmarks/overhead_vs_fasthttp.py [--users 50] [--rounds 2] [--json F]
"""

from __future__ import annotations

import argparse
import csv
import io
import pstats
import statistics
import tempfile
from pathlib import Path
from typing import Any

from _common import (
    HERE,
    PYTHON,
    ROOT,
    Children,
    Sampler,
    machine_facts,
    print_table,
    scenario_yaml,
    start_trivial_server,
    write_json,
)

VARIANTS = ("fasthttp", "qi-load")
GOAL = 0.85


def _command(variant: str, url: str, args: argparse.Namespace, out: Path, tag: str) -> list[str]:
    duration = int(args.warmup + args.measure + 3)
    if variant == "fasthttp":
        return [
            PYTHON,
            "-m",
            "locust",
            "-f",
            str(HERE / "fasthttp_locustfile.py"),
            "--headless",
            "--only-summary",
            "-H",
            url,
            "-u",
            str(args.users),
            "-r",
            str(args.users),
            "-t",
            f"{duration}s",
        ]
    scenario = scenario_yaml(out / f"{tag}.yaml", users=args.users, hold_s=duration)
    return [
        PYTHON,
        "-m",
        "locust",
        "-f",
        str(args.qi_locustfile),
        "--headless",
        "--only-summary",
        "-H",
        url,
        "--scenario",
        str(scenario),
        "--no-stream",
        "--run-dir",
        str(out / tag),
    ]


def _csv_check(run_dir: Path, start: float, end: float) -> dict[str, Any]:
    """What qi-load itself recorded: rows, rows in the window, and how many passed."""
    with (run_dir / "requests.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    in_window = [r for r in rows if start <= float(r["ts_start"]) < end]
    failed = [r for r in rows if r["ok"].lower() not in ("true", "1")]
    return {
        "rows": len(rows),
        "csv_rps": len(in_window) / (end - start),
        "failed": len(failed),
        "first_error": failed[0].get("error", "") if failed else "",
    }


def one_run(
    variant: str,
    tag: str,
    url: str,
    server_pid: int,
    args: argparse.Namespace,
    out: Path,
    children: Children,
    *,
    profile: Path | None = None,
) -> dict[str, Any]:
    command = _command(variant, url, args, out, tag)
    if profile is not None:
        command[1:1] = ["-m", "cProfile", "-o", str(profile)]
    process = children.start(command, out / f"{tag}.log")
    sampler = Sampler(url, {process.pid: "generator", server_pid: "server"})
    with sampler:
        try:
            process.wait(args.warmup + args.measure + 60)
        finally:
            children.stop(process)
    first = sampler.first_traffic()
    if first is None:
        raise RuntimeError(f"{tag}: no request reached the server; see {out / tag}.log")
    start = first + args.warmup
    window = sampler.window(start, start + args.measure)
    result: dict[str, Any] = {
        "variant": variant,
        "run": tag,
        "rps": window.rps,
        "requests": window.requests,
        "window_s": window.seconds,
        "generator_cpu_pct": window.cpu_pct.get("generator", 0.0),
        "server_cpu_pct": window.cpu_pct.get("server", 0.0),
        "host_cpu_pct": window.host_cpu_pct,
        "exit_code": process.returncode,
    }
    cpu = result["generator_cpu_pct"] / 100.0
    # Requests per CPU-second of the generator: on a shared machine the CPU a run gets
    # varies, its cost per request much less.
    result["req_per_cpu_s"] = window.rps / cpu if cpu > 0 else 0.0
    if variant == "qi-load":
        result.update(_csv_check(out / tag, start, start + window.seconds))
    return result


# Steps of qi-load's request path, found in the profile by (file suffix, function name).
PROFILE_STEPS = (
    ("answer read + JSON parse", "qi_load/generate/chat.py", "_read"),
    ("  Server-Timing header parse", "qi_load/generate/chat.py", "parse_server_timing"),
    ("query type pick (mix)", "qi_load/generate/users.py", "_pick_type"),
    ("prompt pick (catalogue)", "qi_load/generate/queries.py", "pick"),
    ("quality check", "qi_load/generate/queries.py", "check"),
    ("record building", "qi_load/generate/users.py", "record_from_result"),
    ("report (events + record hand-over)", "qi_load/generate/users.py", "report_record"),
    ("  Locust request stats", "locust/runners.py", "on_request"),
    ("  requests.csv rows", "qi_load/record/recorder.py", "write_records"),
    ("  live metrics + alert series", "qi_load/generate/monitoring.py", "observe_records"),
    ("alert evaluation (periodic)", "qi_load/generate/monitoring.py", "_evaluate_alerts"),
)


def _profile_summary(path: Path, requests: int, top: int) -> dict[str, list[dict[str, Any]]]:
    """Per-request cost of each step (cumulative time / requests) and the top own times."""
    stats = pstats.Stats(str(path), stream=io.StringIO())
    entries: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = max(sum(v[2] for v in entries.values()), 1e-9)
    steps = []
    for label, suffix, function in PROFILE_STEPS:
        # A name may match nested helpers (e.g. check closures): the outermost has the max.
        cum = max(
            (v[3] for (f, _l, n), v in entries.items() if n == function and f.endswith(suffix)),
            default=None,
        )
        us = None if cum is None else round(1e6 * cum / max(requests, 1), 1)
        steps.append({"step": label, "us_per_request": us})
    own = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in sorted(
        entries.items(), key=lambda item: item[1][2], reverse=True
    )[:top]:
        where = filename.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
        own.append(
            {
                "function": f"{where}:{line}({name})",
                "calls": calls,
                "tottime_s": round(tottime, 3),
                "tottime_pct": round(100 * tottime / total, 1),
                "cumtime_s": round(cumtime, 3),
            }
        )
    return {"steps": steps, "own": own}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="users per run (default 50)")
    parser.add_argument("--rounds", type=int, default=2, help="A/B pairs (default 2)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds skipped per run")
    parser.add_argument("--measure", type=float, default=15.0, help="measured seconds per run")
    parser.add_argument(
        "--qi-locustfile",
        type=Path,
        default=ROOT / "qi_load" / "locustfiles" / "agent.py",
        help="qi-load side's locustfile (default: the packaged agent one; give another to "
        "measure a change)",
    )
    parser.add_argument("--profile", action="store_true", help="add a cProfile'd qi-load run")
    parser.add_argument("--top", type=int, default=15, help="profile rows to print")
    parser.add_argument("--out", type=Path, default=None, help="folder for logs and run dirs")
    parser.add_argument("--json", type=Path, default=None, help="write results as JSON here")
    args = parser.parse_args()
    if args.users < 1 or args.rounds < 1 or args.measure <= 0 or args.warmup < 0:
        parser.error("--users and --rounds must be >= 1, --measure > 0, --warmup >= 0")
    out = args.out or Path(tempfile.mkdtemp(prefix="qi-overhead-"))
    out.mkdir(parents=True, exist_ok=True)
    before = machine_facts()
    runs: list[dict[str, Any]] = []
    profile: dict[str, list[dict[str, Any]]] = {}
    with Children() as children:
        url, server_pid = start_trivial_server(children, out)
        for n in range(args.rounds):
            for variant in VARIANTS:
                tag = f"{variant}-{n + 1}"
                runs.append(one_run(variant, tag, url, server_pid, args, out, children))
                r = runs[-1]
                print(
                    f"{tag:<12} {r['rps']:8.0f} req/s  generator {r['generator_cpu_pct']:4.0f} %"
                    f"  server {r['server_cpu_pct']:4.0f} %  host {r['host_cpu_pct']:4.0f} %",
                    flush=True,
                )
        if args.profile:
            prof = out / "qi-load.prof"
            profiled = one_run(
                "qi-load", "qi-load-profile", url, server_pid, args, out, children, profile=prof
            )
            profile = _profile_summary(prof, profiled["rows"], args.top)
    after = machine_facts()

    means = {v: statistics.fmean(r["rps"] for r in runs if r["variant"] == v) for v in VARIANTS}
    pairs = [
        runs[i + 1]["rps"] / runs[i]["rps"] for i in range(0, len(runs), 2) if runs[i]["rps"] > 0
    ]
    ratio = means["qi-load"] / means["fasthttp"] if means["fasthttp"] else 0.0
    per_cpu = {
        v: statistics.fmean(r["req_per_cpu_s"] for r in runs if r["variant"] == v) for v in VARIANTS
    }
    cpu_ratio = per_cpu["qi-load"] / per_cpu["fasthttp"] if per_cpu["fasthttp"] else 0.0
    print()
    print(
        f"{before['date_utc']} UTC, {before['cores']} cores, load {before['load_avg']} -> "
        f"{after['load_avg']}, {args.users} users, {args.measure:g} s windows"
    )
    print_table(
        ["run", "req/s", "req/CPU-s", "generator CPU %", "server CPU %", "host CPU %", "failed"],
        [
            [
                r["run"],
                f"{r['rps']:.0f}",
                f"{r['req_per_cpu_s']:.0f}",
                f"{r['generator_cpu_pct']:.0f}",
                f"{r['server_cpu_pct']:.0f}",
                f"{r['host_cpu_pct']:.0f}",
                r.get("failed", "-"),
            ]
            for r in runs
        ],
    )
    print(
        f"mean req/s: fasthttp {means['fasthttp']:.0f}, qi-load {means['qi-load']:.0f}; "
        f"ratio qi-load/fasthttp {ratio:.1%} (pairs {', '.join(f'{p:.1%}' for p in pairs)}); "
        f"goal >= {GOAL:.0%}: {'met' if ratio >= GOAL else 'NOT met'}"
    )
    print(
        f"requests per generator CPU-second: fasthttp {per_cpu['fasthttp']:.0f}, "
        f"qi-load {per_cpu['qi-load']:.0f}; ratio {cpu_ratio:.1%}"
    )
    if profile:
        print("\nqi-load under cProfile (inflates every step about alike), per request:")
        print_table(
            ["step", "us/request"],
            [
                [p["step"], "-" if p["us_per_request"] is None else p["us_per_request"]]
                for p in profile["steps"]
            ],
        )
        print("\nby own time:")
        print_table(
            ["function", "calls", "own s", "own %", "cum s"],
            [
                [p["function"], p["calls"], p["tottime_s"], p["tottime_pct"], p["cumtime_s"]]
                for p in profile["own"]
            ],
        )
    write_json(
        args.json,
        {
            "benchmark": "overhead_vs_fasthttp",
            "machine_before": before,
            "machine_after": after,
            "settings": {
                "users": args.users,
                "rounds": args.rounds,
                "warmup_s": args.warmup,
                "measure_s": args.measure,
                "qi_locustfile": str(args.qi_locustfile),
            },
            "runs": runs,
            "mean_rps": means,
            "pair_ratios": pairs,
            "ratio": ratio,
            "mean_req_per_cpu_s": per_cpu,
            "cpu_ratio": cpu_ratio,
            "goal": GOAL,
            "goal_met": ratio >= GOAL,
            "profile": profile,
            "out": str(out),
        },
    )
    bad = [r for r in runs if r.get("failed")]
    if bad:
        print(
            f"qi-load runs with failed requests: {[r['run'] for r in bad]}: {bad[0]['first_error']}"
        )
    # Locust exits 1 after failures or errors in a user (a traceback records nothing): the
    # numbers of such a run are not the cost of working requests.
    crashed = [r for r in runs if r["exit_code"] != 0]
    for r in crashed:
        print(f"WARNING: {r['run']} exited with code {r['exit_code']}: see {out / r['run']}.log")
    return 1 if crashed or bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
