"""`qi-load run`: run a scenario end to end (reference agent, Locust, report)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from qi_load.generate import options as load_options

if TYPE_CHECKING:
    from qi_load.runner import RunOptions, RunResult

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
  qi-load run --repeat 3                       # three quick ladders: between-run intervals
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
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run the scenario N times into one repeat set with between-run intervals",
    )
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
    if args.repeat < 1:
        raise QiLoadError(f"--repeat must be at least 1, got {args.repeat}")
    options = RunOptions(
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
    if args.repeat > 1:
        return _run_set(options, args.repeat)
    return _print_run(run_scenario(options))


def _run_set(options: RunOptions, count: int) -> int:
    from qi_load.render.repeats import set_terminal
    from qi_load.repeat_run import run_repeated

    outcome = run_repeated(options, count, on_run=_print_run)
    if outcome.summary is not None:
        print(set_terminal(outcome.summary))
    print(f"qi-load: repeat set: {outcome.set_dir}")
    for path in outcome.report_paths:
        if path.suffix == ".html":
            print(f"qi-load: set report {path}")
    return outcome.exit_code


def _print_run(result: RunResult) -> int:
    if result.summary is not None:
        from qi_load.render.terminal import terminal_summary

        print(terminal_summary(result.summary))
    print(f"qi-load: run {result.status}: {result.run_dir}")
    if result.report_path is not None:
        print(f"qi-load: report {result.report_path}")
    elif result.status == "interrupted":
        print(f"qi-load: for a report of what was recorded: qi-load report {result.run_dir}")
    return result.exit_code
