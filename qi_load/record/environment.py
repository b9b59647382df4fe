"""Capture of the test conditions (hardware, software, load) stored with every run."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import TypedDict

import psutil

from qi_load import __version__

__all__ = ["EnvironmentInfo", "capture_environment", "cpu_model"]


class EnvironmentInfo(TypedDict):
    hostname: str
    cpu_model: str
    cores_logical: int
    cores_physical: int | None
    memory_bytes: int
    os: str
    python: str
    locust: str
    qi_load: str
    load_avg: tuple[float, float, float]
    cpu_percent_at_start: float


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, falling back to ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def capture_environment() -> EnvironmentInfo:
    """What the methodology asks to record with every result, including how quiet the host is."""
    return EnvironmentInfo(
        hostname=platform.node(),
        cpu_model=cpu_model(),
        cores_logical=psutil.cpu_count(logical=True) or 0,
        cores_physical=psutil.cpu_count(logical=False),
        memory_bytes=psutil.virtual_memory().total,
        os=f"{platform.system()} {platform.release()} ({platform.platform()})",
        python=sys.version.split()[0],
        locust=_version("locust"),
        qi_load=__version__,
        load_avg=os.getloadavg(),
        # A short blocking sample: quiet-host checks need the CPU now, not since boot.
        cpu_percent_at_start=psutil.cpu_percent(interval=0.2),
    )
