"""The master's last write of a large run: its requests.parquet, in a child process."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from qi_load.process.child import spawn
from qi_load.record.rundir import COLUMNAR_MIN_BYTES, REQUESTS_CSV

__all__ = ["store_columnar"]

logger = logging.getLogger("qi_load")


def store_columnar(path: Path) -> None:
    """Copy a closed run's large ``requests.csv`` into ``requests.parquet`` and wait for it,
    so that the first report reads Parquet. pyarrow never loads in a Locust process: a child
    does the work (``python -m qi_load.record.columnar``)."""
    try:
        large = (path / REQUESTS_CSV).stat().st_size >= COLUMNAR_MIN_BYTES
    except OSError:
        return
    if not large:
        return
    command = [sys.executable, "-m", "qi_load.record.columnar", str(path)]
    code = spawn(command, name="columnar").popen.wait()  # dies with this process
    if code != 0:
        logger.warning("qi-load: %s kept as CSV only (exit %d): reports read it", path, code)
