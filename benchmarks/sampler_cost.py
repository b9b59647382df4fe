"""Cost of host sampling: CPU seconds per sample, and share of one core at a given rate.

Three measurements, all of this process's CPU time (``time.process_time``):
1. per sample, tight loop: a Locust process sampling itself (no children scan);
2. per sample, tight loop: a watched process with its children (scans /proc for them);
3. a real ``qi-load monitor`` sidecar at ``--interval`` for ``--seconds``: its own CPU
   (psutil), i.e. what watching costs on the SUT's host, ZeroMQ included.

Usage: python benchmarks/sampler_cost.py [--rate 1.0] [--seconds 30] [--loops 300]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import psutil

from qi_load.monitor.hostmon import HostProbe, ProcessSampler


def per_sample_cost(sampler: ProcessSampler, probe: HostProbe, loops: int) -> float:
    start = time.process_time()
    for _ in range(loops):
        sampler.sample(probe.read())
    return (time.process_time() - start) / loops


def sidecar_cost(rate: float, seconds: float) -> tuple[float, int]:
    watched = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    sidecar = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qi_load",
            "monitor",
            "--pid",
            str(watched.pid),
            "--connect",
            "tcp://127.0.0.1:9",
            "--interval",
            str(1.0 / rate),
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        proc = psutil.Process(sidecar.pid)
        time.sleep(3.0)  # past interpreter start-up and imports
        before = proc.cpu_times()
        time.sleep(seconds)
        after = proc.cpu_times()
        used = (after.user + after.system) - (before.user + before.system)
        return used / seconds, proc.memory_info().rss
    finally:
        sidecar.terminate()
        sidecar.wait(10)
        watched.kill()
        watched.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1.0, help="samples per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--loops", type=int, default=300)
    args = parser.parse_args()

    probe = HostProbe()
    own = ProcessSampler(os.getpid(), "worker", include_children=False, probe=probe)
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])"
            " for _ in range(3)]\ntime.sleep(600)",
        ]
    )
    try:
        time.sleep(1.0)
        tree = ProcessSampler(parent.pid, "target", probe=probe)
        c_own = per_sample_cost(own, probe, args.loops)
        c_tree = per_sample_cost(tree, probe, args.loops)
    finally:
        for child in psutil.Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()
    c_side, rss = sidecar_cost(args.rate, args.seconds)
    print(
        f"load average: {os.getloadavg()}, cores: {os.cpu_count()}, processes: {len(psutil.pids())}"
    )
    print(
        f"own process, per sample:        {c_own * 1e3:6.3f} ms CPU "
        f"-> {c_own * args.rate * 100:5.3f} % of one core at {args.rate:g} Hz"
    )
    print(
        f"process + 3 children, per sample: {c_tree * 1e3:6.3f} ms CPU "
        f"-> {c_tree * args.rate * 100:5.3f} % of one core at {args.rate:g} Hz"
    )
    print(
        f"qi-load monitor sidecar at {args.rate:g} Hz over {args.seconds:g} s: "
        f"{c_side * 100:5.3f} % of one core, RSS {rss / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
