"""A compute thread that runs flat out while any request is in flight, as llama.cpp's."""

from __future__ import annotations

import hashlib
import threading
from typing import Final

__all__ = ["ComputeThread"]

_CHUNK: Final = 1 << 20
"""Bytes hashed per step: hashlib releases the GIL for large buffers, so the spinning thread
costs the event loop almost nothing while it keeps one core busy."""


class ComputeThread:
    """One thread, one core: busy whenever ``active`` > 0, idle otherwise.

    llama-server's generation loop works this way: its compute thread runs at a full core
    while it generates, for one request or a batch of several, so its CPU is flat while
    throughput still grows with the users. A saturation analysis must not read that as a
    saturated CPU.
    """

    def __init__(self) -> None:
        self._active = 0
        self._lock = threading.Lock()
        self._busy = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="qi-compute", daemon=True)
        self._thread.start()

    def enter(self) -> None:
        with self._lock:
            self._active += 1
            self._busy.set()

    def leave(self) -> None:
        with self._lock:
            self._active -= 1
            if self._active <= 0:
                self._busy.clear()

    def stop(self) -> None:
        self._stopped = True
        self._busy.set()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        block = bytes(_CHUNK)
        while not self._stopped:
            self._busy.wait()
            while self._busy.is_set() and not self._stopped:
                hashlib.sha256(block).digest()
