"""Run the whole test suite on every core: balanced shards side by side, then the tests marked
``exclusive`` (they measure timing, CPU or memory) one at a time with nothing beside them.

    python tests/run_suite.py [--jobs N] [--store-durations] [pytest options]

The shards are balanced by the per-test durations in ``tests/.test_durations`` (pytest-split);
tests missing there count as the average. ``--store-durations`` rewrites that file from this
run. Exit status: 0 when every phase passed, else the first non-zero pytest status.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DURATIONS = ROOT / "tests" / ".test_durations"
NO_TESTS_COLLECTED = 5
"""pytest's status when a marker selects nothing: a phase with no tests has not failed."""


def _pytest(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", *args]


def _run_shards(jobs: int, passthrough: list[str], store_to: list[Path] | None) -> int:
    """Start the ``jobs`` shards at once; print each one's output as it finishes."""
    running: list[tuple[int, subprocess.Popen[bytes], Path, float]] = []
    logs = Path(tempfile.mkdtemp(prefix="qi-suite-"))
    for group in range(1, jobs + 1):
        # Greedy by duration: new tests (missing from the file) cannot pile up in one shard.
        split = ["--splits", str(jobs), "--group", str(group)]
        split += ["--splitting-algorithm", "least_duration"]
        if store_to is not None:
            split += ["--store-durations", "--durations-path", str(store_to[group - 1])]
        elif DURATIONS.exists():
            split += ["--durations-path", str(DURATIONS)]
        log = logs / f"shard-{group}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                _pytest("-m", "not exclusive", *split, *passthrough),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        running.append((group, proc, log, time.monotonic()))
        print(f"== shard {group}/{jobs} started (pid {proc.pid})", flush=True)
    status = 0
    try:
        while running:
            for entry in list(running):
                group, proc, log, started = entry
                code = proc.poll()
                if code is None:
                    continue
                running.remove(entry)
                took = time.monotonic() - started
                print(f"== shard {group}/{jobs}: exit {code} after {took:.0f} s", flush=True)
                sys.stdout.write(log.read_text(errors="replace"))
                sys.stdout.flush()
                if code not in (0, NO_TESTS_COLLECTED) and status == 0:
                    status = code
            time.sleep(0.5)
    finally:
        for _, proc, _, _ in running:  # interrupted: stop our own shards, by PID
            proc.terminate()
            proc.wait(timeout=30)
    return status


def _merge_durations(parts: list[Path]) -> None:
    merged: dict[str, float] = {}
    for part in parts:
        if part.exists():
            merged.update(json.loads(part.read_text()))
    DURATIONS.write_text(json.dumps(dict(sorted(merged.items())), indent=0) + "\n")
    print(f"== {len(merged)} durations written to {DURATIONS.relative_to(ROOT)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="Other options go to every pytest run (e.g. -q, -x, --durations=25).",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("QI_TEST_JOBS", (os.cpu_count() or 1) + 1)),
        help="shards run side by side (default: $QI_TEST_JOBS, else one more than the cores: "
        "most integration tests wait on real processes more than they compute)",
    )
    parser.add_argument(
        "--store-durations",
        action="store_true",
        help="rewrite tests/.test_durations from this run's shards",
    )
    args, passthrough = parser.parse_known_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: must be at least 1")
    started = time.monotonic()
    store_to = None
    if args.store_durations:
        scratch = Path(tempfile.mkdtemp(prefix="qi-durations-"))
        store_to = [scratch / f"{group}.json" for group in range(1, args.jobs + 1)]
    status = _run_shards(args.jobs, passthrough, store_to)
    if store_to is not None:
        _merge_durations(store_to)
    print("== exclusive tests, one at a time", flush=True)
    alone = subprocess.call(_pytest("-m", "exclusive", *passthrough), cwd=ROOT)
    if alone not in (0, NO_TESTS_COLLECTED) and status == 0:
        status = alone
    verdict = "passed" if status == 0 else f"FAILED (exit {status})"
    print(f"== suite {verdict} in {time.monotonic() - started:.0f} s", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
