"""How close `qi-load startup`'s time-to-exit is to independent measurements of the same command.

    python benchmarks/startup_accuracy.py [--runs 10] [--sleeps 0.1,0.3,1.0]

For each sleep duration, alternates one run of each method, `--runs` times:
  * qi-load: `measure_startup` (spawn in a new session, pidfd wake-up on exit),
  * perf_counter around `subprocess.run`,
  * `/usr/bin/time -f %e` (10 ms resolution; includes its own fork/exec), when installed.
Prints the medians and qi-load's relative difference to the perf_counter median, with the
load average, since the machine this runs on is usually shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from qi_load.bench.startup import ReadyCondition, measure_startup


def _perf_counter_ms(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000.0


def _gnu_time_ms(argv: list[str]) -> float:
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%e", *argv],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return float(proc.stderr.strip().splitlines()[-1]) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--sleeps", default="0.1,0.3,1.0")
    args = parser.parse_args()
    has_time = shutil.which("/usr/bin/time") is not None
    print(f"load average at start: {os.getloadavg()}")
    print("sleep_s  qi-load_ms  perf_counter_ms  usr_bin_time_ms  diff_vs_perf_counter")
    for sleep in (float(s) for s in args.sleeps.split(",")):
        argv = [sys.executable, "-c", f"import time; time.sleep({sleep})"]
        ours, perf, gnu = [], [], []
        for index in range(args.runs):
            ours.append(measure_startup(argv, ReadyCondition("exit"), index=index).ready_ms)
            perf.append(_perf_counter_ms(argv))
            if has_time:
                gnu.append(_gnu_time_ms(argv))
        q, p = statistics.median(ours), statistics.median(perf)
        g = f"{statistics.median(gnu):15.1f}" if gnu else f"{'-':>15}"
        print(f"{sleep:7.1f}  {q:10.1f}  {p:15.1f}  {g}  {(q - p) / p:+19.1%}")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
