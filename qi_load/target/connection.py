"""Reach a request's TCP connection from the app, to cut or reset it on purpose (faults)."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["TrackingH11Protocol", "abort_connection"]

_TRANSPORTS: dict[tuple[str, int], asyncio.Transport] = {}


class TrackingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol that also records each connection's transport by peer address.

    ASGI gives an app no handle on its socket; the fault knobs need one to send a TCP RST.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.client is not None:
            _TRANSPORTS[self.client] = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client is not None:
            _TRANSPORTS.pop(self.client, None)
        super().connection_lost(exc)


def abort_connection(scope: dict[str, Any], *, reset: bool) -> bool:
    """Close the request's connection now, with a TCP RST if `reset`; False if not found.

    Without `reset` the peer sees a clean FIN in the middle of the response body.
    """
    client = scope.get("client")
    transport = _TRANSPORTS.get(tuple(client)) if client else None
    if transport is None:
        return False
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger on with a zero timeout turns close() into an RST.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    return True
