"""Limits on host samples from other processes: distinct series and samples per series."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from qi_load.record.drops import DropCounter
from qi_load.record.schema import HostSample
from qi_load.record.wire_check import WireError, checked_host_sample

__all__ = ["MAX_BATCH", "IngestLimits", "SampleGate", "worker_samples"]

log = logging.getLogger(__name__)

MAX_BATCH: Final = 100
"""Samples in one message at most (a sidecar sends one per process and interval)."""
_SeriesKey = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """What the master accepts from sidecars and workers; the defaults fit hundreds of
    watched processes sampled every 0.1 s, and bound a hostile sender's cost."""

    max_message_bytes: int = 256 * 1024
    """``ZMQ_MAXMSGSIZE`` of the sample port: a larger message costs its sender the connection."""
    max_messages_per_s: int = 50
    """Sample-port messages decoded per second; the rest wait in ZeroMQ (back-pressure)."""
    max_series: int = 256
    """Distinct (role, host, pid) series accepted from other processes in one run."""
    max_samples_per_series_per_s: int = 20
    """Samples of one series per second; the excess is dropped."""


class SampleGate:
    """Admits remote host samples within ``IngestLimits`` and counts what it drops."""

    def __init__(
        self, limits: IngestLimits | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or IngestLimits()
        self.drops = DropCounter("host samples", log)
        self._clock = clock
        self._series: dict[_SeriesKey, list[float]] = {}
        """Per series: [start of its current one-second window, samples in it]."""

    def admit(self, samples: Iterable[HostSample]) -> list[HostSample]:
        admitted = []
        now = self._clock()
        limits = self.limits
        for sample in samples:
            key = (sample.role, sample.host, sample.pid)
            window = self._series.get(key)
            if window is None:
                if len(self._series) >= limits.max_series:
                    self.drops.drop("series_cap", f"more than {limits.max_series} series")
                    continue
                window = self._series[key] = [now, 0]
            if now - window[0] >= 1.0:
                window[0], window[1] = now, 0
            if window[1] >= limits.max_samples_per_series_per_s:
                self.drops.drop("rate", f"pid {sample.pid} on {sample.host[:40]!r}")
                continue
            window[1] += 1
            admitted.append(sample)
        return admitted

    def admit_wire(self, items: Any, sender: str, *, max_items: int) -> list[HostSample]:
        """Samples of a worker's message (a list of wire dicts); a bad one drops the message."""
        if not isinstance(items, list) or len(items) > max_items:
            self.drops.drop("malformed", f"from {sender[:80]}")
            return []
        try:
            samples = [checked_host_sample(item) for item in items]
        except WireError as exc:
            self.drops.drop("invalid", f"from {sender[:80]}: {exc}")
            return []
        return self.admit(samples)

    def reset(self) -> None:
        """A new run: its own series and counts."""
        self._series.clear()
        self.drops.reset()


def worker_samples(gate: SampleGate, runner: Any, msg: Any, max_items: int) -> list[HostSample]:
    """Samples of a worker's ``qi_host_samples`` message: only from the runner's workers
    (Locust hands custom messages from any sender to their handler)."""
    if msg.node_id not in getattr(runner, "clients", ()):
        gate.drops.drop("unknown_sender", f"from {str(msg.node_id)[:80]}")
        return []
    data = msg.data if isinstance(msg.data, dict) else {}
    return gate.admit_wire(data.get("samples"), str(msg.node_id), max_items=max_items)
