"""Timing truth of the reference agent: client-observed TTFT and total time vs configured.

    python benchmarks/target_timing.py                 # start targets, measure 1 and 50 streams
    python benchmarks/target_timing.py --url URL --streams 50 --ttft 200 --itl 20 --tokens 20

The client is a lean asyncio raw-socket reader in its own process (no HTTP library buffering,
every event stamped when it arrives). With --url it measures one round and prints JSON
(used by tests/integration/test_agent_timing.py); without, it starts
`qi-load target --slots 200 --timing all=TTFT,ITL,TOKENS` and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import statistics
import sys
import time
from urllib.parse import urlsplit

_CONTENT = b'"delta":{"content":'


async def _stream(
    host: str, port: int, request: bytes, delay_s: float = 0.0
) -> tuple[float, list[float], float]:
    if delay_s:
        await asyncio.sleep(delay_s)
    reader, writer = await asyncio.open_connection(host, port)
    t_send = time.perf_counter()
    writer.write(request)
    body = b""
    seen = 0
    times: list[float] = []
    while True:
        data = await reader.read(65536)
        if not data:
            break
        stamp = time.perf_counter()
        body += data
        while (end := body.find(b"\n\n", seen)) >= 0:
            if _CONTENT in body[seen:end]:
                times.append(stamp)
            seen = end + 2
        if body.endswith(b"0\r\n\r\n") and b"data: [DONE]" in body:
            break
    t_done = time.perf_counter()
    writer.close()
    return t_send, times, t_done


async def measure(
    url: str, streams: int, stagger_ms: float = 0.0
) -> list[tuple[float, list[float], float]]:
    parts = urlsplit(url)
    payload = json.dumps(
        {
            "model": "qi",
            "messages": [{"role": "user", "content": "What is 2 + 2?"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + payload
    assert parts.hostname is not None and parts.port is not None
    await _stream(parts.hostname, parts.port, request)  # warm-up
    spacing = stagger_ms / 1000.0 / max(1, streams)
    return await asyncio.gather(
        *(_stream(parts.hostname, parts.port, request, i * spacing) for i in range(streams))
    )


def errors(
    results: list[tuple[float, list[float], float]], ttft: float, itl: float, tokens: int
) -> dict[str, list[float]]:
    """Per stream: TTFT error, total-time error and median inter-token gap (ms)."""
    out: dict[str, list[float]] = {"ttft_err_ms": [], "total_err_ms": [], "itl_ms": []}
    for t_send, times, t_done in results:
        if len(times) != tokens:
            raise SystemExit(f"expected {tokens} content events, got {len(times)}")
        out["ttft_err_ms"].append((times[0] - t_send) * 1000.0 - ttft)
        out["total_err_ms"].append((t_done - t_send) * 1000.0 - (ttft + (tokens - 1) * itl))
        gaps = [b - a for a, b in itertools.pairwise(times)]
        out["itl_ms"].append(statistics.median(gaps) * 1000.0 if gaps else 0.0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="measure this running target once and print JSON")
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--ttft", type=float, default=200.0)
    parser.add_argument("--itl", type=float, default=20.0)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="rounds per concurrency level")
    parser.add_argument(
        "--stagger-ms",
        type=float,
        default=None,
        help="spread the starts over this many ms (table: the third row, default 100)",
    )
    args = parser.parse_args()
    gc.disable()  # this process is the clock: no collector pauses while streams run
    if args.url:
        results = asyncio.run(measure(args.url, args.streams, args.stagger_ms or 0.0))
        print(json.dumps(errors(results, args.ttft, args.itl, args.tokens)))
        return 0

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from qi_load.agent.launch import start_target
    from qi_load.metrics.percentile import percentile

    timing = f"all={args.ttft},{args.itl},{args.tokens}"
    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")
    print(f"configured: TTFT {args.ttft} ms, ITL {args.itl} ms, {args.tokens} tokens")
    print("streams start     n   TTFT err p50/p95/max (ms)  total err p50/p95/max (ms)  ITL p50")
    stagger_ms = 100.0 if args.stagger_ms is None else args.stagger_ms
    rows = [(1, 0.0), (args.streams, 0.0), (args.streams, stagger_ms)]
    with start_target(["--slots", "400", "--timing", timing]) as target:
        for streams, stagger in rows:
            merged: dict[str, list[float]] = {"ttft_err_ms": [], "total_err_ms": [], "itl_ms": []}
            for _ in range(args.rounds):
                results = asyncio.run(measure(target.url, streams, stagger))
                for key, values in errors(results, args.ttft, args.itl, args.tokens).items():
                    merged[key] += values
                time.sleep(0.5)
            ttft, total = merged["ttft_err_ms"], merged["total_err_ms"]
            start = f"+{stagger:.0f}ms" if stagger else "same ms"
            print(
                f"{streams:7d} {start:8s} {len(ttft):4d}   "
                f"{percentile(ttft, 50):6.2f} {percentile(ttft, 95):6.2f} {max(ttft):6.2f}"
                f"        {percentile(total, 50):6.2f} {percentile(total, 95):6.2f}"
                f" {max(total):6.2f}        {statistics.median(merged['itl_ms']):6.2f}"
            )
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
