"""Locust's master survives any one message on its worker port and hears only its workers."""

from __future__ import annotations

from typing import Any, Final

from locust.exception import RPCError, RPCReceiveError, RPCSendError
from locust.rpc import Message
from locust.runners import MasterRunner

from qi_load.record.drops import DropCounter

__all__ = ["guard_master"]

_BEFORE_READY: Final = frozenset({"client_ready", "locustfile"})
"""What a worker sends before it is one of ``runner.clients``."""


def guard_master(runner: MasterRunner, drops: DropCounter) -> None:
    """Wrap the master's receive path: Locust lets one message end the run.

    Verified in locust/runners.py and rpc/zmqrpc.py: a message msgpack cannot decode
    (``StackError`` for deep nesting) escapes ``recv_from_client`` and kills the
    ``client_listener`` greenlet, and with it the run; any exception in ``handle_message``
    (a heartbeat without ``state``) does the same; and ``stats``, ``logs`` and custom
    messages are handled whoever sends them, under whatever ``node_id`` they claim. Here
    an undecodable message is skipped, a message whose ``node_id`` is not its connection's
    ZeroMQ identity or whose sender is not (yet) a worker is dropped, and a handler's
    exception costs its message only; each is counted in ``drops``.
    """
    server: Any = runner.server
    receive = server.recv_from_client
    handle = runner.handle_message

    def recv_from_client() -> tuple[str, Message]:
        while True:
            try:
                result: tuple[str, Message] = receive()
                return result
            except (RPCError, RPCReceiveError, RPCSendError):
                raise  # Locust's own handling: ask the worker to reconnect, or reset
            except Exception as exc:  # msgpack's errors share no base class
                drops.drop("undecodable", type(exc).__name__)

    def handle_message(client_id: str, msg: Message) -> None:
        node = str(msg.node_id)[:80]
        if not isinstance(msg.type, str):
            drops.drop("malformed", f"a message type that is no string from {node}")
            return
        kind = msg.type
        if msg.node_id != client_id or (
            client_id not in runner.clients and kind not in _BEFORE_READY
        ):
            drops.drop("unknown_sender", f"{kind[:40]} from {node}")
            return
        try:
            handle(client_id, msg)
        except Exception as exc:
            drops.drop("handler_error", f"{kind[:40]} from {node}: {exc!r}"[:200])

    server.recv_from_client = recv_from_client
    runner.handle_message = handle_message  # type: ignore[method-assign]
