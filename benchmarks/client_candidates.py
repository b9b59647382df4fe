"""Compare HTTP clients for SSE timing accuracy and CPU against a server with known timing.

Each candidate runs in its own process (gevent-patched, like a Locust worker) and opens
``--streams`` concurrent streams to ``benchmarks/sse_server.py`` (TTFT 200 ms, 20 ms
between events, 20 events). Streams start at random offsets (0-0.5 s) and
run back to back. TTFT error = measured TTFT - 200 ms. CPU is the candidate
process's user+system time per 1,000 events.

    python benchmarks/client_candidates.py [--streams 100 300] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TTFT_MS, ITL_MS, TOKENS = 200.0, 20.0, 20
CANDIDATES = (
    "qi_chat_client",
    "ghc_readline",
    "ghc_block_1k",
    "requests_iter_content",
    "httpx_iter_lines",
)
BODY = {
    "model": "sim",
    "stream": True,
    "messages": [{"role": "user", "content": "hi"}],
    "metadata": {"ttft_ms": TTFT_MS, "itl_ms": ITL_MS, "tokens": TOKENS, "pad": 60},
}


def _is_token(line: bytes) -> bool:
    return line.startswith(b"data:") and b'"content"' in line


def _server_lateness(url: str) -> dict[str, float]:
    from urllib.request import urlopen

    with urlopen(url + "/stats", timeout=10) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def worker(candidate: str, url: str, streams: int, rounds: int) -> dict[str, object]:
    from gevent import monkey

    monkey.patch_all()
    import time

    import gevent

    sys.path.insert(0, str(HERE.parent))
    payload = json.dumps(BODY).encode()
    errors: list[float] = []
    events = 0

    if candidate == "qi_chat_client":
        from qi_load.generate.chat import ChatClient, ChatConfig

        clients = [
            ChatClient(ChatConfig(base_url=url, send_query_type=False)) for _ in range(streams)
        ]

        def one(i: int) -> None:
            nonlocal events
            r = clients[i].complete(BODY["messages"], metadata=BODY["metadata"])  # type: ignore[arg-type]
            assert r.ok, r.error
            errors.append(r.ttft_ms - TTFT_MS)  # type: ignore[operator]
            events += r.token_events
    elif candidate.startswith("ghc_"):
        from geventhttpclient import HTTPClient

        host, port = url.split("//")[1].split(":")
        clients = [HTTPClient(host, int(port), concurrency=1) for _ in range(streams)]

        def one(i: int) -> None:
            nonlocal events
            t0 = time.perf_counter()
            resp = clients[i].request(
                "POST",
                "/v1/chat/completions",
                body=payload,
                headers={"Content-Type": "application/json"},
            )
            first = None
            if candidate == "ghc_readline":
                while line := resp.readline(b"\n"):
                    if first is None and _is_token(line):
                        first = time.perf_counter()
                    events += _is_token(line)
            else:
                buf = b""
                while block := resp.read(1024):
                    buf += block
                    if first is None and b'"content"' in buf:
                        first = time.perf_counter()
                    events += block.count(b'"content"')
            errors.append((first - t0) * 1000 - TTFT_MS)  # type: ignore[operator]
    elif candidate == "requests_iter_content":
        import requests

        sessions = [requests.Session() for _ in range(streams)]

        def one(i: int) -> None:
            nonlocal events
            t0 = time.perf_counter()
            with sessions[i].post(
                url + "/v1/chat/completions",
                data=payload,
                stream=True,
                headers={"Content-Type": "application/json"},
            ) as resp:
                first = None
                for block in resp.iter_content(None):
                    if first is None and b'"content"' in block:
                        first = time.perf_counter()
                    events += block.count(b'"content"')
            errors.append((first - t0) * 1000 - TTFT_MS)  # type: ignore[operator]
    elif candidate == "httpx_iter_lines":
        import httpx2

        clients = [httpx2.Client(timeout=30) for _ in range(streams)]

        def one(i: int) -> None:
            nonlocal events
            t0 = time.perf_counter()
            with clients[i].stream(
                "POST",
                url + "/v1/chat/completions",
                content=payload,
                headers={"Content-Type": "application/json"},
            ) as resp:
                first = None
                for line in resp.iter_lines():
                    if first is None and line.startswith("data:") and '"content"' in line:
                        first = time.perf_counter()
                    events += _is_token(line.encode())
            errors.append((first - t0) * 1000 - TTFT_MS)  # type: ignore[operator]
    else:
        raise SystemExit(f"unknown candidate {candidate}")

    import random

    def loop(i: int, n: int) -> None:
        # Staggered starts: streams spread over the inter-event period instead of lockstep
        # bursts, which would measure the server's and client's burst queueing instead.
        gevent.sleep(random.uniform(0, 0.5))
        for _ in range(n):
            one(i)

    # a warm-up request per stream opens the keep-alive connections; it is not measured
    gevent.joinall([gevent.spawn(loop, i, 1) for i in range(streams)], raise_error=True)
    errors.clear()
    events = 0
    cpu0 = os.times()
    gevent.joinall([gevent.spawn(loop, i, rounds) for i in range(streams)], raise_error=True)
    cpu1 = os.times()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    errors.sort()
    return {
        "candidate": candidate,
        "streams": streams,
        "n": len(errors),
        "ttft_err_p50_ms": round(errors[len(errors) // 2], 2),
        "ttft_err_p99_ms": round(errors[min(len(errors) - 1, int(len(errors) * 0.99))], 2),
        "cpu_s_per_1k_events": round(cpu / max(events, 1) * 1000, 4),
        "events": events,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.url, args.streams[0], args.rounds)))
        return
    server = subprocess.Popen([sys.executable, str(HERE / "sse_server.py")], stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().decode().split()[1]
        print(f"load: {os.getloadavg()}")
        for streams in args.streams:
            for candidate in args.candidates:
                _server_lateness(url)
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--worker",
                        candidate,
                        "--url",
                        url,
                        "--streams",
                        str(streams),
                        "--rounds",
                        str(args.rounds),
                    ],
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=False,
                )
                if out.returncode:
                    print(f"{candidate}: failed {out.stderr.strip()[-300:]}", flush=True)
                    continue
                row = json.loads(out.stdout)
                row["server_first_token_late_ms"] = _server_lateness(url)
                print(json.dumps(row), flush=True)
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
