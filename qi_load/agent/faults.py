"""Fault injection: which faults a request gets, the slow memory leak and the bounded cache."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from qi_load.agent.config import FaultKind, TargetConfig
from qi_load.units import MB

__all__ = [
    "CACHE_ENTRY_BYTES",
    "PAGE",
    "BoundedCache",
    "FaultPlanner",
    "InjectedFault",
    "Leak",
    "RequestFaults",
]

PAGE: Final = 4096
CACHE_ENTRY_BYTES: Final = MB // 2
"""What one request adds to the bounded cache (a prompt's state in a real server's cache)."""
InjectedFault = FaultKind | Literal["http_500"]
"""A per-request fault kind, or `http_500`: the JSON error that `--error-rate` injects."""


@dataclass(frozen=True)
class RequestFaults:
    """The faults one request suffers: at most one kind, plus possibly a latency spike."""

    kind: InjectedFault | None = None
    spike_ms: float = 0.0


class FaultPlanner:
    """Draws faults from the configured rates; an explicit `metadata.fault` always wins."""

    def __init__(self, config: TargetConfig, rng: random.Random) -> None:
        self._config = config
        self._rng = rng

    def draw(self, requested: FaultKind | None) -> RequestFaults:
        config = self._config
        spike = 0.0
        if config.spike_rate and self._rng.random() < config.spike_rate:
            spike = config.spike_ms * config.slowdown
        if requested is not None:
            return RequestFaults(kind=requested, spike_ms=spike)
        if config.error_rate and self._rng.random() < config.error_rate:
            return RequestFaults(kind="http_500", spike_ms=spike)
        if config.drop_rate and self._rng.random() < config.drop_rate:
            return RequestFaults(kind="reset", spike_ms=spike)
        return RequestFaults(spike_ms=spike)


def _touched(size: int) -> bytearray:
    """`size` bytes with every page written: untouched pages are lazily mapped and never
    show in RSS."""
    block = bytearray(size)
    block[::PAGE] = b"\x01" * len(range(0, size, PAGE))
    return block


class Leak:
    """Retains `mb_per_min` MB of memory per minute in one-second steps, whatever the load."""

    def __init__(self, mb_per_min: float, on_grow: Callable[[int], None]) -> None:
        self._bytes_per_s = mb_per_min * MB / 60.0
        self._on_grow = on_grow
        self._blocks: list[bytearray] = []
        self.retained = 0

    def grow(self, size: int) -> None:
        """Retain `size` more bytes, every page written."""
        if size <= 0:
            return
        self._blocks.append(_touched(size))
        self.retained += size
        self._on_grow(self.retained)

    async def run(self) -> None:
        """Leak until cancelled, one step per second of the event loop's clock."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            await asyncio.sleep(1.0)
            elapsed = loop.time() - started
            self.grow(int(self._bytes_per_s * elapsed) - self.retained)


class BoundedCache:
    """Grows by `CACHE_ENTRY_BYTES` per request up to `limit_mb` MB, then stays flat.

    Like llama-server's prompt cache (bounded by `--cache-ram`): memory that follows the
    traffic and levels off, which a leak analysis must not call a leak.
    """

    def __init__(self, limit_mb: float, on_grow: Callable[[int], None]) -> None:
        self._limit = int(limit_mb * MB)
        self._on_grow = on_grow
        self._entries: list[bytearray] = []
        self.retained = 0

    def add(self) -> None:
        """Keep one more request's entry while there is room; a full cache keeps its size."""
        size = min(CACHE_ENTRY_BYTES, self._limit - self.retained)
        if size <= 0:
            return
        self._entries.append(_touched(size))
        self.retained += size
        self._on_grow(self.retained)
