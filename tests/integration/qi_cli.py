"""The qi-load CLI and its Locust file as child processes of an integration test, and whether
a PID has gone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil

__all__ = ["AGENT_LOCUSTFILE", "agent_locust_command", "gone", "qi_load_command", "run_qi_load"]

AGENT_LOCUSTFILE = Path(__file__).resolve().parents[2] / "locustfiles" / "agent.py"


def qi_load_command(*args: str) -> list[str]:
    """``python -m qi_load ARGS`` with this interpreter (the checkout under test)."""
    return [sys.executable, "-m", "qi_load", *args]


def run_qi_load(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``qi_load ARGS`` to the end, its output captured as text; never raises on exit."""
    return subprocess.run(qi_load_command(*args), capture_output=True, text=True, timeout=timeout)


def agent_locust_command(*args: str) -> list[str]:
    """Headless ``python -m locust`` on the packaged agent locustfile, with ARGS."""
    return [sys.executable, "-m", "locust", "-f", str(AGENT_LOCUSTFILE), "--headless", *args]


def gone(pid: int) -> bool:
    """The process has exited (a zombie is dead; reaping it is its new parent's business)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
