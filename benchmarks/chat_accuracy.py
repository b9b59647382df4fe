"""TTFT and E2E accuracy of the chat client against a server whose timing is configured.

Starts the reference agent (``--server agent``, default) or the lean gevent server
(``--server lean``, benchmarks/sse_server.py) in a separate process with fixed timing
(TTFT 200 ms, 20 ms between tokens, 20 tokens, no jitter, ample slots), then runs
``--streams`` concurrent closed-loop streams from this process (gevent, as in a Locust
worker; starts spread over 1 s). Truth: TTFT = 200 ms, E2E = 200 + (tokens - 1) * 20 ms.

    python benchmarks/chat_accuracy.py [--streams 100] [--requests 5] [--server agent|lean]

With the lean server, the first token carries its send time (perf_counter is one clock for
all processes of a host), so the client's own delay (transport + reading + parsing) is
reported apart from the server's lateness.

Goal (issue 3): error <= 1 ms at p50 and <= 5 ms at p99 at 100 streams.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.request import urlopen  # noqa: E402

import gevent  # noqa: E402
import psutil  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _common import error_stats  # noqa: E402

from qi_load.agent.launch import spawn_target  # noqa: E402
from qi_load.generate.chat import ChatClient, ChatConfig  # noqa: E402

TTFT_MS, ITL_MS = 200.0, 20.0


def _lean_lateness(url: str) -> dict[str, float]:
    """The lean server's own first-token lateness (the server's share of the error)."""
    with urlopen(url + "/stats", timeout=10) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def measure(
    *, server: str, streams: int, requests: int, tokens: int, query_type: str
) -> dict[str, Any]:
    """Run the streams against a fresh server process and return the error statistics."""
    lean = target = None
    if server == "agent":
        timing = f"all={TTFT_MS},{ITL_MS},{tokens}"
        slots = ["--slots", str(streams * 2), "--queue-limit", "8192"]
        target = spawn_target([*slots, "--timing", timing, "--jitter", "0"])
        url, server_pid = target.url, target.pid
    else:
        lean = subprocess.Popen(
            [sys.executable, str(HERE / "sse_server.py")], stdout=subprocess.PIPE
        )
        assert lean.stdout is not None
        url, server_pid = lean.stdout.readline().decode().split()[1], lean.pid
    truth_e2e = TTFT_MS + (tokens - 1) * ITL_MS
    meta: dict[str, Any] = {"ttft_ms": TTFT_MS, "itl_ms": ITL_MS, "tokens": tokens}
    if lean is not None:
        meta["stamp"] = True
    messages = [{"role": "user", "content": "Write a Python function to sort a list"}]
    ttft_err: list[float] = []
    e2e_err: list[float] = []
    client_delay: list[float] = []
    request_delay: list[float] = []
    failures: list[str] = []
    events = 0
    clients = [ChatClient(ChatConfig(base_url=url)) for _ in range(streams)]

    def stream(i: int, n: int, measured: bool) -> None:
        nonlocal events
        gevent.sleep(random.uniform(0, 1.0))  # spread starts: no lockstep bursts
        for _ in range(n):
            r = clients[i].complete(messages, query_type=query_type, metadata=meta)
            if not r.ok or r.ttft_ms is None or r.e2e_ms is None:
                failures.append(r.error)
            elif measured:
                ttft_err.append(r.ttft_ms - TTFT_MS)
                e2e_err.append(r.e2e_ms - truth_e2e)
                if r.content.startswith("sent@") and r.t_first is not None:
                    sent, start = (float(w.split("@")[1]) for w in r.content.split()[:2])
                    client_delay.append((r.t_first - sent) * 1000)
                    request_delay.append((start - r.t_send) * 1000)  # type: ignore[operator]
                events += r.token_events

    gc_pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    gc_started = 0.0

    def on_gc(phase: str, info: dict[str, int]) -> None:
        # Collections stop every stream in the process: their pauses bound the accuracy.
        nonlocal gc_started
        if phase == "start":
            gc_started = time.perf_counter()
        else:
            gc_pauses[info["generation"]].append((time.perf_counter() - gc_started) * 1000)

    try:
        gevent.joinall([gevent.spawn(stream, i, 1, False) for i in range(streams)])
        gc.callbacks.append(on_gc)
        if lean is not None:
            _lean_lateness(url)  # forget the warm-up
        me, srv = psutil.Process(), psutil.Process(server_pid)
        me.cpu_percent()
        srv.cpu_percent()
        started = time.perf_counter()
        gevent.joinall([gevent.spawn(stream, i, requests, True) for i in range(streams)])
        elapsed = time.perf_counter() - started
        client_cpu, server_cpu = me.cpu_percent(), srv.cpu_percent()
        gc.callbacks.remove(on_gc)
        server_late = _lean_lateness(url) if lean is not None else None
    finally:
        for c in clients:
            c.close()
        if target is not None:
            target.stop()
            target.discard_log()
        if lean is not None:
            lean.kill()
            lean.wait()
            assert lean.stdout is not None
            lean.stdout.close()

    return {
        "server": server,
        "streams": streams,
        "tokens": tokens,
        "query_type": query_type,
        "n": len(ttft_err),
        "failures": len(failures),
        "ttft_err_ms": error_stats(ttft_err),
        "e2e_err_ms": error_stats(e2e_err),
        "lean_server_first_token_late_ms": server_late,
        "client_delay_after_server_send_ms": error_stats(client_delay),
        "request_delay_send_to_server_start_ms": error_stats(request_delay),
        "client_gc": {
            f"gen{g}": {"n": len(p), "max_ms": round(max(p), 2) if p else 0.0}
            for g, p in gc_pauses.items()
        },
        "events_per_s": round(events / elapsed),
        "client_cpu_percent": round(client_cpu, 1),
        "server_cpu_percent": round(server_cpu, 1),
        "elapsed_s": round(elapsed, 1),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--requests", type=int, default=5, help="per stream, after a warm-up")
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--server", choices=("agent", "lean"), default="agent")
    parser.add_argument(
        "--query-type",
        default="code_generation",
        help="agent query type (code_generation uses no tools: the timing is the model's alone)",
    )
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()}", file=sys.stderr)
    result = measure(
        server=args.server,
        streams=args.streams,
        requests=args.requests,
        tokens=args.tokens,
        query_type=args.query_type,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
