"""`qi-load run`: run a scenario end to end (reference agent, Locust, report)."""

from __future__ import annotations

import argparse
from pathlib import Path

from qi_load.generate import options as load_options

__all__ = ["DESCRIPTION", "HELP", "PASSTHROUGH", "add_arguments", "run"]

PASSTHROUGH = True
"""Everything after ``--`` goes to Locust unchanged (``args.passthrough``)."""

HELP = "run a scenario end to end: reference agent, Locust master/workers, report"
DESCRIPTION = """\
Run a load scenario with Locust and leave a complete run directory behind.

Without --host the embedded reference agent is started on a free loopback port and
stopped afterwards. With --workers N a Locust master and N local worker processes run over
ZeroMQ; otherwise one Locust process does the work. Progress is printed every few seconds;
Ctrl-C or SIGTERM stops the run cleanly (run.json then says "interrupted").
Before the ramp, one request per protocol checks the --host agent: a wrong port, path, key
or model stops the run at once with the cause and the fix on one line (exit 2).

examples:
  qi-load run                                  # quick ladder against the reference agent
  qi-load run smoke --time-scale 0.5
  qi-load run scenarios/ladder.yaml --host http://agent:8000 --workers 4
  qi-load run --host http://127.0.0.1:8080 --monitor-pid 4242   # sample the agent as 'sut'
  qi-load run smoke --target-arg=--slots --target-arg=4 -- --loglevel DEBUG
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario",
        nargs="?",
        default="quick-ladder",
        help="scenario YAML file or packaged name (default: quick-ladder)",
    )
    parser.add_argument("--host", default="", help="agent base URL (default: reference agent)")
    parser.add_argument(
        "--workers", type=int, default=0, help="local Locust worker processes (0: one process)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("reports"), help="parent folder of run directories"
    )
    parser.add_argument("--no-report", action="store_true", help="skip the report")
    parser.add_argument(
        "--target-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for the reference agent (repeatable), e.g. --target-arg=--slots",
    )
    parser.add_argument(
        "--progress", type=float, default=5.0, help="seconds between progress lines (0: off)"
    )
    # Locust's options that qi-load run takes too, under the same names, handed on as given.
    run_options = load_options.run_options()
    load_options.add_arguments(
        parser, load_options.GROUPS, only=run_options.__contains__, grouped=False
    )
    parser.add_argument(
        "--locustfile", default="", help="locustfile to run (default: the packaged agent one)"
    )
    parser.epilog = "Arguments after -- are passed to Locust unchanged."


def run(args: argparse.Namespace) -> int:
    from qi_load.errors import QiLoadError
    from qi_load.generate.options import LoadOptions
    from qi_load.runner import RunOptions
    from qi_load.runner import run as run_scenario

    if args.workers < 0:
        raise QiLoadError(f"--workers must be >= 0, got {args.workers}")
    result = run_scenario(
        RunOptions(
            scenario=args.scenario,
            host=args.host,
            workers=args.workers,
            out=args.out,
            load=LoadOptions.from_namespace(args),
            report=not args.no_report,
            target_args=args.target_arg,
            locustfile=args.locustfile,
            progress_interval=args.progress,
            locust_args=args.passthrough,
        )
    )
    if result.summary is not None:
        from qi_load.render.terminal import terminal_summary

        print(terminal_summary(result.summary))
    print(f"qi-load: run {result.status}: {result.run_dir}")
    if result.report_path is not None:
        print(f"qi-load: report {result.report_path}")
    elif result.status == "interrupted":
        print(f"qi-load: for a report of what was recorded: qi-load report {result.run_dir}")
    return result.exit_code
