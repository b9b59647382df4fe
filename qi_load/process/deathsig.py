"""Linux's parent-death signal: the kernel signals a child the moment its parent dies."""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable
from typing import Final

__all__ = ["SUPPORTED", "death_signal_preexec"]

_PR_SET_PDEATHSIG: Final = 1


def _load_prctl() -> Callable[[int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = (ctypes.c_int, ctypes.c_ulong)
    prctl.restype = ctypes.c_int
    return prctl


# Resolved here, in the parent: between fork and exec the child must not load libraries.
_PRCTL: Final = _load_prctl()
SUPPORTED: Final = _PRCTL is not None
"""False off Linux: children then rely on their parent-pid watch alone."""


def death_signal_preexec(signum: int) -> Callable[[], None] | None:
    """A `preexec_fn` that arms `signum` for when the spawning thread's process dies.

    Linux sends it when the *thread* that forked the child exits, so spawn from a thread
    that lives as long as the child (the main thread, or any gevent greenlet).
    """
    prctl = _PRCTL
    if prctl is None:
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signum)
        # The parent may have died between fork and prctl: then nobody will signal us.
        if os.getppid() != parent:
            os.kill(os.getpid(), signum)

    return arm
