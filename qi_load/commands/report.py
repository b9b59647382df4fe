"""`qi-load report`: analyse a run directory and write report.html, summary.md and summary.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from qi_load.cli import EXIT_CHECK_FAILED
from qi_load.errors import QiLoadError
from qi_load.record.repeat_index import is_repeat_set

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "parse_formats", "run"]

HELP = "analyse a run directory (or a repeat set) and write its report"
DESCRIPTION = """\
Analyse a run directory (requests.csv, host_samples.csv, run.json, Locust CSVs) and write
report.html (self-contained), summary.md, summary.json and plots/*.png into it.

Per stage over its steady-state window: throughput, goodput, errors, TTFT/E2E/TPOT
percentiles, server phases and resources per role; the knee, the scalability limit, the
first-saturated resource, memory leaks, the methodology's alerts and targets, and
recommendations. Methods: docs/analysis.md.

A repeat set's directory (`qi-load run --repeat N`) gets the set's report instead: each
stage's E2E p50/p95 and throughput and the capacity, with between-run intervals.

Any directory a run can leave (all requests failed, none, interrupted, killed while
running, files missing) gets every format; what is missing is named in the warnings.

exit codes: 0 report written (and --check passed), 2 bad input (one line naming the file,
line or field, and value), 3 --check failed (an SLO, a target graded fail, a critical alert, a
critical regression against --baseline, or a verdict NOT JUDGED: no stage had enough requests).
"""

_FORMATS = ("html", "md", "json")


def parse_formats(text: str) -> list[str]:
    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in _FORMATS]
    if unknown or not formats:
        raise QiLoadError(
            f"--format: unknown format {unknown[0] if unknown else text!r} "
            f"(choose from {', '.join(_FORMATS)})"
        )
    return formats


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="the run directory")
    parser.add_argument(
        "--targets", metavar="FILE", type=Path, help="YAML/JSON overriding the targets matrix"
    )
    parser.add_argument(
        "--baseline", metavar="RUN_DIR", type=Path, help="compare against this earlier run"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 3 when an SLO, target or critical alert fails"
    )
    parser.add_argument(
        "--format",
        default=",".join(_FORMATS),
        help="comma-separated outputs: html,md,json (default: all)",
    )
    parser.add_argument(
        "--out", metavar="DIR", type=Path, help="write the report here instead of RUN_DIR"
    )


def _report_set(args: argparse.Namespace, formats: list[str]) -> int:
    """A repeat set's report: the between-run intervals over its complete runs."""
    from qi_load.analyze.repeat_set import load_set
    from qi_load.render.repeats import set_terminal, write_set_report

    for option in ("targets", "baseline", "check"):
        if getattr(args, option):
            raise QiLoadError(
                f"--{option} is for a run directory, not the repeat set {args.run_dir} "
                "(report one of its runs, or `qi-load compare` two sets)"
            )
    summary = load_set(args.run_dir)
    written = write_set_report(summary, args.out or args.run_dir, formats)
    print(set_terminal(summary))
    for path in written:
        print(f"wrote {path}")
    return 0


def run(args: argparse.Namespace) -> int:
    # pandas and matplotlib load here only: never in a Locust process.
    from qi_load.analyze.load import load_run
    from qi_load.analyze.summary import analyze_run
    from qi_load.analyze.targets import load_targets, targets_from_scenario
    from qi_load.render.leak_findings import process_label
    from qi_load.render.outputs import write_report
    from qi_load.render.terminal import terminal_summary

    formats = parse_formats(args.format)
    if is_repeat_set(args.run_dir):
        return _report_set(args, formats)
    data = load_run(args.run_dir)
    targets = None
    if args.targets is not None:
        try:
            base = targets_from_scenario(data.scenario)
        except QiLoadError:
            base = None
        targets = load_targets(args.targets, base)
    baseline = load_run(args.baseline) if args.baseline is not None else None
    summary = analyze_run(data, targets=targets, baseline=baseline)
    written = write_report(summary, data, formats, args.out)
    print(terminal_summary(summary))
    for leak in (f for f in summary["leaks"] if f["status"] == "leak"):
        print(f"leak: {process_label(leak)}: {leak['detail']}")
    for path in written:
        if path.suffix != ".png":
            print(f"wrote {path}")
    return EXIT_CHECK_FAILED if args.check and not summary["check"]["passed"] else 0
