"""Exercise qi_load.agent.loop in a process without gevent (the test suite patches select)."""

from __future__ import annotations

import asyncio
import json
import select
import socket
from typing import Any

from qi_load.agent.loop import new_event_loop


async def _sub_millisecond_waits() -> list[float | None]:
    """The timeouts select() receives while the loop sleeps 0.3 ms."""
    waits: list[float | None] = []
    real_select = select.select

    def recording_select(r: Any, w: Any, x: Any, timeout: float | None = None) -> Any:
        waits.append(timeout)
        return real_select(r, w, x, timeout)

    select.select = recording_select
    try:
        await asyncio.sleep(0.0003)
    finally:
        select.select = real_select
    return waits


async def _lateness() -> list[float]:
    loop = asyncio.get_running_loop()
    late = []
    for delay in (0.0002, 0.0009, 0.0015, 0.004):
        deadline = loop.time() + delay
        await asyncio.sleep(delay)
        late.append(loop.time() - deadline)
    return late


async def _exchange() -> str:
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair()
    left.setblocking(False)
    right.setblocking(False)
    try:
        # A far timer keeps a timeout pending: readiness must still wake the loop.
        far = loop.call_later(30.0, lambda: None)
        loop.call_later(0.01, right.send, b"token")
        data = await asyncio.wait_for(loop.sock_recv(left, 16), timeout=5.0)
        far.cancel()
        return data.decode()
    finally:
        left.close()
        right.close()


async def _probe() -> dict[str, Any]:
    return {
        "selector": type(asyncio.get_running_loop()._selector).__name__,  # type: ignore[attr-defined]
        "waits": await _sub_millisecond_waits(),
        "lateness": await _lateness(),
        "received": await _exchange(),
    }


if __name__ == "__main__":
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        print(json.dumps(runner.run(_probe())))
