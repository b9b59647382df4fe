"""The master's guard: undecodable messages skipped, strangers dropped, handler errors contained."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from locust.exception import RPCReceiveError
from locust.rpc import Message

from qi_load.generate.master_guard import guard_master
from qi_load.record.drops import DropCounter


class FakeServer:
    def __init__(self, incoming: list[Any]) -> None:
        self.incoming = incoming

    def recv_from_client(self) -> tuple[str, Message]:
        item = self.incoming.pop(0)
        if isinstance(item, BaseException):
            raise item
        result: tuple[str, Message] = item
        return result


class FakeRunner:
    def __init__(self, incoming: list[Any]) -> None:
        self.server = FakeServer(incoming)
        self.clients = {"w1": object()}
        self.handled: list[str] = []

    def handle_message(self, client_id: str, msg: Message) -> None:
        if msg.type == "heartbeat":
            msg.data["state"]  # Locust's own KeyError on a heartbeat without state
        self.handled.append(f"{msg.type}:{client_id}")


def _guarded(incoming: list[Any]) -> tuple[FakeRunner, DropCounter]:
    runner = FakeRunner(incoming)
    drops = DropCounter("worker port messages", logging.getLogger("test"))
    guard_master(runner, drops)  # type: ignore[arg-type]
    return runner, drops


def test_undecodable_messages_are_skipped_and_locusts_own_errors_pass() -> None:
    good = ("w1", Message("stats", {}, "w1"))
    runner, drops = _guarded([ValueError("deep"), TypeError("arity"), good, RPCReceiveError("x")])
    assert runner.server.recv_from_client() == good
    with pytest.raises(RPCReceiveError):  # Locust asks a known worker to reconnect
        runner.server.recv_from_client()
    assert drops.as_dict() == {"undecodable": 2}


def test_strangers_are_dropped_and_handler_errors_contained() -> None:
    runner, drops = _guarded([])
    runner.handle_message("w1", Message("stats", {}, "w1"))
    runner.handle_message("new", Message("client_ready", "2.47.0", "new"))
    runner.handle_message("rogue", Message("stats", {}, "rogue"))
    runner.handle_message("rogue", Message("stats", {}, "w1"))  # claims another's id
    runner.handle_message("w1", Message(["not", "a", "type"], {}, "w1"))
    runner.handle_message("w1", Message("heartbeat", {}, "w1"))
    assert runner.handled == ["stats:w1", "client_ready:new"]
    assert drops.as_dict() == {"handler_error": 1, "malformed": 1, "unknown_sender": 2}
