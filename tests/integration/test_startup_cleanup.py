"""`qi-load startup` never leaves a process behind: on timeout, Ctrl-C and SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from qi_cli import gone, qi_load_command

pytestmark = pytest.mark.integration

# A command that never becomes ready, with a child and an orphan: its middle process
# exits at once, so only the session still ties the orphan to the tree.
NEVER_READY = """
import os, subprocess, sys, time
from pathlib import Path
sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
child = subprocess.Popen(sleeper)
spawn = (
    "import subprocess, sys; "
    "print(subprocess.Popen(%r, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)"
    % (sleeper,)
)
middle = subprocess.run([sys.executable, "-c", spawn], capture_output=True, text=True)
orphan = int(middle.stdout)
Path(sys.argv[1]).write_text(f"{os.getpid()} {child.pid} {orphan}")
print("still starting ...", flush=True)
time.sleep(120)
"""


def _pids(path: Path, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        if path.exists() and path.read_text().count(" ") == 2:
            return [int(pid) for pid in path.read_text().split()]
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    raise AssertionError("the never-ready command did not start its processes")


@pytest.fixture
def started_pids() -> Iterator[list[int]]:
    """PIDs the test's command started; killed by PID if the code under test failed to."""
    pids: list[int] = []
    try:
        yield pids
    finally:
        for pid in pids:
            if not gone(pid):
                psutil.Process(pid).kill()


def _startup(tmp_path: Path, *options: str) -> list[str]:
    script = tmp_path / "never_ready.py"
    script.write_text(NEVER_READY)
    return qi_load_command(
        "startup",
        "-n",
        "3",
        "--out",
        str(tmp_path / "out"),
        *options,
        "--",
        sys.executable,
        str(script),
        str(tmp_path / "pids"),
    )


def test_timeout_is_a_clear_error_and_kills_the_tree(
    tmp_path: Path, started_pids: list[int]
) -> None:
    proc = subprocess.run(
        _startup(tmp_path, "--ready-log", "^NEVER$", "--timeout", "3"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    started_pids.extend(_pids(tmp_path / "pids", timeout=0))
    assert proc.returncode == 1
    assert "run 1:" in proc.stderr and "was not ready after 3 s" in proc.stderr
    assert "waiting for a line matching /^NEVER$/" in proc.stderr
    assert "still starting ..." in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert all(gone(pid) for pid in started_pids), started_pids
    assert not (tmp_path / "out" / "startup.json").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_kills_the_tree(
    tmp_path: Path, started_pids: list[int], signum: signal.Signals
) -> None:
    qi_load = subprocess.Popen(
        _startup(tmp_path, "--ready-url", "http://127.0.0.1:{port}/", "--timeout", "60"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started_pids.extend(_pids(tmp_path / "pids"))
        qi_load.send_signal(signum)
        _, stderr = qi_load.communicate(timeout=30)
    finally:
        if qi_load.poll() is None:
            qi_load.send_signal(signal.SIGINT)  # lets it clean up its tree, unlike SIGKILL
            try:
                qi_load.wait(10)
            except subprocess.TimeoutExpired:
                qi_load.kill()
                qi_load.wait()
    assert qi_load.returncode == 130, stderr
    assert "qi-load startup: interrupted" in stderr
    assert all(gone(pid) for pid in started_pids), started_pids
