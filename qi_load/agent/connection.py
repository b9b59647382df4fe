"""The app's view of a request's TCP connection: when its bytes arrived, and a way to cut it."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["ARRIVAL_KEY", "TrackingH11Protocol", "abort_connection", "arrival_time"]

ARRIVAL_KEY = "qi_arrival"

_TRANSPORTS: dict[tuple[str, int], asyncio.Transport] = {}


class TrackingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol that also stamps each request's arrival and records transports.

    The arrival stamp is the event-loop time at which the request's bytes were read, before
    parsing and routing: when 50 requests land at once, the last handler starts tens of ms
    later, and timing the model from there would add that to every TTFT. ASGI gives an app
    no handle on its socket either; the fault knobs need one to send a TCP RST.
    """

    def data_received(self, data: bytes) -> None:
        arrived = self.loop.time()
        previous = self.cycle
        super().data_received(data)
        if self.cycle is not None and self.cycle is not previous:
            self.cycle.scope["state"][ARRIVAL_KEY] = arrived

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.client is not None:
            _TRANSPORTS[self.client] = transport

    def connection_lost(self, exc: Exception | None) -> None:
        # Only our own entry: a new connection may already reuse the peer's address.
        if self.client is not None and _TRANSPORTS.get(self.client) is self.transport:
            del _TRANSPORTS[self.client]
        super().connection_lost(exc)


def arrival_time(scope: dict[str, Any], default: float) -> float:
    """Event-loop time at which the request's bytes arrived (`default` if not stamped)."""
    arrived = scope.get("state", {}).get(ARRIVAL_KEY)
    return arrived if isinstance(arrived, float) else default


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
