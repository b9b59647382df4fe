"""A test server run as a child process until it prints ``QI_READY <url>``, killed afterwards."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["ready_server"]


@contextmanager
def ready_server(script: Path, *args: str) -> Iterator[str]:
    """Run ``python SCRIPT ARGS``; yields the URL from its first line, kills it on exit."""
    process = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert line.startswith("QI_READY "), line
        yield line.split()[1]
    finally:
        process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()
