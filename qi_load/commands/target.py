"""`qi-load target`: run the reference agent service (the default system under test)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "run the reference agent: an OpenAI-compatible agent service with known timings"
DESCRIPTION = """\
Run the reference agent: OpenAI-compatible POST /v1/chat/completions (streaming and not),
GET /v1/models, /health, /ready, /metrics, and an MCP tool server at /mcp, with a simulated
model whose timing per query type and number of inference slots are set here, so that its
capacity is known: with S slots and service time T per request, S/T requests per second.

Prints `QI_PHASE <phase> <ms>` lines on stderr while starting and `QI_READY <url>` on stdout
once it serves (with --port 0 this is how a parent learns the port). SIGTERM stops it cleanly.

Timing per query type: --timing TYPE=TTFT_MS,ITL_MS,TOKENS (repeatable; TYPE may be `all`),
or a --profile YAML file with the same settings as the flags (underscored names) and
`timings: {TYPE: {ttft_ms, itl_ms, output_tokens}}`. Flags win over the profile.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--host", default=None, help="interface to bind (default 127.0.0.1)")
    add("--port", type=int, default=None, help="TCP port; 0 picks a free one (default 8000)")
    add("--profile", type=Path, default=None, help="YAML file of settings (flags win)")
    add("--model", default=None, help="model id served (default qi-reference-agent)")
    add("--slots", type=int, default=None, help="concurrent inference slots (default 8)")
    add("--queue-limit", type=int, default=None, help="waiting requests before 429 (default 128)")
    add(
        "--timing",
        action="append",
        default=[],
        metavar="TYPE=TTFT,ITL,TOKENS",
        help="timing of a query type in ms, ms and tokens (repeatable; TYPE may be `all`)",
    )
    add("--tool-ms", type=float, default=None, help="latency of each remote MCP tool (default 40)")
    add("--jitter", type=float, default=None, help="timings vary by +-this fraction (default 0)")
    add("--seed", type=int, default=None, help="seed of jitter and fault draws (default 0)")
    add("--error-rate", type=float, default=None, help="share of requests answered HTTP 500")
    add("--spike-rate", type=float, default=None, help="share of requests with a latency spike")
    add("--spike-ms", type=float, default=None, help="extra TTFT of a spike (default 1000)")
    add("--drop-rate", type=float, default=None, help="share of connections reset mid-stream")
    add("--leak-mb-per-min", type=float, default=None, help="MB retained per minute (a leak)")
    add(
        "--cache-mb",
        type=float,
        default=None,
        help="a bounded cache: each request retains 0.5 MB up to this many MB",
    )
    add(
        "--compute-thread",
        action="store_true",
        default=None,
        help="burn one core in a thread while any request is in flight (as llama.cpp)",
    )
    add("--slowdown", type=float, default=None, help="multiply every simulated timing")
    add(
        "--wrong-answers",
        action="store_true",
        default=None,
        help="answer incorrectly, so quality checks fail",
    )
    add("--access-log", action="store_true", default=None, help="log each request on stderr")
    add(
        "--idle-timeout",
        dest="idle_timeout_s",
        type=float,
        default=None,
        help="close a connection that sends no request for this many s (default 5)",
    )
    add(
        "--header-timeout",
        dest="header_timeout_s",
        type=float,
        default=None,
        help="a request head must be complete this many s after its first byte (default 10)",
    )
    add(
        "--body-timeout",
        dest="body_timeout_s",
        type=float,
        default=None,
        help="a request body must be complete this many s after its head (default 30)",
    )
    add(
        "--max-connections",
        type=int,
        default=None,
        help="open connections served at once (min 16); more are answered 503 (default 10000)",
    )
    add(
        "--mcp-max-sessions",
        type=int,
        default=None,
        help="open MCP sessions (2025 protocol handshakes); more are refused (default 1000)",
    )
    add(
        "--mcp-session-idle",
        dest="mcp_session_idle_s",
        type=float,
        default=None,
        help="end an MCP session idle for this many s (default 600)",
    )
    add(
        "--slow-tool",
        action="append",
        default=[],
        metavar="NAME=MS",
        help="tool NAME waits MS per call of it in flight: it slows with concurrency (repeatable)",
    )
    add(
        "--otlp-endpoint",
        default=None,
        metavar="URL",
        help="export the agent's spans over OTLP/HTTP to URL (e.g. http://127.0.0.1:4318)",
    )


def _phase(name: str, milliseconds: float) -> None:
    import sys

    print(f"QI_PHASE {name} {milliseconds:.1f}", file=sys.stderr, flush=True)


def _process_age_ms() -> float:
    """Milliseconds since the OS started this process (interpreter start-up and CLI parsing).

    Both clocks count from boot, so this is exact to the kernel's 10 ms tick; psutil's
    create_time() is anchored to a whole-second boot time and can be off by up to 1 s.
    """
    import os

    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            # Field 22 (starttime, in clock ticks since boot) follows the ")" of the name.
            start_ticks = int(stat.read().rpartition(")")[2].split()[19])
        ticks = os.sysconf("SC_CLK_TCK")
        return max(0.0, (time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / ticks) * 1000.0)
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def run(args: argparse.Namespace) -> int:
    _phase("process_init", _process_age_ms())

    started = time.perf_counter()
    import asyncio

    from qi_load.agent.config import build_config
    from qi_load.agent.loop import new_event_loop
    from qi_load.agent.server import serve

    _phase("module_loading", (time.perf_counter() - started) * 1000.0)

    started = time.perf_counter()
    names = (
        "host", "port", "model", "slots", "queue_limit", "tool_ms", "jitter", "seed",
        "error_rate", "spike_rate", "spike_ms", "drop_rate", "leak_mb_per_min", "cache_mb",
        "compute_thread", "slowdown",
        "wrong_answers", "access_log", "idle_timeout_s", "header_timeout_s", "body_timeout_s",
        "max_connections", "mcp_max_sessions", "mcp_session_idle_s", "otlp_endpoint",
    )  # fmt: skip
    config = build_config(
        {name: getattr(args, name) for name in names},
        profile=args.profile,
        timing_flags=args.timing,
        slow_tool_flags=args.slow_tool,
    )
    _phase("configuration", (time.perf_counter() - started) * 1000.0)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(serve(config, _phase))
