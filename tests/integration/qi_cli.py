"""The qi-load CLI as a child process of an integration test, and whether a PID has gone."""

from __future__ import annotations

import subprocess
import sys

import psutil

__all__ = ["gone", "qi_load_command", "run_qi_load"]


def qi_load_command(*args: str) -> list[str]:
    """``python -m qi_load ARGS`` with this interpreter (the checkout under test)."""
    return [sys.executable, "-m", "qi_load", *args]


def run_qi_load(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``qi_load ARGS`` to the end, its output captured as text; never raises on exit."""
    return subprocess.run(qi_load_command(*args), capture_output=True, text=True, timeout=timeout)


def gone(pid: int) -> bool:
    """The process has exited (a zombie is dead; reaping it is its new parent's business)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
