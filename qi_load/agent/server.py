"""Run the reference agent: bind, serve with uvicorn, connect its tools, report phases."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
import time
from collections.abc import Callable, Iterator

import uvicorn
from uvicorn.logging import AccessFormatter

from qi_load.agent.app import build_app
from qi_load.agent.config import TargetConfig
from qi_load.agent.connection import ConnectionLimits, guarded_protocol
from qi_load.agent.listener import (
    bind,
    connection_capacity,
    install_exception_handler,
    raise_fd_limit,
)
from qi_load.agent.mcp_client import McpToolCaller
from qi_load.agent.mcp_server import build_mcp_server, mcp_asgi_app
from qi_load.agent.service import Service
from qi_load.process import parent_watch

__all__ = ["SHUTDOWN_GRACE_S", "base_url", "serve"]

SHUTDOWN_GRACE_S = 5.0
PhaseReporter = Callable[[str, float], None]


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: we stop it ourselves after closing the tools.

    uvicorn re-raises a captured SIGTERM after shutdown, which would end the process with
    -15 instead of a clean exit 0.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def base_url(host: str, port: int) -> str:
    """The URL clients on this machine use (a wildcard bind is reached over loopback)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _self_check(url: str) -> None:
    """GET /ready over a real connection: ready means a client can be served."""
    host, _, port = url.removeprefix("http://").rpartition(":")
    reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
    try:
        writer.write(
            b"GET /ready HTTP/1.1\r\nHost: " + host.encode() + b"\r\nConnection: close\r\n\r\n"
        )
        status = await reader.readline()
    finally:
        writer.close()
    if b" 200 " not in status:
        raise RuntimeError(f"self-check GET /ready answered {status.decode().strip()!r}")


def _log_access_on_stderr() -> None:
    """uvicorn's access log is INFO on stdout: the agent logs at WARNING, and its stdout
    carries only the QI_READY line (nobody reads it after that), so give it both its own."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False)
    )
    access = logging.getLogger("uvicorn.access")
    access.handlers = [handler]
    access.setLevel(logging.INFO)
    access.propagate = False


async def serve(config: TargetConfig, report: PhaseReporter) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit code."""
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parent = parent_watch.adopted_parent()
    # Exits the process by itself; the reference keeps the task from being collected.
    orphan_watch = (
        loop.create_task(parent_watch.watch(parent, "reference agent")) if parent else None
    )
    install_exception_handler(loop)
    capacity = connection_capacity(config.max_connections, raise_fd_limit())
    sock = bind(config.host, config.port)
    url = base_url(config.host, sock.getsockname()[1])
    tool_caller = McpToolCaller(f"{url}/mcp")
    service = Service(config, tool_caller)
    mcp_endpoint, mcp_manager = mcp_asgi_app(
        build_mcp_server(config.tool_ms * config.slowdown),
        config.host,
        max_sessions=config.mcp_max_sessions,
        session_idle_s=config.mcp_session_idle_s,
    )
    app = build_app(service, mcp_endpoint, mcp_manager)
    limits = ConnectionLimits(
        idle_s=config.idle_timeout_s,
        header_s=config.header_timeout_s,
        body_s=config.body_timeout_s,
        max_connections=capacity,
        on_close=lambda reason: service.metrics.connections_closed.labels(reason).inc(),
    )
    if capacity < config.max_connections:
        print(
            f"qi-load target: serving at most {capacity} connections "
            f"(the file descriptor limit leaves no more)",
            file=sys.stderr,
            flush=True,
        )
    server = _Server(
        uvicorn.Config(
            app,
            http=guarded_protocol(limits),
            ws="none",
            lifespan="on",
            log_level="warning",
            access_log=config.access_log,
            timeout_keep_alive=config.idle_timeout_s,  # type: ignore[arg-type]
            timeout_graceful_shutdown=int(SHUTDOWN_GRACE_S),
        )
    )
    if config.access_log:
        _log_access_on_stderr()  # after uvicorn.Config, which sets its loggers up
    serving = loop.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            serving.result()
            return 1
        await asyncio.sleep(0.002)
    await tool_caller.connect()
    report("agent_init", (time.perf_counter() - started) * 1000.0)

    started = time.perf_counter()
    # Everything built so far (the MCP SDK's many models, the app) lives until exit: keep it
    # out of the collector's way, or each full collection stalls every stream ~100 ms.
    # (No gc.collect() first: it would cost ~70 ms of start-up to reclaim almost nothing.)
    gc.freeze()
    service.ready = True
    await _self_check(url)
    report("ready", (time.perf_counter() - started) * 1000.0)
    print(f"QI_READY {url}", flush=True)

    stopping = loop.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    service.ready = False
    await tool_caller.close()
    server.should_exit = True
    await serving
    if orphan_watch is not None:
        orphan_watch.cancel()
    if service.tracer is not None:
        service.tracer.close()
    print("qi-load target: stopped", file=sys.stderr, flush=True)
    return 0
