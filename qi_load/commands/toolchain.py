"""`qi-load toolchain`: compare pairs of development commands and report the speedup."""

from __future__ import annotations

import argparse

__all__ = ["DESCRIPTION", "EXAMPLE", "HELP", "add_arguments", "run"]

HELP = "compare pairs of toolchain commands (build, tests, lint): wall, CPU, RSS, speedup"
DESCRIPTION = """\
Run the comparisons of FILE.yaml: for each, --warmup untimed then -n timed runs of both
commands, alternating which goes first, with the `prepare` step before and the `reset`
step after every timed run. Per run: wall time, CPU time and peak RSS of the process tree.
Reports mean, p95 and stddev per command and the speedup (baseline mean / candidate mean)
with a bootstrap confidence interval; writes toolchain.json and toolchain.png to --out.

examples:
  qi-load toolchain my-toolchain.yaml -n 5 --warmup 1
  qi-load toolchain --example          # the shipped qi_load/bench/toolchain-example.yaml
"""

EXAMPLE = "toolchain-example.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", metavar="FILE.yaml", help="comparisons to run")
    parser.add_argument(
        "--example", action="store_true", help="run the shipped toolchain-example.yaml"
    )
    parser.add_argument(
        "-n", "--iterations", type=int, metavar="N", help="timed runs per command (file: 5)"
    )
    parser.add_argument("--warmup", type=int, metavar="N", help="untimed runs first (file: 1)")
    parser.add_argument(
        "--out", metavar="DIR", help="output folder (default reports/toolchain-<timestamp>/)"
    )


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    import time
    from pathlib import Path
    from typing import Any

    from qi_load.bench.plots import plot_toolchain
    from qi_load.bench.proctree import interrupt_on_sigterm
    from qi_load.bench.toolchain import Measurement, run_comparison
    from qi_load.bench.toolchain_config import load_toolchain_config
    from qi_load.bench.toolchain_report import toolchain_document, toolchain_table
    from qi_load.errors import QiLoadError
    from qi_load.record.environment import capture_environment

    if args.example == (args.file is not None):
        raise QiLoadError("give either FILE.yaml or --example")
    path = Path(args.file) if args.file else Path(__file__).parents[1] / "bench" / EXAMPLE
    config = load_toolchain_config(path)
    iterations = config.iterations if args.iterations is None else args.iterations
    warmup = config.warmup if args.warmup is None else args.warmup
    if iterations < 1:
        raise QiLoadError(f"-n/--iterations: expected at least 1, got {iterations}")
    if warmup < 0:
        raise QiLoadError(f"--warmup: expected 0 or more, got {warmup}")
    out = Path(args.out or f"reports/toolchain-{time.strftime('%Y%m%d-%H%M%S')}")
    environment: dict[str, Any] = dict(capture_environment())

    def progress(name: str, side: str, label: str, measurement: Measurement) -> None:
        print(
            f"{name}/{side} {label}: {measurement.wall_s:.3f} s",
            file=sys.stderr,
            flush=True,
        )

    with interrupt_on_sigterm():
        results = [
            run_comparison(
                comparison,
                iterations=iterations,
                warmup=warmup,
                config_dir=path.resolve().parent,
                on_measurement=progress,
            )
            for comparison in config.comparisons
        ]
    document = toolchain_document(
        config_path=str(path),
        results=results,
        settings={"iterations": iterations, "warmup": warmup, "confidence": config.confidence},
        environment=environment,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "toolchain.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    plot_toolchain(document, out / "toolchain.png")
    print(toolchain_table(document))
    load = environment["load_avg"]
    print(f"\nload average at start {load[0]:.2f}; wrote {out / 'toolchain.json'}, toolchain.png")
    return 0
