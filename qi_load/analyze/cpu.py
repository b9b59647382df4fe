"""CPU attribution in plain numbers: share of the usable cores, cores taken by others."""

from __future__ import annotations

import math

__all__ = ["other_cores", "usable_share"]


def usable_share(cores: float, usable: float | None, cpu_percent: float) -> float:
    """Share (1 = all) of the cores the process may use: its affinity capped by its quota.

    Without a recorded ``usable`` (older run directories) the ceiling is one core, or the
    quota: ``cpu_percent`` / 100.
    """
    if usable is None or not math.isfinite(usable) or usable <= 0:
        return cpu_percent / 100.0
    return cores / usable


def other_cores(host_busy_pct: float, host_cores: float, sampled_cores: float) -> float | None:
    """Busy cores of the host that no sampled process used (``None``: core count unknown).

    ``host_busy_pct`` is machine-wide (100 = every core busy); what the sampled processes
    did not use went to other processes: a noisy neighbour when it is large.
    """
    if not host_cores or host_cores <= 0 or not math.isfinite(host_busy_pct):
        return None
    return max(0.0, host_busy_pct / 100.0 * host_cores - sampled_cores)
