"""Benchmark: `qi-load report` on 1,000,000 request rows and one hour of 1 Hz samples (3 roles).

Goal (issue 6): report in <= 20 s with <= 2 GB peak RSS. The synthetic run directory is
written first by a child process (not timed); the report then runs in another child. The
report's own ``ru_maxrss`` comes from ``os.wait4``; the writer is a child too because a
forked child's ``ru_maxrss`` starts at its parent's RSS.

    .venv/bin/python benchmarks/report_scale.py [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
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

# Five 12-minute stages at 150..400 req/s (200 slots of 0.5 s): ~1.04 million rows in an hour.
SPEC = SyntheticRun(
    users=(150, 250, 300, 350, 400),
    ramp_s=10.0,
    hold_s=710.0,
    settle_s=30.0,
    slots=200,
    service_s=0.5,
    think_s=0.5,
    query_types=("simple", "code_generation", "file_operations", "multi_tool", "reasoning"),
    slos={},
    leak_mb_per_min=1.5,
    seed=1,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="where to write the run (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the run directory")
    parser.add_argument("--write-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_only:
        write_synthetic_run(args.write_only, SPEC)
        return 0
    root = args.dir or Path(tempfile.mkdtemp(prefix="qi-report-scale-"))
    run_dir = root / "run"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--write-only", str(run_dir)], check=True)
    rows = sum(1 for _ in (run_dir / "requests.csv").open("rb")) - 1
    samples = sum(1 for _ in (run_dir / "host_samples.csv").open("rb")) - 1
    size = (run_dir / "requests.csv").stat().st_size / 2**20
    print(
        f"wrote {rows:,} request rows ({size:.0f} MB) and {samples:,} samples "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    cmd = [sys.executable, "-m", "qi_load", "report", str(run_dir)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak_mb = usage.ru_maxrss / 1024
    print(out.strip())
    if proc.returncode != 0:
        print(err, file=sys.stderr)
    load = os.getloadavg()
    print(
        f"report: {elapsed:.1f} s wall, peak RSS {peak_mb:.0f} MB, exit {proc.returncode} "
        f"(load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} CPUs)"
    )
    ok = proc.returncode == 0 and elapsed <= 20.0 and peak_mb <= 2048
    print("PASS" if ok else "FAIL", "(goal: <= 20 s, <= 2048 MB)")
    if not args.keep and args.dir is None:
        shutil.rmtree(root)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
