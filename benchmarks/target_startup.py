"""Start-up time and idle memory of the reference agent (`qi-load target`).

    python benchmarks/target_startup.py [--iterations 10] [--cooldown 1.0]

Each iteration spawns `qi-load target --port 0`, times spawn -> QI_READY line, reads the
QI_PHASE breakdown, then samples RSS (process + children) right at ready and after 2 s idle,
and stops it with SIGTERM. Targets: ready < 1.5 s, idle RSS < 100 MB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import psutil

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from qi_load.agent.launch import spawn_target


def _rss(pid: int) -> int:
    process = psutil.Process(pid)
    return process.memory_info().rss + sum(
        child.memory_info().rss for child in process.children(recursive=True)
    )


def _stats(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return (
        f"mean {statistics.mean(values):7.1f}  p50 {statistics.median(values):7.1f}  "
        f"p95 {p95:7.1f}  max {ordered[-1]:7.1f}  sd {spread:6.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--cooldown", type=float, default=1.0)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")
    ready_ms: list[float] = []
    rss_ready: list[float] = []
    rss_idle: list[float] = []
    phases: dict[str, list[float]] = {}
    for _ in range(args.iterations):
        target = spawn_target()
        try:
            ready_ms.append(target.ready_s * 1000.0)
            rss_ready.append(_rss(target.pid) / 1e6)
            for name, ms in target.phases().items():
                phases.setdefault(name, []).append(ms)
            time.sleep(2.0)
            rss_idle.append(_rss(target.pid) / 1e6)
        finally:
            target.stop()
            target.discard_log()
        time.sleep(args.cooldown)
    print(f"iterations: {args.iterations}")
    print(f"spawn -> QI_READY (ms)   {_stats(ready_ms)}")
    for name, values in phases.items():
        print(f"  phase {name:16s} {_stats(values)}")
    print(f"RSS at ready (MB)        {_stats(rss_ready)}")
    print(f"RSS idle after 2 s (MB)  {_stats(rss_idle)}")
    print(f"load average after: {os.getloadavg()}")
    ok = statistics.median(ready_ms) < 1500 and max(rss_idle) < 100
    print("PASS" if ok else "FAIL", "(targets: ready < 1500 ms, idle RSS < 100 MB)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
