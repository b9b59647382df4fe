"""Do reports find what is there, and nothing that is not? Four real runs, their verdicts.

Runs the quick ladder against the reference agent four times and checks the verdicts:

1. ``--slots 4``: the knee is the stage where the agent's capacity is crossed (± one stage)
   and the first saturated resource is the inference queue, not CPU; no leak. On a host
   where other processes take the CPU the noisy neighbour (``host_cpu``) is named first,
   rightly: the check then asks the attribution with that rule off.
2. ``--slots 4 --leak-mb-per-min 5``: the agent's leak is found at 5 MB/min ± 30 %.
3. ``--slots 4 --slowdown 1.4``: ``qi-load compare`` against run 1 says critical, exit 3;
   ``compare`` of run 1 against run 2 (same timings, plus a leak) finds no latency regression.
4. ``--slots 4 --cache-mb 40``: a bounded cache is growth with its plateau, not a leak.

    python benchmarks/report_verdicts.py [--out DIR] [--time-scale 1.0] [--json FILE]

About 9 minutes (four 2-minute runs). The capacity is computed from the agent's configured
timings: with S slots and a mean service time T, S / T requests per second; the quick
ladder's users think 0.5-1.5 s (mean 1 s), so capacity is crossed at about
``S / T * (T + 1)`` users.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from qi_load.analyze.degradation import DegradationSettings, degradation
from qi_load.analyze.load import load_run
from qi_load.analyze.stages import analyze_stages

QI_LOAD = [sys.executable, "-m", "qi_load"]
# Default reference-agent timings (docs/reference-agent.md): TTFT, inter-token ms, tokens.
TIMINGS = {
    "simple": (150, 20, 20),
    "code_generation": (300, 15, 120),
    "file_operations": (250, 15, 60),
    "multi_tool": (400, 15, 80),
    "reasoning": (500, 10, 300),
}
LADDER_USERS = (1, 5, 10, 20, 50)


def _service_s() -> float:
    """Mean service time of the equal five-type mix, in seconds."""
    times = [(ttft + (tokens - 1) * itl) / 1000 for ttft, itl, tokens in TIMINGS.values()]
    return sum(times) / len(times)


def _run(out: Path, name: str, target_args: list[str], time_scale: float) -> Path:
    command = [*QI_LOAD, "run", "quick-ladder", "--out", str(out), "--run-id", name]
    command += [f"--target-arg={arg}" for arg in target_args]
    if time_scale != 1.0:
        command += ["--time-scale", str(time_scale)]
    print(f"$ {' '.join(command[2:])}", flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return out / name


def _summary(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    return data


def _first_saturated_without_neighbours(run_dir: Path) -> dict[str, Any]:
    """The first-saturated resource with the noisy-neighbour rule off: what the target's
    own readings say on a shared host."""
    run = load_run(run_dir)
    settings = DegradationSettings(host_busy_pct=101.0)
    env = run.manifest.get("environment")
    return dict(
        degradation(analyze_stages(run), env if isinstance(env, dict) else {}, settings)[
            "first_saturated"
        ]
    )


def _compare(base: Path, current: Path, out: Path) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [*QI_LOAD, "compare", str(base), str(current), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        check=False,
    )
    found = sorted(out.glob("*.json"))
    return done.returncode, json.loads(found[-1].read_text()) if found else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/verdicts"))
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    load_before = os.getloadavg()

    slots = 4
    service = _service_s()
    capacity_users = slots / service * (service + 1.0)
    crossing = next(u for u in LADDER_USERS if u > capacity_users)
    index = LADDER_USERS.index(crossing)
    allowed = set(LADDER_USERS[max(0, index - 1) : index + 2])

    base = _run(args.out, "slots4", ["--slots", str(slots)], args.time_scale)
    leak = _run(
        args.out, "slots4-leak", ["--slots", str(slots), "--leak-mb-per-min", "5"], args.time_scale
    )
    slow = _run(
        args.out, "slots4-slow", ["--slots", str(slots), "--slowdown", "1.4"], args.time_scale
    )

    cache = _run(
        args.out, "slots4-cache", ["--slots", str(slots), "--cache-mb", "40"], args.time_scale
    )

    s_base, s_leak = _summary(base), _summary(leak)
    cache_fit = next(fit for fit in _summary(cache)["leaks"] if fit["role"] == "target")
    knee = s_base["degradation"]["knee"]
    first = s_base["degradation"]["first_saturated"]
    own = first if first["resource"] != "host_cpu" else _first_saturated_without_neighbours(base)
    target_leaks = {fit["role"]: fit for fit in s_base["leaks"]}
    leak_fit = next(fit for fit in s_leak["leaks"] if fit["role"] == "target")
    same_code, same = _compare(base, leak, args.out / "compare-same")
    slow_code, slow_cmp = _compare(base, slow, args.out / "compare-slow")

    checks = {
        "knee within one stage of the capacity crossing": knee["users"] in allowed,
        "first saturated resource is the inference queue": own["resource"] == "inference_queue",
        "no leak reported without the leak knob": all(
            fit["status"] != "leak" for fit in target_leaks.values()
        ),
        "leak found at 5 MB/min +- 30 %": leak_fit["status"] == "leak"
        and leak_fit["slope_mb_per_min"] is not None
        and abs(leak_fit["slope_mb_per_min"] - 5.0) <= 0.3 * 5.0,  # 10^6 bytes on both sides
        "bounded cache: growth that levels off, not a leak": cache_fit["status"] != "leak"
        and cache_fit["pattern"] in ("levels_off", "follows_users"),
        "same timings: no critical regression (exit 0)": same_code == 0,
        "40 % slower agent: critical, exit 3": slow_code == 3,
    }
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "load_before": load_before,
        "cores": os.cpu_count(),
        "service_s": round(service, 3),
        "capacity_users": round(capacity_users, 1),
        "knee": knee,
        "first_saturated": first,
        "first_saturated_without_neighbours": own,
        "leak_slope_mb_per_min": leak_fit["slope_mb_per_min"],
        "leak_ci": [leak_fit["ci_low"], leak_fit["ci_high"]],
        "cache_fit": {k: cache_fit[k] for k in ("status", "pattern", "plateau_mb", "detail")},
        "compare_same_worst": same.get("worst"),
        "compare_slow_worst": slow_cmp.get("worst"),
        "checks": checks,
    }
    print(json.dumps(result, indent=2, default=str))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
