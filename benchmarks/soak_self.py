"""Soak health of qi-load itself: RSS, open fds and greenlets of master and workers over time.

A real ``qi-load run --workers N`` (a Locust master and N workers over ZeroMQ) holds a steady
open-loop load (``--rate`` requests/s, evenly spaced starts) of simple streamed queries on the
embedded reference agent for ``--duration`` seconds. The run samples its own processes
(``host_samples.csv``: master, workers and the agent, every ``--interval`` s), and with
``QI_LOAD_COUNT_GREENLETS=1`` each Locust process adds its count of live greenlet objects.
After ``--warmup`` s (its own ``warmup`` stage) the growth of each process is the median of
the last ``--edge`` s minus the median of the first ``--edge`` s after warm-up, with a
Theil-Sen slope; the goal is < 5 MB of RSS growth for master and workers. The report's leak
findings and fired alerts are printed by side: qi-load's own processes, then the agent's.

    nice -n 5 .venv/bin/python benchmarks/soak_self.py [--duration 3600] [--warmup 600] \
        [--rate 100] [--workers 1] [--out DIR] [--json F]

Short tries: ``--duration 240 --warmup 60 --edge 30``. ``--analyze DIR/soak`` rebuilds the
report of an earlier run with this checkout's analysis and prints the same tables.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _common import PYTHON, ROOT, machine_facts, print_table, write_json

from qi_load.analyze.leaks import theil_sen
from qi_load.monitor.greenlets import COUNT_ENV
from qi_load.units import MB
from qi_load.vocabulary import side_of

GOAL_MB = 5.0
# Fast simulated answers: 100 req/s stay far below the agent's capacity (slots / service time),
# so what grows is the load of one steady rate, not a queue.
AGENT_ARGS = ("--slots", "64", "--timing", "all=20,5,8")


@dataclass(frozen=True)
class Growth:
    """How one counter of one process moved between the start and the end of the window."""

    n: int
    start: float
    end: float
    delta: float
    slope_per_h: float
    slope_low: float
    slope_high: float
    peak: float


def growth(
    ts: Sequence[float], values: Sequence[float], t0: float, t1: float, edge_s: float
) -> Growth | None:
    """``values`` at times ``ts`` inside ``[t0, t1]``: the median of the last ``edge_s``
    seconds minus the median of the first (medians: one GC or sampling blip does not move
    them), a Theil-Sen slope per hour with its 95 % interval, and the peak. ``None`` when
    either edge holds no sample."""
    inside = [(t, v) for t, v in zip(ts, values, strict=True) if t0 <= t <= t1]
    first = [v for t, v in inside if t < t0 + edge_s]
    last = [v for t, v in inside if t > t1 - edge_s]
    if not first or not last:
        return None
    start, end = statistics.median(first), statistics.median(last)
    slope, low, high = theil_sen([t for t, _ in inside], [v for _, v in inside])
    return Growth(
        n=len(inside),
        start=start,
        end=end,
        delta=end - start,
        slope_per_h=slope * 3600.0,
        slope_low=low * 3600.0,
        slope_high=high * 3600.0,
        peak=max(v for _, v in inside),
    )


def scenario_text(
    *, rate: float, users: int, warmup_s: float, hold_s: float, interval_s: float
) -> str:
    return (
        "name: soak-self\n"
        "description: qi-load's own soak health at a steady open-loop rate\n"
        f"warmup_s: {warmup_s:g}\n"
        "settle_s: 0\n"
        "think_time: {kind: none}\n"
        f"arrival: {{mode: open, rate: {rate:g}, process: constant}}\n"
        "mix: {simple: 1}\n"
        f"monitor: {{interval_s: {interval_s:g}}}\n"
        "stages:\n"
        f"  - {{name: soak, users: {users}, ramp_s: 5, hold_s: {hold_s:g}}}\n"
    )


def _samples(run_dir: Path) -> dict[tuple[str, int], dict[str, list[float]]]:
    """(role, pid) -> column -> values, for the columns the growth table reads."""
    series: dict[tuple[str, int], dict[str, list[float]]] = {}
    with (run_dir / "host_samples.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            cols = series.setdefault((row["role"], int(row["pid"])), {})
            for name in ("ts", "rss_bytes", "num_fds", "num_threads", "greenlets"):
                cell = row.get(name) or ""
                cols.setdefault(name, []).append(float(cell) if cell else math.nan)
    return series


def _requests(run_dir: Path, t0: float, t1: float) -> tuple[int, int]:
    """(requests started in the window, failed among them)."""
    rows = failed = 0
    with (run_dir / "requests.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if t0 <= float(row["ts_start"]) < t1:
                rows += 1
                failed += row["ok"].lower() not in ("true", "1")
    return rows, failed


def process_table(
    series: dict[tuple[str, int], dict[str, list[float]]], t0: float, t1: float, edge_s: float
) -> list[dict[str, Any]]:
    """One row per sampled process: its side, and the growth of RSS (MB), fds and greenlets."""
    rows = []
    for (role, pid), cols in sorted(series.items()):
        row: dict[str, Any] = {"side": side_of(role), "role": role, "pid": pid}
        for name, scale in (
            ("rss_bytes", MB),
            ("num_fds", 1.0),
            ("num_threads", 1.0),
            ("greenlets", 1.0),
        ):
            pairs = [
                (t, v / scale)
                for t, v in zip(cols["ts"], cols[name], strict=True)
                if not math.isnan(v)
            ]
            g = (
                growth([t for t, _ in pairs], [v for _, v in pairs], t0, t1, edge_s)
                if pairs
                else None
            )
            row[name] = None if g is None else asdict(g)
        rows.append(row)
    return rows


def _fmt(g: dict[str, Any] | None, digits: int) -> tuple[str, str, str]:
    if g is None:
        return "-", "-", "-"
    return (
        f"{g['start']:.{digits}f} -> {g['end']:.{digits}f}",
        f"{g['delta']:+.{digits}f}",
        f"{g['slope_per_h']:+.{digits}f} "
        f"({g['slope_low']:+.{digits}f} .. {g['slope_high']:+.{digits}f})",
    )


def _run(args: argparse.Namespace, out: Path, before: dict[str, Any]) -> tuple[list[str], int]:
    """``qi-load run`` of the soak scenario into ``out/soak``; (command, exit code)."""
    out.mkdir(parents=True, exist_ok=True)
    scenario = out / "soak-self.yaml"
    scenario.write_text(
        scenario_text(
            rate=args.rate,
            users=args.users,
            warmup_s=args.warmup,
            hold_s=args.duration,
            interval_s=args.interval,
        ),
        encoding="utf-8",
    )
    command = [PYTHON, "-m", "qi_load", "run", "--workers", str(args.workers), "--out", str(out)]
    command += ["--run-id", "soak", "--progress", "60"]
    command += [f"--target-arg={a}" for a in AGENT_ARGS]
    command.append(str(scenario))
    log_path = out / "soak.log"
    print(f"{before['date_utc']} UTC: {' '.join(command)}\n  log {log_path}", flush=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env={**os.environ, COUNT_ENV: "1", "PYTHONUNBUFFERED": "1"},
        )
        try:
            process.wait(args.warmup + args.duration + 900)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait(60)
        except KeyboardInterrupt:
            process.terminate()
            process.wait(60)
            raise
    return command, process.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=3600.0,
        help="seconds of load after warm-up (default 3600)",
    )
    parser.add_argument(
        "--warmup", type=float, default=600.0, help="warm-up seconds, not judged (default 600)"
    )
    parser.add_argument(
        "--rate", type=float, default=100.0, help="requests per second (default 100)"
    )
    parser.add_argument(
        "--users", type=int, default=32, help="concurrency that keeps the schedule (default 32)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="Locust worker processes (default 1)"
    )
    parser.add_argument(
        "--interval", type=float, default=5.0, help="seconds between samples (default 5)"
    )
    parser.add_argument(
        "--edge",
        type=float,
        default=300.0,
        help="seconds at each end the medians cover (default 300)",
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for the run and its log")
    parser.add_argument("--json", type=Path, default=None, help="write results as JSON here")
    parser.add_argument(
        "--analyze",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="no new run: rebuild the report of an earlier one (its soak/ folder) and analyze it",
    )
    args = parser.parse_args()
    if (
        args.duration < 4 * args.edge
        or args.edge < 4 * args.interval
        or args.workers < 1
        or args.rate <= 0
    ):
        parser.error(
            "need --duration >= 4 * --edge, --edge >= 4 * --interval, --workers >= 1, --rate > 0"
        )
    if args.analyze is not None and not (args.analyze / "run.json").is_file():
        parser.error(f"--analyze {args.analyze}: no run.json there (give the run's soak/ folder)")
    before = machine_facts()
    if args.analyze is not None:
        # An earlier run, its report rebuilt by this checkout's analysis.
        run_dir, command = args.analyze, [PYTHON, "-m", "qi_load", "report", str(args.analyze)]
        exit_code = subprocess.run(command, cwd=ROOT, capture_output=True, check=False).returncode
    else:
        out = args.out or Path(tempfile.mkdtemp(prefix="qi-soak-self-"))
        run_dir = out / "soak"
        command, exit_code = _run(args, out, before)
    after = machine_facts()
    manifest = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    stage = next((s for s in manifest["stages"] if s["name"] == "soak"), None)
    if stage is None or manifest.get("status") != "complete":
        print(f"the run is {manifest.get('status')!r}, not complete: see {run_dir.parent}")
        return 1
    t0, t1 = float(stage["ramp_end"]), float(stage["end"])
    warmup = t0 - float(manifest["stages"][0]["start"])
    requests, failed = _requests(run_dir, t0, t1)
    table = process_table(_samples(run_dir), t0, t1, args.edge)
    print(
        f"\n{before['cores']} cores ({before['cpu_model']}), "
        f"load {before['load_avg']} -> {after['load_avg']}; "
        f"{len(manifest.get('workers') or [])} worker(s), {t1 - t0:.0f} s judged after "
        f"{warmup:.0f} s warm-up; {requests / (t1 - t0):.1f} req/s achieved "
        f"(asked {manifest['scenario']['arrival']['rate']:g}), {failed} failed"
    )
    print_table(
        [
            "side",
            "role",
            "pid",
            "RSS MB",
            "growth MB",
            "MB/h (95 % CI)",
            "fds",
            "greenlets",
            "threads",
        ],
        [
            [
                r["side"],
                r["role"],
                r["pid"],
                *_fmt(r["rss_bytes"], 1),
                _fmt(r["num_fds"], 0)[0],
                _fmt(r["greenlets"], 0)[0],
                _fmt(r["num_threads"], 0)[0],
            ]
            for r in table
        ],
    )
    own = [r for r in table if r["side"] == "qi-load" and r["rss_bytes"] is not None]
    worst = max((r["rss_bytes"]["delta"] for r in own), default=math.nan)
    met = bool(own) and worst < GOAL_MB
    print(
        f"largest RSS growth of qi-load's own processes: {worst:+.1f} MB "
        f"(goal < {GOAL_MB:g} MB: {'met' if met else 'NOT met'})"
    )
    summary_path = run_dir / "summary.json"
    findings: dict[str, Any] = {}
    if summary_path.exists():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        findings = {
            "leaks": [
                {
                    k: f.get(k)
                    for k in (
                        "side",
                        "role",
                        "pid",
                        "status",
                        "pattern",
                        "slope_mb_per_min",
                        "detail",
                    )
                }
                for f in summary.get("leaks", [])
            ],
            "alerts": [
                {
                    k: a.get(k)
                    for k in ("rule", "key", "severity", "worst", "fired_at", "resolved_at")
                }
                for a in summary.get("alerts", [])
            ],
        }
        for side in ("qi-load", "agent"):
            print(f"report leak findings, {side}:")
            for f in findings["leaks"]:
                if side_of(str(f["role"])) == side:
                    print(
                        f"  {f['role']}/{f['pid']}: {f['status']} {f['pattern'] or ''} "
                        f"{f['detail']}"
                    )
        fired = [a for a in findings["alerts"] if "memory_growth" in str(a["rule"])]
        print(
            "memory growth alerts: "
            + (
                "; ".join(f"{a['rule']} on {a['key']} (worst {a['worst']:.1f} MB/h)" for a in fired)
                or "none"
            )
        )
    write_json(
        args.json,
        {
            "benchmark": "soak_self",
            "machine_before": before,
            "machine_after": after,
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "command": command,
            "exit_code": exit_code,
            "window_s": t1 - t0,
            "rps": requests / (t1 - t0),
            "failed": failed,
            "processes": table,
            "worst_own_rss_growth_mb": worst,
            "goal_mb": GOAL_MB,
            "goal_met": met,
            "findings": findings,
            "run_dir": str(run_dir),
        },
    )
    return 0 if met and exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
