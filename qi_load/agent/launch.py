"""Start `qi-load target` as a child process and learn its URL from the QI_READY line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from qi_load.errors import RunFailed
from qi_load.process.child import Child, spawn

__all__ = ["READY_PREFIX", "TargetProcess", "parse_phases", "spawn_target", "start_target"]

READY_PREFIX = "QI_READY "
_PHASE_LINE = re.compile(r"^QI_PHASE (\S+) ([0-9.]+)$", re.MULTILINE)


def parse_phases(stderr_text: str) -> dict[str, float]:
    """Startup phases (name -> ms) from the target's `QI_PHASE <phase> <ms>` stderr lines."""
    return {name: float(ms) for name, ms in _PHASE_LINE.findall(stderr_text)}


@dataclass
class TargetProcess:
    """A running reference agent started by this process; `stop()` ends it (SIGTERM first).

    It dies with this process, however that ends (see `qi_load.process.child.spawn`).
    """

    url: str
    child: Child
    stderr_path: Path
    ready_s: float = field(default=0.0)
    """Seconds from spawning the child to reading its QI_READY line."""
    owns_log: bool = field(default=False)
    """True when `stderr_path` is a temporary file that `discard_log()` may delete."""

    @property
    def pid(self) -> int:
        return self.child.pid

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.child.popen

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def phases(self) -> dict[str, float]:
        return parse_phases(self.stderr_text())

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait up to `timeout`, then SIGKILL; returns the exit code."""
        return self.child.stop(timeout)

    def discard_log(self) -> None:
        if self.owns_log:
            self.stderr_path.unlink(missing_ok=True)


def spawn_target(
    args: Sequence[str] = (),
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ready_timeout: float = 30.0,
    env: Mapping[str, str] | None = None,
    stderr_path: Path | None = None,
    python: str = sys.executable,
) -> TargetProcess:
    """Start the target, wait for QI_READY and return it running; raise RunFailed if it fails.

    stdout is a pipe read only up to the QI_READY line (the target writes nothing after it);
    stderr (phases, access logs) goes to `stderr_path` or a temporary file so it never blocks.
    """
    owns_log = stderr_path is None
    if stderr_path is None:
        handle, name = tempfile.mkstemp(prefix="qi-target-", suffix=".log")
        os.close(handle)
        stderr_path = Path(name)
    command = [python, "-m", "qi_load", "target", "--host", host, "--port", str(port), *args]
    started = time.monotonic()
    child = spawn(command, name="agent", output="ready", log=stderr_path, env=env)
    target = TargetProcess(url="", child=child, stderr_path=stderr_path, owns_log=owns_log)
    try:
        target.url = child.wait_ready(READY_PREFIX, ready_timeout)
    except (TimeoutError, EOFError) as exc:
        code = target.stop()
        reason = "timed out" if isinstance(exc, TimeoutError) else f"exited with {code}"
        tail = target.stderr_text().strip().splitlines()[-5:]
        raise RunFailed(
            f"target {' '.join(args)!r} {reason} before QI_READY: {' | '.join(tail)}"
        ) from None
    finally:
        if not target.url:
            target.discard_log()
    target.ready_s = time.monotonic() - started
    return target


@contextmanager
def start_target(
    args: Sequence[str] = (),
    *,
    ready_timeout: float = 30.0,
    env: Mapping[str, str] | None = None,
    stderr_path: Path | None = None,
) -> Iterator[TargetProcess]:
    """`with start_target(["--slots", "4"]) as t: ... t.url ...` — always stopped on exit."""
    target = spawn_target(args, ready_timeout=ready_timeout, env=env, stderr_path=stderr_path)
    try:
        yield target
    finally:
        target.stop()
        target.discard_log()
