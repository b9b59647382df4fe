"""Timing truth: clients see the configured TTFT and total time, and slots bound throughput."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import gevent
import pytest
from agent_http import chat_body, request

from qi_load.agent.launch import start_target

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "target_timing.py"
TTFT_MS, ITL_MS, TOKENS = 200.0, 40.0, 12


def _tolerance_ms(base_ms: float) -> float:
    """`base_ms` on a quiet machine, widened in proportion to CPU oversubscription.

    The shared 2-core test machine often runs at a load of 3-6: then every process waits for
    a core, client and server alike, and no stream can be on time. The quiet-machine numbers
    are measured by benchmarks/target_timing.py and published in docs/performance.md.
    """
    load_per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    return base_ms * max(1.0, load_per_core)


def _measure(url: str, streams: int, stagger_ms: float) -> dict[str, list[float]]:
    # A lean asyncio reader in its own process: this gevent-patched pytest process would add
    # its own scheduling to what we measure.
    command = [sys.executable, str(BENCH), "--url", url, "--streams", str(streams)]
    command += ["--ttft", str(TTFT_MS), "--itl", str(ITL_MS), "--tokens", str(TOKENS)]
    command += ["--stagger-ms", str(stagger_ms)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, list[float]] = json.loads(done.stdout)
    return result


def _verdict(result: dict[str, list[float]], base_ms: float) -> str:
    """Empty if the medians hold (single outliers on a shared machine may not), else why."""
    limit = _tolerance_ms(base_ms)
    ttft = statistics.median(result["ttft_err_ms"])
    total = statistics.median(result["total_err_ms"])
    itl = statistics.median(result["itl_ms"])
    if -0.5 < ttft < limit and -0.5 < total < limit and abs(itl - ITL_MS) < limit:
        return ""
    return f"medians TTFT {ttft:+.1f} total {total:+.1f} ITL {itl:.1f} ms, limit {limit:.1f} ms"


@pytest.mark.parametrize(
    ("streams", "stagger_ms", "base_ms"),
    [
        (1, 0.0, 5.0),
        # 50 streams started over 100 ms: all 50 run concurrently for most of their life.
        (50, 100.0, 5.0),
        # 50 requests landing in the same millisecond are admitted one after the other
        # (accept, parse: ~0.2 ms each on this VM) and every tick 50 events are written one
        # after the other: the median stream waits for half of that.
        (50, 0.0, 20.0),
    ],
)
def test_ttft_and_total_are_true(streams: int, stagger_ms: float, base_ms: float) -> None:
    # Best of three rounds: a neighbour's CPU burst can spoil one round, while a real timing
    # fault (Nagle, drift, a GC pause on every stream) spoils all of them.
    failures = []
    with start_target(["--slots", "200", "--timing", f"all={TTFT_MS},{ITL_MS},{TOKENS}"]) as t:
        for _ in range(3):
            rounds = [_measure(t.url, streams, stagger_ms) for _ in range(5 if streams == 1 else 1)]
            merged = {key: [v for r in rounds for v in r[key]] for key in rounds[0]}
            failure = _verdict(merged, base_ms)
            if not failure:
                return
            failures.append(failure)
    pytest.fail("; ".join(failures))


def test_throughput_under_saturation_is_slots_over_service_time() -> None:
    # S = 100 + 10 * 10 = 200 ms per request, 4 slots -> 20 requests/s.
    slots, service_s = 4, 0.200
    body = chat_body(metadata={"query_type": "simple"})
    with start_target(["--slots", str(slots), "--timing", "all=100,10,11"]) as t:
        done: list[float] = []
        deadline = time.perf_counter() + 3.5

        def user() -> None:
            while time.perf_counter() < deadline:
                response = request(t.url, body=body)
                assert response.status == 200, response.body
                done.append(response.t_done)

        started = time.perf_counter()
        gevent.joinall([gevent.spawn(user) for _ in range(12)], timeout=15, raise_error=True)
        window = [s for s in done if started + 1.0 <= s < started + 3.0]
        throughput = len(window) / 2.0
        assert throughput == pytest.approx(slots / service_s, rel=0.10), throughput
        metrics = request(t.url, "GET", "/metrics").body.decode()
        assert "qi_target_slots 4.0" in metrics
