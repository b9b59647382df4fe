"""`qi-load compare`: regressions of a run against a baseline run, gated for CI."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from qi_load.cli import EXIT_CHECK_FAILED
from qi_load.errors import QiLoadError
from qi_load.record.repeat_index import is_repeat_set

if TYPE_CHECKING:
    from qi_load.analyze.compare import CompareSettings, Comparison
    from qi_load.analyze.repeat_set import SetSummary

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "find regressions of a run (or repeat set) against a baseline"
DESCRIPTION = """\
Compare CUR against BASE: E2E p95 (overall, per query type and per matching stage),
throughput, error rate and target memory. A change worse than --warn is a warning, worse
than --critical critical, but only when its 95 % bootstrap confidence interval excludes
zero and both sides have at least --min-samples values (noise is not a regression).

BASE and CUR may be repeat sets (qi-load run --repeat N): then each stage's E2E p50/p95
and throughput and the capacity are compared as means over the runs, with a t-interval
of the difference from the runs' spread, all rows' intervals holding together at 95 %
(a plain run directory counts as a set of one).

Prints a table and writes comparison.md and comparison.json into --out (default: CUR).
exit codes: 0 no critical regression, 2 bad input, 3 a critical regression.
"""


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 10:
        raise argparse.ArgumentTypeError(f"must be a fraction such as 0.10, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "base", metavar="BASE", type=Path, help="the baseline run directory or repeat set"
    )
    parser.add_argument("current", metavar="CUR", type=Path, help="the run or set to judge")
    parser.add_argument("--warn", type=_fraction, default=0.10, help="warning at (default 0.10)")
    parser.add_argument(
        "--critical", type=_fraction, default=0.25, help="critical at (default 0.25)"
    )
    parser.add_argument(
        "--min-samples", type=int, default=20, help="values needed on both sides (default 20)"
    )
    parser.add_argument("--out", metavar="DIR", type=Path, help="where to write the files")


def _compare_sets(base: Path, current: Path, settings: CompareSettings) -> Comparison:
    """Repeat sets are judged on their between-run intervals; a plain run directory on
    either side counts as a set of one run."""
    from qi_load.analyze.compare_sets import compare_sets
    from qi_load.analyze.repeat_set import load_set, single_run_set

    def read(path: Path) -> SetSummary:
        return load_set(path) if is_repeat_set(path) else single_run_set(path)

    return compare_sets(read(base), read(current), settings)


def run(args: argparse.Namespace) -> int:
    from qi_load.analyze.compare import CompareSettings, ci_label, compare_runs
    from qi_load.analyze.load import load_run
    from qi_load.analyze.summary import summary_json
    from qi_load.render.markdown import comparison_markdown
    from qi_load.render.text_table import format_table

    if args.critical < args.warn:
        raise QiLoadError(f"--critical {args.critical} is below --warn {args.warn}")
    if args.min_samples < 2:
        raise QiLoadError(f"--min-samples must be at least 2, got {args.min_samples}")
    settings = CompareSettings(warn=args.warn, critical=args.critical, min_samples=args.min_samples)
    if is_repeat_set(args.base) or is_repeat_set(args.current):
        comparison = _compare_sets(args.base, args.current, settings)
    else:
        comparison = compare_runs(load_run(args.base), load_run(args.current), settings)
    rows = []
    for r in comparison["rows"]:
        rows.append([
            r["metric"], r["scope"],
            "-" if r["base"] is None else f"{r['base']:.4g}",
            "-" if r["current"] is None else f"{r['current']:.4g}",
            "-" if r["change"] is None else f"{r['change']:+.1%}",
            "-" if r["ci_low"] is None else f"{r['ci_low']:+.1%}..{r['ci_high']:+.1%}",
            r["severity"],
        ])  # fmt: skip
    for warning in comparison["warnings"]:
        print(f"warning: {warning}")
    head = ["metric", "scope", "baseline", "current", "change", ci_label(comparison["level"])]
    print(format_table([*head, "verdict"], rows))
    noise = comparison["inconclusive"]
    print(f"intervals: {comparison['method']}")
    print(
        f"worst: {comparison['worst']}"
        + (f" ({noise} inconclusive: within noise)" if noise else "")
    )
    out = args.out or args.current
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(summary_json(comparison), encoding="utf-8")
    (out / "comparison.md").write_text(
        "\n".join(comparison_markdown(comparison)) + "\n", encoding="utf-8"
    )
    print(f"wrote {out / 'comparison.md'} and {out / 'comparison.json'}")
    return EXIT_CHECK_FAILED if comparison["worst"] == "critical" else 0
