"""Benchmark: `qi-load report` on 10 million request rows and 24 h of 1 Hz samples (10 processes).

Goal (issue 16): report in <= 60 s with <= 4 GB peak RSS. The synthetic run directory
(requests.csv and host_samples.csv as the master writes them) is written first by a child
process, not timed. Then, each in a fresh child and measured: the conversion the master
runs when it closes a large run (`python -m qi_load.record.columnar RUN_DIR`, writing
requests.parquet), and `qi-load report`, which reads it. With ``--no-convert`` the report
finds no Parquet file and converts first itself, as for a run killed before its close.
Each step's ``ru_maxrss`` and CPU time come from ``os.wait4``; the writer is a child too
because a forked child's ``ru_maxrss`` starts at its parent's RSS.

    .venv/bin/python benchmarks/report_scale.py [--dir DIR] [--keep] [--fraction F]
        [--no-convert] [--profile]

``--fraction 0.1`` shortens every stage to a tenth (1 M rows, 2.4 h); ``--dir`` with an
existing run reuses it; ``--profile`` writes the report's cProfile to DIR/report.prof.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The synthetic run writer is test code: it lives beside the tests, not in the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from synthetic_run import SyntheticRun, write_synthetic_run

GOAL_S, GOAL_MB = 60.0, 4096.0

# Six 4-hour stages at 40..195 req/s (closed loop, 1 s per request and think time, 200
# slots): 10,008,000 rows in 24 h; master, 8 workers and the target sampled at 1 Hz.
SPEC = SyntheticRun(
    users=(40, 70, 100, 130, 160, 195),
    ramp_s=10.0,
    hold_s=14_390.0,
    settle_s=30.0,
    slots=200,
    service_s=0.5,
    think_s=0.5,
    query_types=("simple", "code_generation", "file_operations", "multi_tool", "reasoning"),
    slos={},
    leak_mb_per_min=0.1,
    workers=8,
    seed=1,
)


def _spec(fraction: float) -> SyntheticRun:
    return dataclasses.replace(SPEC, hold_s=(SPEC.hold_s + SPEC.ramp_s) * fraction - SPEC.ramp_s)


def _count_rows(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 24), b"")) - 1


def _measure(argv: list[str]) -> tuple[float, float, float, int, str]:
    """One command in a fresh process: wall s, CPU s, peak RSS MB, exit code, output.

    On a shared machine the wall time waits for CPUs other processes hold; the CPU time
    (user + system, all threads) does not."""
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return elapsed, cpu, usage.ru_maxrss / 1024, proc.returncode, out.read()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="where to write the run (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the run directory")
    parser.add_argument("--fraction", type=float, default=1.0, help="scale every stage's hold")
    parser.add_argument("--profile", action="store_true", help="cProfile the report")
    parser.add_argument(
        "--no-convert", action="store_true", help="leave the conversion to the report"
    )
    parser.add_argument("--write-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    spec = _spec(args.fraction)
    if args.write_only:
        write_synthetic_run(args.write_only, spec)
        return 0
    root = args.dir or Path(tempfile.mkdtemp(prefix="qi-report-scale-"))
    run_dir = root / "run"
    if not (run_dir / "run.json").is_file():
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--write-only", str(run_dir)]
        subprocess.run([*cmd, "--fraction", str(args.fraction)], check=True)
        print(f"wrote the run in {time.perf_counter() - t0:.0f} s")
    for stale in ("requests.parquet", "report.html", "summary.json", "summary.md"):
        (run_dir / stale).unlink(missing_ok=True)
    rows = _count_rows(run_dir / "requests.csv")
    samples = _count_rows(run_dir / "host_samples.csv")
    size = (run_dir / "requests.csv").stat().st_size / 2**20
    print(f"{rows:,} request rows ({size:.0f} MB CSV), {samples:,} host samples")
    report = [sys.executable, "-m", "qi_load", "report", str(run_dir)]
    if args.profile:
        report[1:1] = ["-m", "cProfile", "-o", str(root / "report.prof")]
    steps = [("report (converts first)", report)]
    if not args.no_convert:
        convert = [sys.executable, "-m", "qi_load.record.columnar", str(run_dir)]
        steps = [("conversion at the master's close", convert), ("report", report)]
    ok = True
    for what, argv in steps:
        load = os.getloadavg()
        elapsed, cpu, peak_mb, code, out = _measure(argv)
        if code != 0:
            print(out, file=sys.stderr)
        print(
            f"{what}: {elapsed:.1f} s wall, {cpu:.1f} s CPU, peak RSS {peak_mb:.0f} MB, "
            f"exit {code} (load average before {load[0]:.2f}, {os.cpu_count()} CPUs)"
        )
        if argv is report:
            ok = code == 0 and elapsed <= GOAL_S and peak_mb <= GOAL_MB
    parquet = run_dir / "requests.parquet"
    if parquet.is_file():
        print(f"requests.parquet: {parquet.stat().st_size / 2**20:.0f} MB")
    print("PASS" if ok else "FAIL", f"(report goal: <= {GOAL_S:.0f} s, <= {GOAL_MB:.0f} MB)")
    if not args.keep and args.dir is None:
        shutil.rmtree(root)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
