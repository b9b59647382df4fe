"""`qi-load startup`: start a command N times and report its time to ready, phases and memory."""

from __future__ import annotations

import argparse

from qi_load.units import MB

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "benchmark a command's startup: time to ready, phases, RSS and CPU at ready"
DESCRIPTION = """\
Start CMD -n times (one at a time, --cooldown seconds apart) in its own session and time
it from spawn to ready: spawn, first output, first listening TCP port of its process tree,
ready, plus the phases it reports itself as lines `QI_PHASE <phase> <duration_ms>` on
stdout or stderr. At ready, the RSS and CPU time of the whole process tree are sampled,
then the tree is killed. Without a --ready-* option the command is timed to its exit
(peak RSS, CPU from rusage).

Writes startup.json and startup.png to --out and prints the statistics (mean, median,
p95, stddev, min, max), graded against the startup (200/300/500 ms) and memory
(50/75/100 MB) targets.

example:
  qi-load startup -n 10 --ready-log QI_READY -- qi-load target --port 0
  qi-load startup --ready-url 'http://127.0.0.1:{port}/ready' -- qi-load target --port 0
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = (
        "%(prog)s [-n N] [--ready-url URL | --ready-log REGEX | --ready-port N]\n"
        "       [--cooldown S] [--timeout S] [--out DIR] -- CMD ..."
    )
    parser.add_argument(
        "-n", "--runs", type=int, default=10, metavar="N", help="starts (default 10)"
    )
    ready = parser.add_mutually_exclusive_group()
    ready.add_argument(
        "--ready-url",
        metavar="URL",
        help="ready when URL answers 2xx; '{port}' is replaced by the first port the tree "
        "listens on",
    )
    ready.add_argument(
        "--ready-log", metavar="REGEX", help="ready when a stdout/stderr line matches REGEX"
    )
    ready.add_argument(
        "--ready-port", metavar="N", type=int, help="ready when 127.0.0.1:N accepts connections"
    )
    parser.add_argument(
        "--cooldown", type=float, default=1.0, metavar="S", help="pause between starts (1 s)"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="per start, to ready (30 s)"
    )
    parser.add_argument(
        "--out", metavar="DIR", help="output folder (default reports/startup-<timestamp>/)"
    )
    parser.add_argument("cmd", nargs="+", metavar="CMD", help="the command to start, after --")


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    import time
    from pathlib import Path
    from typing import Any

    from qi_load.bench.plots import plot_startup
    from qi_load.bench.proctree import interrupt_on_sigterm
    from qi_load.bench.startup import ReadyCondition, StartupRun, run_startup
    from qi_load.bench.startup_report import startup_document, startup_table
    from qi_load.errors import QiLoadError
    from qi_load.record.environment import capture_environment

    if args.runs < 1:
        raise QiLoadError(f"-n/--runs: expected at least 1, got {args.runs}")
    if args.timeout <= 0:
        raise QiLoadError(f"--timeout: expected seconds > 0, got {args.timeout}")
    if args.cooldown < 0:
        raise QiLoadError(f"--cooldown: expected seconds >= 0, got {args.cooldown}")
    ready = ReadyCondition.from_options(
        log=args.ready_log, url=args.ready_url, port=args.ready_port
    )
    out = Path(args.out or f"reports/startup-{time.strftime('%Y%m%d-%H%M%S')}")
    environment: dict[str, Any] = dict(capture_environment())

    def progress(result: StartupRun) -> None:
        phases = " ".join(f"{k}={v:g}" for k, v in result.phases.items())
        print(
            f"run {result.index}/{args.runs}: {result.ready_ms:.1f} ms, "
            f"RSS {result.rss_bytes / MB:.1f} MB {phases}".rstrip(),
            file=sys.stderr,
            flush=True,
        )

    with interrupt_on_sigterm():
        runs = run_startup(
            args.cmd,
            ready,
            runs=args.runs,
            cooldown_s=args.cooldown,
            timeout_s=args.timeout,
            on_run=progress,
        )
    document = startup_document(
        command=args.cmd,
        ready=ready.as_dict(),
        runs=runs,
        settings={"runs": args.runs, "cooldown_s": args.cooldown, "timeout_s": args.timeout},
        environment=environment,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "startup.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    plot_startup(document, out / "startup.png")
    load = environment["load_avg"]
    print(startup_table(document))
    print(f"\nload average at start {load[0]:.2f}; wrote {out / 'startup.json'}, startup.png")
    return 0
