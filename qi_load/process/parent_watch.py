"""The child's side: notice that the qi-load process that started us is gone, and leave.

The parent-death signal covers Linux; this watch covers the rest (and a parent whose
spawning thread ended first): a child started by `qi_load.process.child.spawn` learns its
parent's pid from the environment and polls `getppid()`, which changes when it is orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any, Final, NoReturn

from qi_load.cli import EXIT_ERROR

__all__ = ["PARENT_PID_ENV", "POLL_S", "adopted_parent", "leave", "parent_gone", "poll", "watch"]

PARENT_PID_ENV: Final = "QI_LOAD_PARENT_PID"
POLL_S: Final = 1.0


def adopted_parent() -> int | None:
    """The pid of the qi-load parent that spawned this process, or None.

    Removed from the environment as it is read: our own children have another parent.
    """
    value = os.environ.pop(PARENT_PID_ENV, "")
    return int(value) if value.isdigit() and int(value) > 1 else None


def parent_gone(parent: int) -> bool:
    return os.getppid() != parent


def leave(who: str) -> NoReturn:
    """Exit now, with one line: nobody reads our output or waits for our result any more."""
    with contextlib.suppress(OSError):  # the pipe to the dead parent
        print(f"qi-load: {who}: the process that started it is gone; exiting", file=sys.stderr)
        sys.stderr.flush()
    os._exit(EXIT_ERROR)


def poll(parent: int, who: str, sleep: Callable[[float], Any]) -> NoReturn:
    """Check every POLL_S seconds with `sleep` (gevent.sleep in a Locust process)."""
    while True:
        sleep(POLL_S)
        if parent_gone(parent):
            leave(who)


async def watch(parent: int, who: str) -> NoReturn:
    """The asyncio form of `poll` (the reference agent)."""
    while True:
        await asyncio.sleep(POLL_S)
        if parent_gone(parent):
            leave(who)
