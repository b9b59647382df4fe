"""The reference agent's ASGI app: OpenAI routes, health, metrics and the MCP endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from qi_load.agent.chat import ChatCompletions
from qi_load.agent.faults import Leak
from qi_load.agent.metrics import CONTENT_TYPE
from qi_load.agent.service import Service

__all__ = ["build_app"]

_CODES = {404: "not_found", 405: "method_not_allowed"}


def _error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> Response:
    error_type = "server_error" if status >= 500 else "invalid_request_error"
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = f"{request.method} {request.url.path}: {exc.detail}"
    code = _CODES.get(exc.status_code, "http_error")
    return _error(exc.status_code, message, code, dict(exc.headers or {}))


async def _server_error(request: Request, exc: Exception) -> Response:
    message = f"{request.method} {request.url.path}: internal error ({type(exc).__name__})"
    return _error(500, message, "internal_error")


def build_app(service: Service, mcp_endpoint: ASGIApp, mcp_manager: Any) -> Starlette:
    """The app; `mcp_manager.run()` (the MCP session manager) runs for the app's lifetime."""
    created = int(time.time())

    async def models(request: Request) -> Response:
        del request
        model = {
            "id": service.config.model,
            "object": "model",
            "created": created,
            "owned_by": "qi-load",
        }
        return JSONResponse({"object": "list", "data": [model]})

    async def health(request: Request) -> Response:
        del request
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        del request
        if service.ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "starting"}, status_code=503)

    async def metrics(request: Request) -> Response:
        del request
        service.update_gauges()
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        del app
        leak_task = None
        if service.config.leak_mb_per_min > 0:
            leak = Leak(service.config.leak_mb_per_min, service.metrics.leaked_bytes.set)
            leak_task = asyncio.get_running_loop().create_task(leak.run())
        async with mcp_manager.run():
            try:
                yield
            finally:
                if leak_task is not None:
                    leak_task.cancel()
                if service.compute is not None:
                    service.compute.stop()

    routes = [
        Route("/v1/chat/completions", ChatCompletions(service), methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/mcp", mcp_endpoint),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
