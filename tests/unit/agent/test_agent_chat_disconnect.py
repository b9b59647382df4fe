"""The per-request disconnect watcher leaves no reference cycle behind."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

from qi_load.agent.chat import _Disconnect


def test_a_stopped_watcher_is_freed_without_the_cycle_collector() -> None:
    async def request() -> weakref.ref[_Disconnect]:
        never = asyncio.Event()

        async def receive() -> dict[str, Any]:
            await never.wait()  # the client stays: the watcher is cancelled, as after a reply
            return {"type": "http.disconnect"}

        watcher = _Disconnect(receive)
        watcher.start()
        await asyncio.sleep(0)  # the watcher task is now waiting in receive()
        watcher.stop()
        for _ in range(3):  # let the cancellation run to its end
            await asyncio.sleep(0)
        return weakref.ref(watcher)

    gc.collect()
    gc.disable()
    try:
        ref = asyncio.run(request())
        # Reference counting alone must free it: a cycle would wait for a collector pass,
        # and those passes pause every stream of the agent.
        assert ref() is None
    finally:
        gc.enable()
