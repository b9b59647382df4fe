"""The app's view of a request's TCP connection: when its bytes arrived, a way to cut it,
and the deadlines that keep a client from holding it (idle, slow header, slow body)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from qi_load.agent.notice import Notice
from qi_load.agent.wire import error_body

__all__ = [
    "ARRIVAL_KEY",
    "ConnectionLimits",
    "Phase",
    "TrackingH11Protocol",
    "abort_connection",
    "arrival_time",
    "guarded_protocol",
]

Phase = Literal["idle", "header", "body"]
"""What a connection waits for from its client: a request, the rest of its head, its body."""

ARRIVAL_KEY = "qi_arrival"

_TRANSPORTS: dict[tuple[str, int], asyncio.Transport] = {}


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a client may keep us waiting in each phase, and how many may connect (the
    defaults are `TargetConfig`'s)."""

    idle_s: float
    header_s: float
    body_s: float
    max_connections: int
    on_close: Callable[[str], None]
    """Told why a connection was closed: idle, header_timeout, body_timeout, over_limit."""

    def timeout(self, phase: Phase) -> float:
        return {"idle": self.idle_s, "header": self.header_s, "body": self.body_s}[phase]


def _raw_response(status: str, message: str, code: str, extra: bytes = b"") -> bytes:
    body = error_body(message, "invalid_request_error", code)
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n"
        f"content-length: {len(body)}\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


class TrackingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol that also stamps each request's arrival and records transports.

    The arrival stamp is the event-loop time at which the request's bytes were read, before
    parsing and routing: when 50 requests land at once, the last handler starts tens of ms
    later, and timing the model from there would add that to every TTFT. ASGI gives an app
    no handle on its socket either; the fault knobs need one to send a TCP RST.

    It also keeps one deadline per connection, for the phase it is in: a connection with no
    request in progress is closed after `idle_s`; a request head must be complete `header_s`
    after its first byte (else 408), its body `body_s` after the head (else the connection
    is closed and the app sees the client gone). A slow drip of bytes does not extend them
    (slowloris). Once a request is read, the response takes as long as it takes. Beyond
    `max_connections` open connections a new one is answered 503 and closed.
    """

    limits: ClassVar[ConnectionLimits]
    """Set by `guarded_protocol`: uvicorn instantiates the class, it passes no arguments."""
    _refusals: ClassVar[Notice] = Notice()
    _deadline: asyncio.TimerHandle | None = None
    _deadline_phase: Phase | None = None

    def data_received(self, data: bytes) -> None:
        arrived = self.loop.time()
        previous = self.cycle
        super().data_received(data)
        if self.cycle is not None and self.cycle is not previous:
            self.cycle.scope["state"][ARRIVAL_KEY] = arrived
        self._update_deadline()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.client is not None:
            _TRANSPORTS[self.client] = transport
        if len(self.connections) > self.limits.max_connections:
            self._refuse()
            return
        self._update_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        # Only our own entry: a new connection may already reuse the peer's address.
        if self.client is not None and _TRANSPORTS.get(self.client) is self.transport:
            del _TRANSPORTS[self.client]
        self._cancel_deadline()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._update_deadline()

    def _phase(self) -> Phase | None:
        their = self.conn.their_state
        if their is h11.IDLE:
            return "header" if self.conn.trailing_data[0] else "idle"
        if their is h11.SEND_BODY:
            return "body"
        return None  # the request is read: the app answers at its own pace

    def _update_deadline(self) -> None:
        phase = self._phase()
        if phase == self._deadline_phase:
            return  # the same phase keeps its deadline, however many bytes trickle in
        self._cancel_deadline()
        self._deadline_phase = phase
        if phase is not None:
            self._deadline = self.loop.call_later(self.limits.timeout(phase), self._expired, phase)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, phase: Phase) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if phase == "header":
            seconds = self.limits.header_s
            self.transport.write(
                _raw_response(
                    "408 Request Timeout",
                    f"request head not complete within {seconds:g} s",
                    "request_timeout",
                )
            )
        self.transport.close()
        self.limits.on_close("idle" if phase == "idle" else f"{phase}_timeout")

    def _refuse(self) -> None:
        limit = self.limits.max_connections
        self._refusals.say(f"refusing connections: {limit} open (the limit, --max-connections)")
        self.transport.write(
            _raw_response(
                "503 Service Unavailable",
                f"too many open connections (the limit is {limit})",
                "too_many_connections",
                b"retry-after: 1\r\n",
            )
        )
        self.transport.close()
        self.limits.on_close("over_limit")


def guarded_protocol(limits: ConnectionLimits) -> type[TrackingH11Protocol]:
    """The protocol class uvicorn instantiates per connection, with these limits."""
    return type("GuardedH11Protocol", (TrackingH11Protocol,), {"limits": limits})


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
