"""ZeroMQ CURVE keys for the sample port, derived from the shared ingest key."""

from __future__ import annotations

import hashlib
from typing import Any

import zmq
from zmq.utils import z85

__all__ = ["secure_client", "secure_server"]


def _pair(key: bytes, role: bytes) -> tuple[bytes, bytes]:
    """(public, secret) Z85 keys of ``role``: any 32 bytes make a Curve25519 secret key."""
    secret = z85.encode(hashlib.sha256(b"qi-load sample port/" + role + b"\0" + key).digest())
    return zmq.curve_public(secret), secret


def secure_server(socket: Any, key: bytes) -> None:
    """Make ``socket`` (before it binds) a CURVE server: only holders of ``key`` complete
    the handshake, so nobody else can put a single byte into its queues. The server's
    public key is itself derived from the secret: without a ZAP handler, knowing it is
    what lets a client in."""
    public, secret = _pair(key, b"server")
    socket.curve_server = True
    socket.curve_publickey = public
    socket.curve_secretkey = secret


def secure_client(socket: Any, key: bytes) -> None:
    """Make ``socket`` (before it connects) a CURVE client of ``secure_server``'s socket."""
    socket.curve_serverkey = _pair(key, b"server")[0]
    socket.curve_publickey, socket.curve_secretkey = _pair(key, b"client")
